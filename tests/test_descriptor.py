"""Descriptor (random CNN, VGG19 loading) and the feature/style losses."""

from __future__ import annotations

import math

import pytest
import torch

from diffproxy.descriptor import (VGG19, VGG19_LAYERS, DescriptorUnavailable, RandomCNN,
                                  get_descriptor, load_vgg19, to_gray3)
from diffproxy.losses import DescriptorLoss, gram

# The random descriptor's weights come from numpy's frozen legacy stream: this value may only
# change when the architecture or seed is changed on purpose (results record it).
RANDOM_CNN_HASH = "b2cf5d55c01e691d"


def _stripes(period: float, res: int = 64, phase: float = 0.0) -> torch.Tensor:
    x = (torch.arange(res) + 0.5) / res
    s = 0.5 + 0.4 * torch.sin(2 * math.pi * (x / period + phase))
    return s.view(1, 1, 1, res).expand(1, 3, res, res).contiguous()


def test_random_cnn_deterministic():
    a, b = RandomCNN(), RandomCNN()
    assert a.weights_hash == b.weights_hash == RANDOM_CNN_HASH
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    fa, fb = a(x), b(x)
    assert set(fa) == set(a.style_layers) | set(a.feature_layers)
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert fa["b1"].shape == (2, 16, 48, 48) and fa["b5"].shape == (2, 256, 3, 3)
    assert RandomCNN(seed=1).weights_hash != RANDOM_CNN_HASH
    assert all(not p.requires_grad for p in a.parameters())


def test_get_descriptor_offline_default_is_random(monkeypatch, tmp_path):
    monkeypatch.delenv("DIFFPROXY_VGG19", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    d = get_descriptor("auto")
    assert d.name == "random_cnn" and d.info["weights_hash"] == RANDOM_CNN_HASH
    with pytest.raises(DescriptorUnavailable, match="not found"):
        get_descriptor("vgg19", path=None)
    with pytest.raises(ValueError, match="descriptor must be"):
        get_descriptor("resnet")


def _fake_vgg_state_dict() -> dict[str, torch.Tensor]:
    """A random state dict in torchvision's key format (features.{i}.weight/bias + classifier)."""
    g = torch.Generator().manual_seed(0)
    sd, in_ch, idx = {}, 3, 0
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"):
        if v == "M":
            idx += 1
            continue
        sd[f"features.{idx}.weight"] = torch.randn(v, in_ch, 3, 3, generator=g) * (2 / (9 * in_ch)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.01
        in_ch, idx = v, idx + 2
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # ignored, as in the real file (smaller here)
    return sd


def test_vgg19_loads_torchvision_state_dict(tmp_path, monkeypatch):
    sd = _fake_vgg_state_dict()
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(sd, path)
    monkeypatch.setenv("DIFFPROXY_VGG19", str(path))
    d = load_vgg19()
    assert isinstance(d, VGG19) and d.name == "vgg19"
    # the loaded conv weights are the file's (first conv and relu5_1's conv)
    assert torch.equal(d.blocks[0].weight, sd["features.0.weight"])
    assert torch.equal(d.blocks[VGG19_LAYERS["conv5_1"]].weight, sd["features.28.weight"])
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in d.blocks)  # average pooling
    f = d(torch.rand(1, 3, 32, 32))
    assert f["relu1_1"].shape == (1, 64, 32, 32) and f["relu5_1"].shape == (1, 512, 2, 2)
    # same file, same hash; a different file, a different hash
    assert load_vgg19(path).weights_hash == d.weights_hash
    sd["features.0.bias"] = sd["features.0.bias"] + 1
    assert VGG19(sd).weights_hash != d.weights_hash


def test_vgg19_refuses_wrong_state_dict(tmp_path):
    sd = _fake_vgg_state_dict()
    del sd["features.2.weight"]
    sd["features.5.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(ValueError, match=r"missing features\.2\.weight.*features\.5\.weight has shape"):
        VGG19(sd)
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(DescriptorUnavailable, match="could not be read"):
        load_vgg19(bad)
    with pytest.raises(DescriptorUnavailable, match="no file"):
        load_vgg19(tmp_path / "missing.pth")


def test_gram_and_gray():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    assert torch.allclose(gram(f), torch.tensor([[[2.5, 5.5], [5.5, 12.5]]]))
    g = to_gray3(torch.rand(2, 3, 16, 16))
    assert g.shape == (2, 3, 16, 16) and torch.equal(g[:, 0], g[:, 2])


def test_losses_zero_at_target_and_rank_similarity():
    loss = DescriptorLoss(RandomCNN(), scales=(64, 32))
    target = _stripes(1 / 8)
    t = loss.target(target)
    same = loss.evaluate(target, t)
    assert same["feature"] < 1e-6 and same["style"] < 1e-6
    shifted = loss.evaluate(_stripes(1 / 8, phase=0.5), t)  # same texture, moved
    other = loss.evaluate(_stripes(1 / 2), t)  # other scale
    # style ignores the shift much more than the feature loss does; both see the scale change
    assert shifted["style"] < 0.25 * other["style"]
    assert shifted["feature"] > 10 * shifted["style"]
    assert other["feature"] > shifted["feature"] * 0.5


def test_loss_batched_and_differentiable():
    loss = DescriptorLoss(RandomCNN(), scales=(32,), gray=True)
    t = loss.target(_stripes(1 / 4, 32))
    x = torch.rand(3, 3, 32, 32, requires_grad=True)
    total, parts = loss(x, t, w_feature=1.0, w_style=0.05)
    assert total.shape == (3,) and torch.allclose(total, parts["feature"] + 0.05 * parts["style"])
    total.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="w_feature, w_style"):
        loss(x, t, w_feature=0, w_style=0)
    with pytest.raises(ValueError, match="scales"):
        DescriptorLoss(RandomCNN(), scales=(8,))


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 4, 9, 14)])
def test_pool2_is_average_pooling_with_its_gradient(shape):
    from diffproxy.descriptor import pool2
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    g = torch.rand(*shape[:2], shape[2] // 2, shape[3] // 2, generator=torch.Generator().manual_seed(1))
    y = pool2(x)
    assert torch.allclose(y, torch.nn.functional.avg_pool2d(x, 2), atol=1e-6)
    (gx,) = torch.autograd.grad((y * g).sum(), x)
    (want,) = torch.autograd.grad((torch.nn.functional.avg_pool2d(x, 2) * g).sum(), x)
    assert torch.allclose(gx, want, atol=1e-7)
    assert torch.autograd.gradcheck(pool2, (x.detach().double().requires_grad_(),))


def test_resize_means_of_blocks():
    from diffproxy.descriptor import resize
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    for size in (48, 24, 32, 12, 40):  # factors 2, 4 (pooled), 3, 8 (pooled, then area), 2.4 (area)
        want = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
        assert torch.allclose(resize(x, size), want, atol=1e-6), size


# --- the VGG19 download: offline, altered, or holding more than tensors ----------------------
RAN: list[str] = []


def _run_on_load(tag: str) -> str:
    RAN.append(tag)
    return tag


class _Payload:
    """Unpickling this calls :func:`_run_on_load`: what a full ``torch.load`` of a hostile
    checkpoint would do, and ``weights_only=True`` must refuse."""

    def __reduce__(self):
        return (_run_on_load, ("code ran while loading",))


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty hub cache, no $DIFFPROXY_VGG19, no proxy (the test servers are on 127.0.0.1)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("DIFFPROXY_VGG19", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    RAN.clear()
    return tmp_path / "hub" / "checkpoints"


@pytest.fixture
def serve(monkeypatch):
    """``serve(data)``: a real HTTP server on 127.0.0.1 that answers ``data`` for the VGG19 file;
    VGG19_URL points at it."""
    import http.server
    import threading

    servers = []

    def start(data: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        monkeypatch.setattr("diffproxy.descriptor.VGG19_URL",
                            f"http://127.0.0.1:{srv.server_address[1]}/vgg19-dcbb9e9d.pth")

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _saved(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_vgg19_download_offline_says_what_to_do(offline_hub, monkeypatch):
    # port 9 (discard) on this machine: a real connection, refused
    monkeypatch.setattr("diffproxy.descriptor.VGG19_URL", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(DescriptorUnavailable) as e:
        load_vgg19(allow_download=True)
    msg = str(e.value)
    assert msg.startswith("could not download the VGG19 weights (connection refused); ")
    assert f"put torchvision's vgg19-dcbb9e9d.pth in {offline_hub} or pass its path via $DIFFPROXY_VGG19" in msg
    assert msg.endswith("or use --descriptor random")
    with pytest.raises(DescriptorUnavailable, match="could not download"):
        get_descriptor("auto", allow_download=True)


def test_vgg19_download_with_another_hash_is_refused_and_deleted(offline_hub, serve):
    import hashlib

    data = _saved(_fake_vgg_state_dict())
    assert not hashlib.sha256(data).hexdigest().startswith("dcbb9e9d")  # the test's premise
    serve(data)
    with pytest.raises(DescriptorUnavailable, match="failed their SHA-256 check .* and were deleted"):
        load_vgg19(allow_download=True)
    assert not offline_hub.exists() or list(offline_hub.iterdir()) == []  # no file, no partial


def test_vgg19_download_is_loaded_without_running_pickled_code(offline_hub, serve, monkeypatch):
    """A file that passes the hash check still goes through ``weights_only=True``: a pickled
    object beside the tensors is refused (and its code never runs), and the file is deleted."""
    import hashlib

    sd = _fake_vgg_state_dict()
    sd["classifier.0.weight"] = _Payload()
    data = _saved(sd)
    monkeypatch.setattr("diffproxy.descriptor.VGG19_SHA256", hashlib.sha256(data).hexdigest())
    serve(data)
    with pytest.raises(DescriptorUnavailable, match="could not be read as a state dict of tensors"):
        load_vgg19(allow_download=True)
    assert RAN == [] and not (offline_hub / "vgg19-dcbb9e9d.pth").exists()
    # the same payload in a local file is refused too
    local = offline_hub.parent.parent / "local.pth"
    local.write_bytes(data)
    with pytest.raises(DescriptorUnavailable, match="could not be read"):
        load_vgg19(local)
    assert RAN == []
    torch.load(local, weights_only=False)  # the premise: a full unpickle runs it
    assert RAN == ["code ran while loading"]


def test_vgg19_download_with_the_expected_hash_is_kept_and_used(offline_hub, serve, monkeypatch):
    import hashlib

    sd = _fake_vgg_state_dict()
    data = _saved(sd)
    monkeypatch.setattr("diffproxy.descriptor.VGG19_SHA256", hashlib.sha256(data).hexdigest())
    serve(data)
    d = load_vgg19(allow_download=True)
    assert torch.equal(d.blocks[0].weight, sd["features.0.weight"])
    assert (offline_hub / "vgg19-dcbb9e9d.pth").read_bytes() == data
    assert load_vgg19().weights_hash == d.weights_hash  # found in the cache, no download
