"""The proxy network: normalised generator parameters -> a tileable grayscale pattern.

Architecture (after StyleGAN2's generator, with the per-layer noise removed so the mapping is
deterministic, one parameter set -> one image):

* :class:`ParamEncoder` turns the ``(B, P)`` normalised parameter vector into features: every
  parameter as a centred value plus a few Fourier bands (so a small MLP can follow fast changes),
  and, for discrete parameters, a learned embedding per level linearly interpolated between
  neighbouring levels (exact at whole values, still differentiable in between).
* :class:`MappingNetwork` (MLP) -> latent ``w``.
* :class:`SynthesisNetwork`: a learned constant 4x4 input, then :class:`SynthesisBlock` s that
  upsample x2 and apply two :class:`ModulatedConv2d` (weights modulated by a per-layer affine of
  ``w``, demodulated) with leaky ReLU; a 1x1 :class:`ToGray` per block feeds a skip image; the
  result, offset by 0.5, is clamped to [0, 1]
  (unclamped while training).

Convention: every spatial operation wraps around (circular padding, wrap-aware upsampling), so
the output tiles with period 1 like the generators it imitates. Layers use StyleGAN's equalised
learning rate (weights stored ~N(0, 1) and scaled at run time by ``1/sqrt(fan_in)``), which is
why a single Adam learning rate of a few 1e-3 suits every layer.

Construction arguments are kept in ``ProxyNetwork.config`` so a checkpoint rebuilds its network
with ``ProxyNetwork(**config)``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resample import resize_matrix

LRELU_GAIN = math.sqrt(2.0)  # keeps activations ~unit variance through leaky ReLU (StyleGAN)


def wrap_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Circular padding of the last two dims by ``pad`` pixels (``pad <= size``).

    Same result as ``F.pad(mode="circular")``; built from ``cat`` because its backward is a
    plain slice, about 1.5x faster on CPU for these small images.
    """
    x = torch.cat([x[..., -pad:, :], x, x[..., :pad, :]], dim=-2)
    return torch.cat([x[..., -pad:], x, x[..., :pad]], dim=-1)


def wrap_upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling that treats the image as periodic.

    ``x: (B, C, H, W) -> (B, C, 2H, 2W)``; the output's pixel grid is the input's refined, so
    pixel centres stay at ``(i + 0.5) / size`` of the unit tile. Two matrix products with the
    periodic linear resampling matrix of :mod:`.resample` (at x2 it is exactly bilinear: output
    ``2i`` = 3/4 of input ``i`` + 1/4 of ``i - 1``): a handful of operations instead of a dozen
    shifted copies, which is what costs time in a small network run at batch 1.
    """
    mh = resize_matrix(x.shape[-2], 2 * x.shape[-2], "linear", x.device, x.dtype)
    mw = mh if x.shape[-1] == x.shape[-2] else resize_matrix(x.shape[-1], 2 * x.shape[-1], "linear",
                                                             x.device, x.dtype)
    return mh @ x @ mw.t()


class FullyConnected(nn.Module):
    """Linear layer with equalised learning rate and optional leaky ReLU."""

    def __init__(self, in_features: int, out_features: int, activation: bool = True,
                 bias_init: float = 0.0, lr_multiplier: float = 1.0):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.frozen: tuple[torch.Tensor, ...] | None = None  # see ProxyNetwork.freeze

    def freeze(self) -> None:
        self.frozen = (self.weight * self.weight_gain, self.bias * self.bias_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.frozen or (self.weight * self.weight_gain, self.bias * self.bias_gain)
        x = F.linear(x, w, b)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class ParamEncoder(nn.Module):
    """``(B, P)`` normalised parameters -> ``(B, out_features)`` features.

    Args:
        levels: per parameter, 0 for a continuous one, else its number of discrete values
            (int range size, 2 for bool, number of choices).
        fourier_bands: frequencies ``pi * 2**k`` (k < bands) of sin/cos features per parameter.
        embed_dim: size of the per-level embedding of discrete parameters (0: none).

    :meth:`set_valid_levels` names, per discrete parameter, the levels its generator can draw
    (e.g. even brick ``rows`` only); between two of them the embedding is interpolated directly,
    never through a level the training never saw (an untrained table row: with that detour the
    arc_pavement proxy's gradient pointed ``rows`` back towards the target in 62 % of
    ``proxy-eval``'s descent cases, without it 80 %; docs/BENCHMARKS.md).
    """

    max_levels = 256  # a wider discrete range is treated as ordinal only (no per-level table)

    def __init__(self, levels: Sequence[int], fourier_bands: int = 4, embed_dim: int = 8):
        super().__init__()
        self.levels = [int(n) for n in levels]
        self.fourier_bands, self.embed_dim = fourier_bands, embed_dim
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(fourier_bands, dtype=torch.float32),
                             persistent=False)
        self.embedded = [i for i, n in enumerate(self.levels)
                         if embed_dim > 0 and 2 <= n <= self.max_levels]
        # Zero start: at first the network sees discrete values as ordinal, then learns per level.
        self.tables = nn.ParameterList(nn.Parameter(torch.zeros(self.levels[i], embed_dim))
                                       for i in self.embedded)
        p = len(self.levels)
        self.out_features = p * (1 + 2 * fourier_bands) + len(self.embedded) * embed_dim
        self._valid_names: dict[int, str] = {}  # param index -> buffer of its valid level indices

    def set_valid_levels(self, valid: dict[int, Sequence[int]]) -> None:
        """``{param index: level indices (0-based) that can occur}``; parameters not named (or
        named with every level) interpolate between neighbouring levels. Kept as non-persistent
        buffers: they follow the module's device and are not part of a weights file."""
        for name in self._valid_names.values():
            delattr(self, name)
        self._valid_names = {}
        for i, levels in valid.items():
            v = sorted({int(x) for x in levels})
            if i not in self.embedded or len(v) < 2 or len(v) == self.levels[i]:
                continue
            if v[0] < 0 or v[-1] >= self.levels[i]:
                raise ValueError(f"parameter {i}: valid levels {v} outside 0..{self.levels[i] - 1}")
            self._valid_names[i] = f"valid_{i}"
            self.register_buffer(self._valid_names[i], torch.tensor(v, dtype=torch.float32,
                                                                    device=self.freqs.device),
                                 persistent=False)

    @property
    def valid(self) -> dict[int, torch.Tensor]:
        """``{param index: sorted valid level indices}`` set by :meth:`set_valid_levels`."""
        return {i: getattr(self, name) for i, name in self._valid_names.items()}

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        feats = [u * 2.0 - 1.0]
        if self.fourier_bands:
            phase = u[..., None] * self.freqs  # (B, P, K)
            feats += [torch.sin(phase).flatten(1), torch.cos(phase).flatten(1)]
        for i, table in zip(self.embedded, self.tables):
            n = self.levels[i]
            v = u[:, i] * (n - 1)  # level index, continuous
            name = self._valid_names.get(i)
            if name is None:
                lo = v.detach().floor().clamp(0, n - 2)
                hi = lo + 1
            else:  # the nearest valid levels either side
                valid = getattr(self, name)
                j = (torch.searchsorted(valid, v.detach().contiguous(), right=True) - 1).clamp(0, len(valid) - 2)
                lo, hi = valid[j], valid[j + 1]
            f = ((v - lo) / (hi - lo))[:, None]  # linear in v: gradient (e[hi] - e[lo]) / (hi - lo)
            feats.append(table[lo.long()] * (1.0 - f) + table[hi.long()] * f)
        return torch.cat(feats, dim=1)


class MappingNetwork(nn.Module):
    """Encoded parameters -> latent ``w`` (an MLP with leaky ReLU)."""

    def __init__(self, in_features: int, w_dim: int, num_layers: int, lr_multiplier: float):
        super().__init__()
        dims = [in_features] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[FullyConnected(a, b, activation=True, lr_multiplier=lr_multiplier)
                                      for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ModulatedConv2d(nn.Module):
    """3x3 (or 1x1) convolution whose input channels are scaled per sample by an affine of
    ``w``, then demodulated (output channels renormalised to unit expected variance).

    Implemented as scale -> shared conv -> rescale (StyleGAN2's non-fused path): identical maths
    to modulating the weight per sample, but a plain batched convolution, fast on CPU.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 3,
                 demodulate: bool = True, activation: bool = True, style_bias: float = 1.0):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.activation = demodulate, activation
        self.affine = FullyConnected(w_dim, in_channels, activation=False, bias_init=style_bias)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.frozen: tuple[torch.Tensor, ...] | None = None  # see ProxyNetwork.freeze

    def freeze(self) -> None:
        weight = self.weight * self.weight_gain
        self.frozen = (weight, weight.square().sum(dim=(2, 3)).t())

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (B, Cin)
        if self.frozen is not None:
            weight, wsq = self.frozen
        else:
            weight = self.weight * self.weight_gain
            wsq = weight.square().sum(dim=(2, 3)).t() if self.demodulate else None
        pad = self.kernel_size // 2
        x = x * styles[:, :, None, None]
        x = F.conv2d(wrap_pad(x, pad) if pad else x, weight)  # circular padding: tiles
        if self.demodulate:
            # ||W * s||_2 per (sample, out channel) without building per-sample weights.
            dcoefs = styles.square() @ wsq  # (B, Cout)
            x = x * (dcoefs + 1e-8).rsqrt()[:, :, None, None]
        x = x + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class ToGray(nn.Module):
    """1x1 modulated conv (no demodulation) to one gray channel, StyleGAN's toRGB."""

    def __init__(self, in_channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 1, w_dim, kernel_size=1, demodulate=False,
                                    activation=False)
        with torch.no_grad():  # start near flat gray: early steps need not undo a noisy image
            self.conv.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w)


WAVE_DIRECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1))  # along x, y and both diagonals


def tile_waves(res: int, freqs: int) -> torch.Tensor:
    """``(8 * K, res, res)``: sin and cos of ``2 pi k (a x + b y)`` for ``k = 1..K`` and each
    direction ``(a, b)`` of :data:`WAVE_DIRECTIONS`, at pixel centres. Whole frequencies and
    directions: every wave has period 1 in x and y, so it tiles."""
    c = (torch.arange(res, dtype=torch.float64) + 0.5) / res
    k = torch.arange(1, freqs + 1, dtype=torch.float64).view(-1, 1, 1)
    maps = []
    for a, b in WAVE_DIRECTIONS:
        ph = 2 * math.pi * k * (a * c.view(1, 1, -1) + b * c.view(1, -1, 1))  # (K, res, res)
        maps += [torch.sin(ph), torch.cos(ph)]
    return torch.cat(maps).float()


class SynthesisBlock(nn.Module):
    """Upsample x2, two modulated 3x3 convs, and a skip-connection gray output.

    With ``waves > 0``, a modulated 1x1 layer adds a ``w``-weighted mix of fixed tileable
    sine waves (:func:`tile_waves`) after the first conv: periodic patterns (rows, stripes)
    then need not be grown from a 4x4 constant through nonlinearities alone.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, waves: int = 0):
        super().__init__()
        self.conv0 = ModulatedConv2d(in_channels, out_channels, w_dim)
        self.conv1 = ModulatedConv2d(out_channels, out_channels, w_dim)
        self.to_gray = ToGray(out_channels, w_dim)
        k = min(waves, resolution // 2)
        self.waves = None
        if k > 0:
            self.register_buffer("wave_maps", tile_waves(resolution, k)[None], persistent=False)
            # Style bias 0: waves start unselected, so w picks the few a pattern needs rather
            # than having to switch off all the others first.
            self.waves = ModulatedConv2d(2 * len(WAVE_DIRECTIONS) * k, out_channels, w_dim, kernel_size=1,
                                         activation=False, style_bias=0.0)

    def forward(self, x: torch.Tensor, img: torch.Tensor, w: torch.Tensor):
        x = self.conv0(wrap_upsample2x(x), w)
        if self.waves is not None:
            x = x + self.waves(self.wave_maps.expand(x.shape[0], -1, -1, -1), w)
        x = self.conv1(x, w)
        return x, wrap_upsample2x(img) + self.to_gray(x, w)


class SynthesisNetwork(nn.Module):
    """Latent ``w`` -> ``(B, 1, res, res)`` logits, from a learned constant 4x4 input."""

    def __init__(self, w_dim: int, resolution: int, channels: dict[int, int], waves: int = 0):
        super().__init__()
        self.resolution = resolution
        self.block_res = [2 ** i for i in range(3, int(math.log2(resolution)) + 1)]
        self.const = nn.Parameter(torch.randn(channels[4], 4, 4))
        self.conv_in = ModulatedConv2d(channels[4], channels[4], w_dim)
        self.to_gray_in = ToGray(channels[4], w_dim)
        self.blocks = nn.ModuleList(SynthesisBlock(channels[r // 2], channels[r], w_dim, r, waves)
                                    for r in self.block_res)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(self.const[None].expand(w.shape[0], -1, -1, -1), w)
        img = self.to_gray_in(x, w)
        for block in self.blocks:
            x, img = block(x, img, w)
        return img


class ProxyNetwork(nn.Module):
    """Normalised parameters ``u: (B, P)`` in [0, 1] -> pattern ``(B, 1, resolution, resolution)``
    in [0, 1] (clamped), tileable.

    Args:
        levels: per parameter, 0 (continuous) or its number of discrete values; see
            :class:`ParamEncoder`.
        resolution: output size, a power of two >= 8.
        w_dim, mapping_layers, mapping_lr: latent size, MLP depth, MLP learning-rate multiplier.
        channel_base, channel_max, channel_min: channels at resolution r are
            ``clamp(channel_base // r, channel_min, channel_max)``.
        fourier_bands, embed_dim: see :class:`ParamEncoder`.
    """

    def __init__(self, levels: Sequence[int], resolution: int = 64, w_dim: int = 128,
                 mapping_layers: int = 4, mapping_lr: float = 0.1, channel_base: int = 2048,
                 channel_max: int = 128, channel_min: int = 16, fourier_bands: int = 4,
                 embed_dim: int = 8, waves: int = 0):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.config = dict(levels=[int(n) for n in levels], resolution=int(resolution),
                           w_dim=int(w_dim), mapping_layers=int(mapping_layers),
                           mapping_lr=float(mapping_lr), channel_base=int(channel_base),
                           channel_max=int(channel_max), channel_min=int(channel_min),
                           fourier_bands=int(fourier_bands), embed_dim=int(embed_dim), waves=int(waves))
        self.num_params, self.resolution = len(levels), resolution
        channels = {2 ** i: max(channel_min, min(channel_max, channel_base // 2 ** i))
                    for i in range(2, int(math.log2(resolution)) + 1)}
        self.encoder = ParamEncoder(levels, fourier_bands, embed_dim)
        self.mapping = MappingNetwork(self.encoder.out_features, w_dim, mapping_layers, mapping_lr)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, waves)

    @torch.no_grad()
    def freeze(self) -> "ProxyNetwork":
        """Inference only: stop weight gradients and precompute every layer's scaled weights
        (and demodulation norms) once, instead of on each call (an optimiser calls a proxy at
        every step with fixed weights; measured ~1 ms of a ~17 ms forward+backward on the dev
        CPU). Undone by :meth:`train` (and by :meth:`unfreeze`)."""
        self.requires_grad_(False).eval()
        for m in self._scaled_layers():
            m.freeze()
        return self

    def unfreeze(self) -> None:
        for m in self._scaled_layers():
            m.frozen = None

    def _scaled_layers(self):
        return (m for m in self.modules() if isinstance(m, (FullyConnected, ModulatedConv2d)))

    def train(self, mode: bool = True) -> "ProxyNetwork":
        if mode:
            self.unfreeze()  # cached weights would go stale as soon as training changes them
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):
        self.unfreeze()
        return super().load_state_dict(*args, **kwargs)

    def forward(self, u: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """``clamp=False`` (training) returns the unclamped image, so a pixel on the wrong side
        of [0, 1] still gets a gradient back towards its target (a sigmoid or clamp would
        leave it stuck at a saturated, often locally optimal, black or white)."""
        if u.ndim != 2 or u.shape[1] != self.num_params:
            raise ValueError(f"u must be (B, {self.num_params}) normalised parameters, got {tuple(u.shape)}")
        img = 0.5 + self.synthesis(self.mapping(self.encoder(u)))
        return img.clamp(0.0, 1.0) if clamp else img
