"""Ambient occlusion from a height map, by multi-scale blurs."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, param, rowwise
from .blur import downsample2_wrap, fft_gaussian, pyramid_level, upsample2_wrap

SCALES = 4  # neighbourhoods of radius, radius/2, radius/4, radius/8


def ambient_occlusion(h: torch.Tensor, radius: Scalar = 0.05, intensity: Scalar = 1.0) -> torch.Tensor:
    r"""Screen-space-style ambient occlusion of a height field.

    ``ao = exp(-intensity * relu(M - h))`` where ``M`` is the mean of ``SCALES`` Gaussian
    blurs of ``h`` with sigmas ``radius / 2, radius / 4, radius / 8, radius / 16``: a point
    lying below the average height of its surroundings (at several distances) is occluded in
    proportion to how far below it is; close surroundings count at every scale, far ones
    only at the large scales.

    Args:
        h: ``(B, 1, H, W)`` height in [0, 1] (1 = high).
        radius: the largest neighbourhood, a fraction of the texture width (float or
            ``(B,)``), > 0; typical 0.01 to 0.1.
        intensity: float or ``(B,)`` >= 0; a crevice one full height unit below its
            surroundings gets ``exp(-intensity)``.

    Returns:
        ``(B, 1, H, W)`` in (0, 1]: 1 unoccluded, darker in crevices.

    Convention:
        Circular border (tileable in, tileable out); resolution-independent through
        ``radius``; differentiable in ``h``, ``radius`` and ``intensity``. The blurs share
        one pyramid: one pass down, exact FFT blurs on small levels, one pass up.

    Example:
        >>> h = torch.ones(1, 1, 64, 64); h[..., 28:36, :] = 0.0   # a groove
        >>> ao = ambient_occlusion(h, radius=0.1, intensity=2.0)
        >>> [round(ao[0, 0, i, 0].item(), 2) for i in (0, 28, 32)]  # plateau, corner, floor
        [1.0, 0.55, 0.89]
    """
    check_image(h, "h", (1,))
    r = param(radius, h, "radius")
    k = param(intensity, h, "intensity")
    if bool((r.detach() <= 0).any()):
        raise ValueError(f"radius: expected > 0, got {radius!r}")
    b, _, hh, ww = h.shape
    sig = (r * (ww * 0.5)).expand(b, 1, 1, 1)  # largest sigma in pixels
    plans = [tuple(pyramid_level(float(s) / (1 << i), hh, ww) for i in range(SCALES))
             for s in sig.detach().reshape(-1).cpu()]
    if len(set(plans)) == 1:
        mean = _multiscale_mean(h, sig, plans[0])
    else:
        mean = torch.cat([_multiscale_mean(h[i:i + 1], sig[i:i + 1], plans[i]) for i in range(b)])
    return rowwise(lambda m, hs: torch.exp((m - hs).clamp_min_(0.0).mul_(-k)), mean, h, grad_inputs=(k,))


def _multiscale_mean(h: torch.Tensor, sig: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """Mean of Gaussian blurs of ``h`` with sigmas ``sig / 2**i`` (px), blurred on pyramid
    ``levels[i]`` and summed while collapsing the pyramid (upsampling is linear)."""
    top = max(levels)
    pyr = [h]
    for _ in range(top):
        pyr.append(downsample2_wrap(pyr[-1]))
    acc = None
    for lv in range(top, -1, -1):
        if acc is not None:
            acc = upsample2_wrap(acc)
        for i, li in enumerate(levels):
            if li != lv:
                continue
            f = 1 << lv
            s = sig / (1 << i)
            var = (s * s - (f * f - 1) / 2.0).clamp_min(0.0) / (f * f)
            y = fft_gaussian(pyr[lv], var)
            acc = y if acc is None else acc + y
    return acc.mul_(1.0 / len(levels))  # type: ignore[union-attr]


class AmbientOcclusion(nn.Module):
    """Module form of :func:`ambient_occlusion` (stores ``radius`` and ``intensity``)."""

    def __init__(self, radius: Scalar = 0.05, intensity: Scalar = 1.0) -> None:
        super().__init__()
        self.radius, self.intensity = radius, intensity

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return ambient_occlusion(h, self.radius, self.intensity)
