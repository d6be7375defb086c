"""Gaussian blur with wrap-around, exact for small radii and pyramid-accelerated for large ones."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import Scalar, check_image, needs_grad, param

# A sample is blurred on the pyramid level 2**L where its sigma is at least this many level
# pixels (below it the bilinear upsampling would show); the level blur is an exact FFT.
MIN_LEVEL_SIGMA = 1.5


def blur(x: torch.Tensor, radius: Scalar) -> torch.Tensor:
    r"""Gaussian blur, circular (wrap-around) border.

    Args:
        x: ``(B, C, H, W)`` image.
        radius: the Gaussian's standard deviation as a fraction of the texture width
            (``sigma_px = radius * W``); float or ``(B,)`` tensor; its sign is ignored.

    Returns:
        ``(B, C, H, W)``, same range as ``x`` (a blur is an average).

    Convention:
        Border: circular. Resolution-independent: the same ``radius`` gives the same look at
        any ``W``. The blur is the periodic Gaussian applied as an exact spectral (FFT)
        filter. When ``sigma_px >= 2 * MIN_LEVEL_SIGMA`` (3 px) the image is first halved
        ``L`` times with a [1, 3, 3, 1] / 8 binomial filter (``f = 2**L``, chosen so the
        remaining sigma is 1.5 to 3 level pixels), blurred there exactly with
        ``sigma_L**2 = (sigma_px**2 - (f**2 - 1) / 2) / f**2`` (the binomial steps down and the
        bilinear 2x steps up add ``(f**2 - 1) / 4`` px**2 of variance each) and brought back
        with wrap-around: cost stays near two passes over the full-resolution image whatever
        the radius, and the result differs from the exact blur by < 0.003 (measured on white
        noise and a hard-edged box). Differentiable in ``x`` and ``radius`` (the level is a
        discrete, per-sample choice).

    Example:
        >>> x = torch.zeros(1, 1, 32, 32); x[..., 0, 0] = 1.0
        >>> y = blur(x, 2.0 / 32)          # sigma = 2 px
        >>> round(float(y.sum()), 4)        # mass is preserved
        1.0
        >>> bool(torch.allclose(y[..., 0, 1], y[..., 0, -1]))  # wrapped symmetrically
        True
    """
    check_image(x)
    r = param(radius, x, "radius")
    return gaussian_blur_px(x, r * x.shape[-1])


def gaussian_blur_px(x: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """Blur ``x (B, C, H, W)`` by ``sigma_px`` pixels, a ``(B or 1, 1, 1, 1)`` tensor."""
    b, _, h, w = x.shape
    sig = sigma_px.expand(b, 1, 1, 1) if sigma_px.shape[0] != b else sigma_px
    levels = [pyramid_level(abs(float(s)), h, w) for s in sig.detach().reshape(-1).cpu()]
    if len(set(levels)) == 1:
        return _blur_level(x, sig, levels[0])
    # samples that need different pyramid levels are blurred in groups, then put back in order
    outs: list[torch.Tensor | None] = [None] * b
    for lv in sorted(set(levels)):
        idx = [i for i, li in enumerate(levels) if li == lv]
        sel = torch.tensor(idx, device=x.device)
        y = _blur_level(x.index_select(0, sel), sig.index_select(0, sel), lv)
        for k, i in enumerate(idx):
            outs[i] = y[k:k + 1]
    return torch.cat(outs)  # type: ignore[arg-type]


def pyramid_level(sigma_px: float, h: int, w: int) -> int:
    """Pyramid level for one sample: sigma at least MIN_LEVEL_SIGMA level pixels, the factor
    divides both sides and the level image keeps at least 4 pixels a side."""
    if sigma_px < 2.0 * MIN_LEVEL_SIGMA:
        return 0
    lv = int(math.floor(math.log2(sigma_px / MIN_LEVEL_SIGMA)))
    while lv > 0 and (h % (1 << lv) or w % (1 << lv) or min(h, w) >> lv < 4):
        lv -= 1
    return lv


def _blur_level(x: torch.Tensor, sig: torch.Tensor, lv: int) -> torch.Tensor:
    if lv == 0:
        return fft_gaussian(x, sig * sig)
    f = 1 << lv
    y = x
    for _ in range(lv):
        y = downsample2_wrap(y)
    # each 2x step down or up adds 3/4 of a (finer-level) pixel**2 of variance: (f*f-1)/4 each way
    var = (sig * sig - (f * f - 1) / 2.0).clamp_min(0.0) / (f * f)
    y = fft_gaussian(y, var)
    for _ in range(lv):
        y = upsample2_wrap(y)
    return y


def fft_gaussian(x: torch.Tensor, var_px: torch.Tensor) -> torch.Tensor:
    """Exact periodic Gaussian blur of variance ``var_px`` (px**2, ``(B or 1, 1, 1, 1)``)."""
    h, w = x.shape[-2:]
    real = x.dtype
    fy = torch.fft.fftfreq(h, device=x.device, dtype=real).reshape(1, 1, h, 1)
    fx = torch.fft.rfftfreq(w, device=x.device, dtype=real).reshape(1, 1, 1, w // 2 + 1)
    k = -2.0 * math.pi ** 2 * var_px
    transfer = torch.exp(k * fy * fy) * torch.exp(k * fx * fx)  # separable, (B, 1, H, W/2+1)
    spec = torch.fft.rfft2(x)
    if needs_grad(x, var_px):
        spec = spec * transfer
    else:
        spec.mul_(transfer)
    return torch.fft.irfft2(spec, s=(h, w))


def downsample2_wrap(x: torch.Tensor) -> torch.Tensor:
    """Halve both sides with the binomial filter [1, 3, 3, 1] / 8 and wrap-around:
    ``(B, C, 2h, 2w)`` -> ``(B, C, h, w)``; output pixel ``k`` is centred between input pixels
    ``2k`` and ``2k+1`` (like a 2x2 box, with far less aliasing)."""
    return _down_dim(_down_dim(x, -1), -2)


def _down_dim(x: torch.Tensor, dim: int) -> torch.Tensor:
    # output k = (x[2k-1] + 3 x[2k] + 3 x[2k+1] + x[2k+2]) / 8, wrapped; dim is -1 or -2
    n = x.shape[dim] // 2
    pairs = x.narrow(dim, 0, 2 * n).unflatten(dim, (n, 2))
    a = pairs.select(dim, 0)  # x[2k]
    b = pairs.select(dim, 1)  # x[2k+1]
    out = (a + b).mul_(0.375)
    out.narrow(dim, 1, n - 1).add_(b.narrow(dim, 0, n - 1), alpha=0.125)
    out.narrow(dim, 0, 1).add_(b.narrow(dim, n - 1, 1), alpha=0.125)
    out.narrow(dim, 0, n - 1).add_(a.narrow(dim, 1, n - 1), alpha=0.125)
    out.narrow(dim, n - 1, 1).add_(a.narrow(dim, 0, 1), alpha=0.125)
    return out


def upsample2_wrap(y: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling with wrap-around: ``(B, C, h, w)`` -> ``(B, C, 2h, 2w)``; level
    pixel ``k`` is centred between output pixels ``2k`` and ``2k+1`` (inverse of
    :func:`downsample2_wrap`'s placement)."""
    return _up_dim(_up_dim(y, -1), -2)


def _up_dim(y: torch.Tensor, dim: int) -> torch.Tensor:
    # output 2k = 3/4 y[k] + 1/4 y[k-1], output 2k+1 = 3/4 y[k] + 1/4 y[k+1], wrapped
    n = y.shape[dim]
    even = y * 0.75
    even.narrow(dim, 1, n - 1).add_(y.narrow(dim, 0, n - 1), alpha=0.25)
    even.narrow(dim, 0, 1).add_(y.narrow(dim, n - 1, 1), alpha=0.25)
    odd = y * 0.75
    odd.narrow(dim, 0, n - 1).add_(y.narrow(dim, 1, n - 1), alpha=0.25)
    odd.narrow(dim, n - 1, 1).add_(y.narrow(dim, 0, 1), alpha=0.25)
    shape = list(y.shape)
    shape[dim] *= 2
    return torch.stack((even, odd), dim=dim).reshape(shape)


class Blur(nn.Module):
    """Module form of :func:`blur` (stores ``radius``)."""

    def __init__(self, radius: Scalar) -> None:
        super().__init__()
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return blur(x, self.radius)
