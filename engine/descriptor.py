"""Deep texture descriptors: the feature extractors behind the feature and style (Gram) losses.

Two descriptors share one interface (:class:`Descriptor`): ``descriptor(image) -> list of
feature maps``, one per chosen layer.

* ``vgg19``: the VGG19 convolution stack of Gatys et al. / MATch / DiffProxy, written here (no
  torchvision needed), with **average pooling** instead of max pooling (smoother gradients for
  texture optimisation, as in Gatys et al. 2015) and ImageNet normalisation. It loads the
  torchvision-format state dict ``vgg19-dcbb9e9d.pth`` (keys ``features.0.weight`` ...) from, in
  order: an explicit ``path``, the environment variable ``DIFFPROXY_VGG19``, the torch hub cache
  ``torch.hub.get_dir()/checkpoints/``. It downloads it only when the caller passes
  ``allow_download=True`` (never implicitly: the engine must run offline), checks the
  download's SHA-256 and reads every file with ``weights_only=True`` (no pickled code runs).
* ``random``: the **offline default**, a fixed, seeded random-weight CNN with the same layout
  idea (3x3 convolutions + ReLU, average pooling between blocks, one output per block, so the
  receptive fields double block after block). Why random filters: Gram matrices of *random*
  convolutional features are already strong texture statistics (Ustyuzhaninov et al., "What
  does it take to generate natural textures?", ICLR 2017; He, Wang & Hopcroft, "A powerful
  generative model using random weights for the deep image representation", NeurIPS 2016):
  what a Gram matrix captures is the co-occurrence of many different local filter responses at
  several receptive-field sizes, and random filters span that space nearly as well as trained
  ones for stationary textures. What they lack (compared with VGG19) is semantic invariance,
  which flat material samples do not need. The weights come from numpy's legacy ``RandomState``
  (its stream is frozen by numpy's compatibility policy), generated on CPU in float64 and cast,
  so the network and its hash are identical across runs, machines, devices and torch versions.

Every descriptor has a ``name`` and a ``weights_hash`` (sha256 prefix of its used weights'
bytes) so each result records which descriptor produced its losses.

Input convention: ``image`` is ``(B, 3, H, W)`` sRGB in [0, 1] (as the renderer and photo
loader produce it); the descriptor applies ImageNet mean/std normalisation itself.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_ENV = "DIFFPROXY_VGG19"
# What a download's SHA-256 must start with: the 8 hex digits torchvision puts in the file name
# (its check_hash rule). The file's full digest was not found in a source we could check; a
# full 64-digit digest put here is checked in full.
VGG19_SHA256 = "dcbb9e9d"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg19 "features": "M" is a pooling layer; numbers are conv output channels.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Layers named as in Gatys et al.: relu{block}_{conv}; value = index in torchvision's features.
VGG19_LAYERS: dict[str, int] = {}


def _vgg_layer_names() -> None:
    idx, block, conv = 0, 1, 1
    for v in _VGG19_CFG:
        if v == "M":
            VGG19_LAYERS[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 1
        else:
            VGG19_LAYERS[f"conv{block}_{conv}"] = idx
            VGG19_LAYERS[f"relu{block}_{conv}"] = idx + 1
            idx, conv = idx + 2, conv + 1


_vgg_layer_names()

# Style layers of Gatys et al. (used by MATch); feature layers: the first three of them plus
# relu4_2 keep the feature loss spatially sensitive without the cost of block 5.
VGG19_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG19_FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

# Random descriptor: output channels per block (one 3x3 conv + ReLU each, pooled 2x between).
RANDOM_CHANNELS = (16, 32, 64, 128, 256)
RANDOM_SEED = 20220801
RANDOM_STYLE_LAYERS = ("b1", "b2", "b3", "b4", "b5")
RANDOM_FEATURE_LAYERS = ("b1", "b2", "b3", "b4")


class DescriptorUnavailable(RuntimeError):
    """The requested descriptor's weights are not available (message says how to get them)."""


def _check_image(image: torch.Tensor, name: str = "image") -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name} must be a (B, 3, H, W) tensor in [0, 1], got {shape}")
    if image.shape[-1] < 8 or image.shape[-2] < 8:
        raise ValueError(f"{name} must be at least 8x8 pixels, got {tuple(image.shape[-2:])}")


def weights_hash(tensors: Sequence[torch.Tensor]) -> str:
    """sha256 prefix (16 hex digits) of the float32 bytes of ``tensors`` in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class _Pool2(torch.autograd.Function):
    """2x2 average pooling (stride 2, odd last row/column dropped, as ``F.avg_pool2d(x, 2)``)
    with a cheap backward: the gradient spread back is one broadcast copy. Why: on a CPU,
    ``avg_pool2d``'s backward was the costliest single node of a filter-fitting step (30 of
    135 ms at the balanced preset; the descriptor pools 4 times per scale and the supersampled
    render once); this version's forward and backward together take 1/2-1/5 of its time."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.size = tuple(x.shape[-2:])
        x = x[..., :x.shape[-2] // 2 * 2, :x.shape[-1] // 2 * 2]
        y = x[..., 0::2, :] + x[..., 1::2, :]
        return (y[..., 0::2] + y[..., 1::2]) * 0.25

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h, w = g.shape[-2:]
        gi = (g * 0.25)[..., :, None, :, None].expand(*g.shape[:-2], h, 2, w, 2).reshape(*g.shape[:-2], 2 * h, 2 * w)
        height, width = ctx.size
        if (height, width) != (2 * h, 2 * w):
            gi = F.pad(gi, (0, width - 2 * w, 0, height - 2 * h))
        return gi


def pool2(x: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` -> ``(..., H // 2, W // 2)``: means of 2x2 blocks (``F.avg_pool2d(x, 2)``
    up to float rounding, differentiable, faster on a CPU)."""
    return _Pool2.apply(x)


class Pool2(nn.Module):
    """:func:`pool2` as a layer (the descriptors' pooling between blocks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool2(x)


class Descriptor(nn.Module):
    """Frozen feature extractor: ``(B, 3, H, W)`` sRGB [0, 1] -> ``{layer: (B, C_l, H_l, W_l)}``.

    Subclasses build ``self.blocks`` (an ``nn.ModuleList`` run in order) and ``self.taps``
    (layer name -> index into ``blocks`` after which the output is read).
    """

    name: str = ""
    style_layers: tuple[str, ...] = ()
    feature_layers: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.blocks = nn.ModuleList()
        self.taps: dict[str, int] = {}
        self.weights_hash = ""

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        self.weights_hash = weights_hash([p for p in self.parameters()])

    @property
    def info(self) -> dict:
        """What a result records: ``{"name", "weights_hash", "style_layers", "feature_layers"}``."""
        return {"name": self.name, "weights_hash": self.weights_hash,
                "style_layers": list(self.style_layers), "feature_layers": list(self.feature_layers)}

    def forward(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Feature maps of ``image`` at ``layers`` (default: style + feature layers)."""
        _check_image(image)
        layers = tuple(layers) if layers is not None else tuple(dict.fromkeys(self.style_layers + self.feature_layers))
        unknown = [n for n in layers if n not in self.taps]
        if unknown:
            raise ValueError(f"layers: unknown {unknown} for descriptor {self.name}; known: {list(self.taps)}")
        last = max(self.taps[n] for n in layers)
        want = {self.taps[n]: n for n in layers}
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in want:
                out[want[i]] = x
            if i == last:  # layers past the deepest tap cost time and change nothing
                break
        return out


class VGG19(Descriptor):
    """VGG19 convolution stack (torchvision layout, average pooling), frozen.

    ``state_dict``: torchvision-format mapping (``features.{i}.weight`` / ``.bias``); extra keys
    (``classifier.*``) are ignored; missing or mis-shaped keys raise ``ValueError`` naming them.
    """

    name = "vgg19"
    style_layers = VGG19_STYLE_LAYERS
    feature_layers = VGG19_FEATURE_LAYERS

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        super().__init__()
        if not isinstance(state_dict, dict):
            raise ValueError(f"state_dict must be a dict of tensors, got {type(state_dict).__name__}")
        deepest = max(VGG19_LAYERS[n] for n in self.style_layers + self.feature_layers)
        in_ch, idx, problems = 3, 0, []
        for v in _VGG19_CFG:
            if idx > deepest:
                break
            if v == "M":
                self.blocks.append(Pool2())
                idx += 1
                continue
            conv = nn.Conv2d(in_ch, int(v), 3, padding=1)
            for key, param in (("weight", conv.weight), ("bias", conv.bias)):
                k = f"features.{idx}.{key}"
                t = state_dict.get(k)
                if t is None:
                    problems.append(f"missing {k}")
                elif tuple(t.shape) != tuple(param.shape):
                    problems.append(f"{k} has shape {tuple(t.shape)}, expected {tuple(param.shape)}")
                else:
                    with torch.no_grad():
                        param.copy_(t.float())
            self.blocks.append(conv)
            self.blocks.append(nn.ReLU(inplace=False))
            in_ch, idx = int(v), idx + 2
        if problems:
            raise ValueError("state_dict is not a torchvision VGG19 state dict: " + "; ".join(problems[:6])
                             + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""))
        self.taps = {n: i for n, i in VGG19_LAYERS.items() if i < len(self.blocks)}
        self._freeze()


class RandomCNN(Descriptor):
    """Seeded random-weight CNN (the offline default descriptor), frozen.

    Block ``b{k}`` = (2x2 average pooling, except before ``b1``) -> 3x3 conv -> ReLU, with
    ``channels[k-1]`` outputs; He-normal weights (std ``sqrt(2 / fan_in)``) so activations keep
    roughly unit scale from block to block, and the Gram matrices of all blocks weigh alike.
    """

    name = "random_cnn"
    style_layers = RANDOM_STYLE_LAYERS
    feature_layers = RANDOM_FEATURE_LAYERS

    def __init__(self, channels: Sequence[int] = RANDOM_CHANNELS, seed: int = RANDOM_SEED) -> None:
        super().__init__()
        if len(channels) < 1 or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels must be positive integers, got {channels!r}")
        rng = np.random.RandomState(seed)  # legacy stream: frozen across numpy versions
        in_ch = 3
        for k, c in enumerate(channels):
            conv = nn.Conv2d(in_ch, int(c), 3, padding=1)
            w = rng.standard_normal((int(c), in_ch, 3, 3)) * np.sqrt(2.0 / (in_ch * 9))
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w).float())
                conv.bias.zero_()
            layers: list[nn.Module] = [Pool2()] if k > 0 else []
            self.blocks.append(nn.Sequential(*layers, conv, nn.ReLU()))
            self.taps[f"b{k + 1}"] = k
            in_ch = int(c)
        self.name = f"random_cnn(seed={seed})" if seed != RANDOM_SEED else "random_cnn"
        self._freeze()


def vgg19_weight_path(path: str | os.PathLike | None = None) -> Path | None:
    """Where VGG19 weights are on this machine (explicit path > $DIFFPROXY_VGG19 > hub cache)."""
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DescriptorUnavailable(f"VGG19 weights: no file at {p}")
        return p
    env = os.environ.get(VGG19_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise DescriptorUnavailable(f"{VGG19_ENV}={env} but there is no file there")
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return p if p.is_file() else None


def _download_reason(e: Exception) -> str:
    """A failed download in a few words: ``HTTP 404 Not Found``, ``connection refused``."""
    from urllib.error import HTTPError, URLError

    if isinstance(e, HTTPError):
        return f"HTTP {e.code} {e.reason}"
    reason = e.reason if isinstance(e, URLError) else e
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _download_vgg19(dest: Path) -> Path:
    """Download torchvision's VGG19 weights to ``dest``, through a temporary file in its folder
    that becomes ``dest`` only once its SHA-256 matches :data:`VGG19_SHA256` (a torn or altered
    download is deleted, never kept to be found next time). Offline, a refused connection or an
    HTTP error raise :class:`DescriptorUnavailable` saying where to put the file instead."""
    import http.client

    hint = (f"put torchvision's {VGG19_FILE} in {dest.parent} or pass its path via ${VGG19_ENV}, "
            f"or use --descriptor random")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(VGG19_URL, str(dest), hash_prefix=VGG19_SHA256, progress=False)
    except RuntimeError as e:  # torch's "invalid hash value (expected ..., got ...)"; it deleted the file
        raise DescriptorUnavailable(f"the VGG19 weights downloaded from {VGG19_URL} failed their SHA-256 "
                                    f"check ({e}) and were deleted; {hint}") from None
    except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts, a full disk
        raise DescriptorUnavailable(f"could not download the VGG19 weights ({_download_reason(e)}); "
                                    f"{hint}") from None
    return dest


def load_vgg19(path: str | os.PathLike | None = None, allow_download: bool = False) -> VGG19:
    """VGG19 descriptor from local weights; downloads them only with ``allow_download=True``.

    Every file is read with ``weights_only=True``: a checkpoint is a pickle, and a full unpickle
    of a file from the network (or a swapped local one) can run any code; tensors in a dict are
    all a state dict needs."""
    p = vgg19_weight_path(path)
    downloaded = p is None
    if p is None:
        if not allow_download:
            raise DescriptorUnavailable(
                f"VGG19 weights not found (looked at ${VGG19_ENV} and "
                f"{Path(torch.hub.get_dir()) / 'checkpoints' / VGG19_FILE}); put torchvision's "
                f"{VGG19_FILE} there, or allow the download, or use the 'random' descriptor")
        p = _download_vgg19(Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE)
    try:
        sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # a torn file, a non-checkpoint, a pickle holding more than tensors
        if downloaded:  # not kept to be found, and refused again, next time
            p.unlink(missing_ok=True)
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise DescriptorUnavailable(f"VGG19 weights at {p} could not be read as a state dict of "
                                    f"tensors ({reason}); use torchvision's {VGG19_FILE}") from e
    return VGG19(sd)


@dataclass(frozen=True)
class _CacheKey:
    name: str
    path: str
    device: str


_CACHE: dict[_CacheKey, Descriptor] = {}


def get_descriptor(name: str = "auto", device: torch.device | str = "cpu", *,
                   path: str | os.PathLike | None = None, allow_download: bool = False) -> Descriptor:
    """Descriptor by name: ``"auto"`` (VGG19 if its weights are on this machine, else the random
    CNN), ``"vgg19"`` (weights required), ``"random"``. Cached per (name, path, device).
    """
    if name not in ("auto", "vgg19", "random"):
        raise ValueError(f"descriptor must be 'auto', 'vgg19' or 'random', got {name!r}")
    if name == "auto":
        try:
            have = vgg19_weight_path(path) is not None
        except DescriptorUnavailable:
            have = False
        name = "vgg19" if (have or allow_download) else "random"
    key = _CacheKey(name, str(path or os.environ.get(VGG19_ENV, "")), str(torch.device(device)))
    if key not in _CACHE:
        d = load_vgg19(path, allow_download) if name == "vgg19" else RandomCNN()
        _CACHE[key] = d.to(device)
    return _CACHE[key]


def to_gray3(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` sRGB -> luminance (Rec. 709 weights on the encoded values) repeated to 3
    channels, so a descriptor sees structure without colour (Stage II's random search)."""
    _check_image(image)
    w = image.new_tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)
    return (image * w).sum(1, keepdim=True).expand(-1, 3, -1, -1)


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """Square resize to ``size`` (area average when shrinking, bilinear when enlarging)."""
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    if image.shape[-1] > size:
        while image.shape[-1] == image.shape[-2] and image.shape[-1] % (2 * size) == 0:
            image = pool2(image)  # an even factor: the same block means, a cheaper backward
        if image.shape[-1] == size and image.shape[-2] == size:
            return image
        return F.interpolate(image, size=(size, size), mode="area")
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
