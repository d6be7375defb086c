"""Neural proxies: network contract, files, refusal of stale files, training, evaluation.

Everything runs on CPU in seconds: a tiny proxy (16 px, few channels) is trained once per
module on the real ``stripes`` generator and shared by the tests below. Shipped proxies found
in engine/weights/ are checked for the gradient contract too.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from diffproxy.proxies import (Proxy, ProxyMismatch, ProxyUnavailable, available_proxies, load_proxy,
                               param_levels, resolve_generator)
from diffproxy.proxies.checkpoint import load_checkpoint, load_network, save_weights
from diffproxy.proxies.network import ProxyNetwork, wrap_pad, wrap_upsample2x
from diffproxy.proxies.resample import wrap_resize

GEN = "stripes"
TINY = dict(channel_base=64, channel_max=16, channel_min=8, w_dim=32, mapping_layers=2,
            mapping_lr=0.1, fourier_bands=2, embed_dim=4, waves=4)


@pytest.fixture(scope="module")
def gen():
    torch.set_num_threads(1)
    return resolve_generator(GEN)


def tiny_net(gen, res=16, seed=0):
    torch.manual_seed(seed)
    return ProxyNetwork(param_levels(gen.spec), resolution=res, **TINY)


@pytest.fixture(scope="module")
def tiny_run(gen, tmp_path_factory):
    """Train a tiny proxy for a few steps; returns (summary, run dir, weights dir)."""
    from diffproxy.proxies.train import TrainConfig, train
    root = tmp_path_factory.mktemp("proxy_run")
    wdir = root / "weights"
    cfg = TrainConfig(generator=GEN, res=16, batch=8, steps=40, lr=0.005, device="cpu",
                      out=str(root / "run"), export=str(wdir / f"{GEN}.safetensors"),
                      network=dict(TINY), sample_every=20, log_every=10, threads=1, progress=False)
    summary = train(cfg, log=lambda m: None)
    return summary, root / "run", wdir


# --- network ------------------------------------------------------------------------------------
def test_output_shape_range_and_resize(gen):
    proxy = Proxy(gen, tiny_net(gen)).eval()
    params = gen.spec.sample(3, generator=torch.Generator().manual_seed(1))
    for res in (16, 40, 8):
        with torch.no_grad():
            out = proxy(params, res)
        assert out.shape == (3, 1, res, res)
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_network_is_tileable(gen):
    # Every layer wraps around, so shifting the network's spatial inputs (the 4x4 constant and
    # the wave maps) by a quarter period shifts the output by exactly a quarter of its size;
    # zero padding or a non-periodic wave would break this at the edges.
    net = tiny_net(gen, res=32).eval()
    u = torch.rand(2, len(gen.spec), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(u, clamp=False)
        net.synthesis.const.copy_(torch.roll(net.synthesis.const, 1, dims=-1))
        for block in net.synthesis.blocks:
            block.wave_maps = torch.roll(block.wave_maps, block.wave_maps.shape[-1] // 4, dims=-1)
        shifted = net(u, clamp=False)
    assert torch.allclose(shifted, torch.roll(out, 8, dims=-1), atol=1e-4)
    assert not torch.allclose(shifted, out, atol=1e-3)


def test_encoder_skips_levels_the_prior_never_draws():
    """Brick rows are drawn even only: between two even levels the embedding goes straight from
    one to the other (never through the untrained odd row), and loading sets this up."""
    from diffproxy.proxies import valid_levels
    from diffproxy.proxies.network import ParamEncoder

    brick = resolve_generator("brick")
    valid = valid_levels(brick.spec)
    i = brick.spec.names.index("rows")
    assert list(valid) == [i] and valid[i][:3] == [0, 2, 4]  # rows 2, 4, 6 (levels 0, 2, 4)
    enc = ParamEncoder([9], fourier_bands=0, embed_dim=3)
    with torch.no_grad():
        enc.tables[0].copy_(torch.randn(9, 3))
    enc.set_valid_levels({0: [0, 2, 4, 6, 8]})
    t = enc.tables[0].detach()
    u = torch.tensor([[3.0 / 8], [2.0 / 8], [2.5 / 8]], requires_grad=True)
    out = enc(u)[:, 1:]  # after the ordinal feature
    assert torch.allclose(out[0], (t[2] + t[4]) / 2, atol=1e-6)  # level 3 skipped
    assert torch.allclose(out[1], t[2], atol=1e-6)  # valid levels are exact
    assert torch.allclose(out[2], 0.75 * t[2] + 0.25 * t[4], atol=1e-6)
    g, = torch.autograd.grad(out[0].sum(), u)
    assert g[0, 0] == pytest.approx(float((t[4] - t[2]).sum()) / 2 * 8, rel=1e-5)
    with pytest.raises(ValueError, match="outside"):
        enc.set_valid_levels({0: [0, 9]})
    if "brick" in available_proxies():
        assert list(load_proxy("brick").network.encoder.valid) == [i]


def test_wrap_ops_are_circular():
    x = torch.rand(1, 2, 6, 6)
    assert torch.equal(wrap_pad(x, 1), torch.nn.functional.pad(x, (1, 1, 1, 1), mode="circular"))
    assert torch.allclose(wrap_upsample2x(torch.roll(x, 1, -1)), torch.roll(wrap_upsample2x(x), 2, -1), atol=1e-6)
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(wrap_upsample2x(x)[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)


def test_wrap_resize_tiles_and_matches_bilinear_inside():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = wrap_resize(x, 64, "linear")
    ref = torch.nn.functional.interpolate(x, size=64, mode="bilinear", align_corners=False)
    assert torch.allclose(y[..., 4:-4, 4:-4], ref[..., 4:-4, 4:-4], atol=1e-6)
    assert torch.allclose(wrap_resize(torch.roll(x, 3, -1), 64), torch.roll(wrap_resize(x, 64), 12, -1), atol=1e-6)
    small = wrap_resize(x, 8, "linear")  # shrinking averages (antialiased), stays in range
    assert small.shape == (2, 1, 8, 8) and abs(float(small.mean() - x.mean())) < 1e-5


def _assert_grads_everywhere(proxy: Proxy, gen, n: int = 4, res: int | None = None):
    params = gen.spec.sample(n, generator=torch.Generator().manual_seed(3))
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = proxy(leaves, res or proxy.resolution)
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    (out * r).sum().backward()
    for p in gen.spec:
        g = leaves[p.name].grad
        assert g is not None and bool((g != 0).all()), f"{p.name} ({p.kind}): gradient {g}"


def test_gradients_reach_every_parameter_untrained(gen):
    net = tiny_net(gen).eval().requires_grad_(False)
    _assert_grads_everywhere(Proxy(gen, net), gen, res=24)


# --- training, files ----------------------------------------------------------------------------
def test_tiny_training_loss_drops(tiny_run):
    summary, run_dir, _ = tiny_run
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    val = [e["val_l1"] for e in events if "val_l1" in e]
    assert val[0] > 0.0 and summary["val_l1"] < 0.8 * val[0], val
    assert summary["steps"] == 40 and summary["samples_seen"] == 320
    assert list(run_dir.glob("samples_*.png"))


def test_trained_proxy_gradients_reach_every_parameter(tiny_run, gen):
    _, _, wdir = tiny_run
    proxy = load_proxy(GEN, weights_dir=wdir)
    assert not any(p.requires_grad for p in proxy.parameters())
    _assert_grads_everywhere(proxy, gen)


def test_weights_and_checkpoint_round_trip(tiny_run, gen):
    summary, run_dir, wdir = tiny_run
    state = load_checkpoint(run_dir / "checkpoint.pt", gen)  # weights_only=True inside
    full = ProxyNetwork(**state["network_config"])
    full.load_state_dict(state["network"])
    full.eval()
    u = torch.rand(5, len(gen.spec), generator=torch.Generator().manual_seed(2))
    again = ProxyNetwork(**state["network_config"])
    again.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt")["network"])
    again.eval()
    with torch.no_grad():
        ref = full(u)
        assert torch.equal(again(u), ref)
        half, meta = load_network(wdir / f"{GEN}.safetensors", gen)
        assert (half.eval()(u) - ref).abs().max() < 2e-2  # fp16 weights
    assert meta["generator"] == GEN and meta["spec_hash"] == gen.spec_hash()
    assert meta["config"] == full.config and meta["training"]["steps"] == summary["steps"]
    assert all(t.dtype == torch.float16 for t in __import__("safetensors.torch").torch.load_file(
        str(wdir / f"{GEN}.safetensors")).values())


def test_resume_continues_from_checkpoint(tiny_run, gen, tmp_path):
    from diffproxy.proxies.train import TrainConfig, train
    _, run_dir, _ = tiny_run
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    cfg = TrainConfig(generator=GEN, res=16, batch=8, steps=45, device="cpu", out=str(out),
                      export=str(tmp_path / "w.safetensors"), resume=True, network=dict(TINY),
                      threads=1, progress=False, sample_every=1000)
    summary = train(cfg, log=lambda m: None)
    assert summary["steps"] == 45 and summary["samples_seen"] == 360


def test_warm_start_begins_from_the_weights_file(tiny_run, gen, tmp_path):
    from diffproxy.proxies.train import ProxyTrainer, TrainConfig
    _, _, wdir = tiny_run
    src = wdir / f"{GEN}.safetensors"
    cfg = TrainConfig(generator=GEN, res=32, batch=8, steps=3, device="cpu", out=str(tmp_path / "run"),
                      export=str(tmp_path / "w.safetensors"), init_from=str(src), threads=1,
                      progress=False, sample_every=1000)
    trainer = ProxyTrainer(cfg, log=lambda m: None)
    ref, meta = load_network(src, gen)
    assert trainer.net.config == ref.config  # the file's architecture (res 16), not cfg.res
    u = torch.rand(4, len(gen.spec), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(trainer.net.eval()(u), ref.eval()(u))
    summary = trainer.run()
    assert summary["steps"] == 3
    assert summary["warm_start"]["path"] == str(src)
    assert summary["warm_start"]["training"]["steps"] == meta["training"]["steps"]
    other = resolve_generator("brick" if GEN != "brick" else "stripes")
    with pytest.raises(ProxyMismatch):  # another generator's weights are refused
        ProxyTrainer(TrainConfig(generator=other.name, init_from=str(src), device="cpu",
                                 out=str(tmp_path / "r2"), progress=False), log=lambda m: None)


def test_mismatched_spec_hash_and_name_are_refused(tiny_run, gen, tmp_path):
    _, _, wdir = tiny_run
    net, _ = load_network(wdir / f"{GEN}.safetensors", gen)
    stale = dataclasses.replace(gen, version=gen.version + 1)
    save_weights(tmp_path / f"{GEN}.safetensors", net, stale)
    with pytest.raises(ProxyMismatch, match=r"spec hash.*proxy-train --generator stripes"):
        load_proxy(GEN, weights_dir=tmp_path)
    assert GEN not in available_proxies(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(wdir / f"{GEN}.safetensors", other / "brick.safetensors")
    with pytest.raises(ProxyMismatch, match=r"generator 'stripes', not 'brick'"):
        load_proxy("brick", weights_dir=other)
    with pytest.raises(ProxyMismatch, match="spec hash"):
        load_checkpoint(tiny_run[1] / "checkpoint.pt", stale)


def test_missing_weights_raise_proxy_unavailable(tmp_path):
    with pytest.raises(ProxyUnavailable, match=r"no proxy weights for generator 'stripes'.*"
                                               r"diffproxy proxy-train --generator stripes"):
        load_proxy(GEN, weights_dir=tmp_path)
    assert available_proxies(tmp_path) == []


def test_proxy_eval_command(tiny_run, tmp_path, capsys):
    from diffproxy.cli import main
    _, _, wdir = tiny_run
    sheet = tmp_path / "sheet.png"
    code = main(["proxy-eval", "--generator", GEN, "--samples", "16", "--seed", "1", "--json",
                 "--weights-dir", str(wdir), "--sheet", str(sheet)])
    assert code == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert 0.0 < row["l1"] < 1.0 and row["resolution"] == 16
    assert set(row["grad_norm"]) == set(resolve_generator(GEN).spec.names)
    assert row["grad_norm_min"] > 0.0 and row["fwd_bwd_ms"] > 0.0 and row["weight_bytes"] > 0
    assert sheet.is_file()
    assert 0.0 < row["l1_seed_floor"] < 1.0 and row["seed_floor_samples"] == 16
    d = row["descent"]
    assert row["descent_samples"] == 16 and set(d["per_param"]) <= set(row["grad_norm"]) - {"seed"}
    for loss in ("l1", "style"):
        for who in ("proxy", "anchored", "ideal_anchored", "generator"):
            assert 0.0 <= d[loss]["continuous"][who] <= 1.0 and 0.0 <= d[loss]["discrete"][who] <= 1.0
        counts = d[loss]["counts"]
        assert counts["names"] == ["count"]  # stripes: the count that sets its period
        assert counts["proxy"] == counts["proxy_min"] == d["per_param"]["count"][loss]["proxy"]
        assert 0.0 <= counts["stretch"] <= 1.0
    assert d["per_param"]["width"]["style"]["stretch"] is None  # not a count


def test_descent_agreement_of_the_generator_itself(gen):
    """A 'proxy' that is the generator made differentiable in its continuous parameters (a
    linear interpolation between rounded neighbours) agrees with the generator's own finite
    steps on a monotone parameter; a proxy with a negated output slope disagrees."""
    from diffproxy.proxies.evaluate import descent_agreement

    class Exact(torch.nn.Module):  # network(u) -> pattern
        def __init__(self, flip=False):
            super().__init__()
            self.flip = flip
            self.synthesis = torch.nn.Module()
            self.synthesis.const = torch.zeros(1)

        def forward(self, u):
            p = gen.spec.denormalize(u)
            w = p["width"]  # continuous: blend towards the pattern at a nearby width
            base = gen({**gen.spec.round(p), "width": w.detach()}, 16)
            eps = 1e-2
            nxt = gen({**gen.spec.round(p), "width": w.detach() + eps}, 16)
            slope = (nxt - base) / eps
            return base + (-1 if self.flip else 1) * slope * (w - w.detach()).view(-1, 1, 1, 1)

    class P:
        resolution = 16

        def __init__(self, flip):
            self.network = Exact(flip)

    params = gen.spec.sample(24, generator=torch.Generator().manual_seed(3))
    good = descent_agreement(P(False), gen, params)["per_param"]["width"]["l1"]
    bad = descent_agreement(P(True), gen, params)["per_param"]["width"]["l1"]
    assert good["generator"] > 0.8 and good["proxy"] > 0.8 and bad["proxy"] < 0.2
    # the ideal anchored form (no proxy: the generator's own step as the Jacobian) is right on a
    # parameter whose response is smooth, whichever proxy is evaluated
    assert good["ideal_anchored"] == bad["ideal_anchored"] and good["ideal_anchored"] > 0.8


def test_a_proxy_that_stretches_reaches_the_stretch_ceiling(gen):
    """The ``stretch`` figure is the paper form of a proxy whose in-between counts are the
    zoomed real pattern: such a proxy (built here from the generator) scores exactly it."""
    from diffproxy.proxies.evaluate import descent_agreement
    from diffproxy.proxies.train import next_levels, zoom_corner

    class Stretching(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.synthesis = torch.nn.Module()
            self.synthesis.const = torch.zeros(1)

        def forward(self, u):
            p = gen.spec.denormalize(u)
            c = p["count"]
            n = next_levels(gen.spec["count"], c)
            with torch.no_grad():
                base = gen({**gen.spec.round(p), "count": n}, 16)
            s = c / n
            return zoom_corner(base, s, s)

    class P:
        resolution = 16
        network = Stretching()

    params = gen.spec.sample(24, generator=torch.Generator().manual_seed(5), prior=True)
    row = descent_agreement(P(), gen, params)["per_param"]["count"]
    for loss in ("l1", "style"):
        assert row[loss]["proxy"] == row[loss]["stretch"]


def test_training_totals_follow_warm_starts():
    from diffproxy.proxies.evaluate import training_totals

    first = {"device": "cpu", "minutes": 7.5, "cpu_minutes": 7.0, "steps": 100, "samples_seen": 1600}
    second = {"device": "cuda", "minutes": 2.0, "cpu_minutes": 2.0, "steps": 50, "samples_seen": 3200,
              "warm_start": {"path": "x", "training": first}}
    t = training_totals(second)
    assert t == {"runs": 2, "minutes": 9.5, "cpu_minutes": 9.0, "steps": 150, "samples_seen": 4800,
                 "devices": ["cpu", "cuda"]}
    assert training_totals({})["runs"] == 0


def test_seed_floor_is_the_median_prediction_error(gen):
    from diffproxy.proxies.evaluate import seed_floor

    params = gen.spec.sample(3, generator=torch.Generator().manual_seed(0))
    floor = seed_floor(gen, params, 16)
    seeds = range(int(gen.spec.by_name["seed"].low), int(gen.spec.by_name["seed"].high) + 1)
    imgs = torch.stack([gen({**params, "seed": torch.full_like(params["seed"], s)}, 16) for s in seeds])
    med = imgs.median(0).values
    assert floor == pytest.approx(float((imgs - med).abs().mean()), rel=1e-5)
    # the median is the best seed-agnostic guess: the mean does no better
    assert floor <= float((imgs - imgs.mean(0)).abs().mean()) + 1e-7
    assert floor > 0  # the seed matters for this generator


def test_proxy_train_command_rejects_bad_arguments(capsys):
    from diffproxy.cli import main
    assert main(["proxy-train", "--generator", "nope", "--steps", "1"]) == 2
    assert "unknown generator 'nope'" in capsys.readouterr().err
    assert main(["proxy-train", "--generator", GEN, "--res", "48", "--steps", "1"]) == 2
    assert main(["proxy-train", "--generator", GEN, "--fractional", "width", "--steps", "1"]) == 2
    assert "not counts that set a period" in capsys.readouterr().err
    assert main(["proxy-train", "--generator", GEN, "--embed-dim", "-1", "--steps", "1"]) == 2


@pytest.mark.parametrize("name", available_proxies())
def test_shipped_proxy_contract(name):
    g = resolve_generator(name)
    proxy = load_proxy(name)
    params = g.spec.sample(2, generator=torch.Generator().manual_seed(0))
    out = proxy(params, 96)
    assert out.shape == (2, 1, 96, 96) and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    _assert_grads_everywhere(proxy, g)
