"""Slope blur: smear an image along the gradient of a slope map."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, base_grid, check_image, gradient, param, resample_wrap


def slope_blur(x: torch.Tensor, slope: torch.Tensor, intensity: Scalar = 0.01,
               samples: int = 8) -> torch.Tensor:
    r"""Average ``x`` along a segment that follows the gradient of ``slope``.

    ``out(p) = mean_k x(p - t_k * v(p))`` with ``v = intensity * grad(slope)`` and
    ``t_k = (k + 0.5) / samples`` (the midpoint rule over the segment from ``p`` to
    ``p - v``): content is smeared up the slope for a positive intensity, down for a
    negative one; flat regions of ``slope`` stay sharp.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        slope: ``(B, 1, H, W)`` (or batch 1) in [0, 1].
        intensity: float or ``(B,)``: the smear length in texture widths per unit of slope
            gradient (gradient in slope value per texture width, as in
            :func:`~diffproxy.filters.warp.warp`).
        samples: python int >= 1, the number of taps along the segment (cost grows with it).

    Returns:
        ``(B, C, H, W)``, in the range of ``x``.

    Convention:
        Circular border (tileable in, tileable out); resolution-independent for a smooth
        ``slope``; differentiable in ``x``, ``slope`` and ``intensity``.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8); x[..., 3, 3] = 1.0
        >>> ramp = (torch.arange(8.0) / 8).reshape(1, 1, 1, 8).expand(1, 1, 8, 8).contiguous()
        >>> y = slope_blur(x, ramp, 2.0 / 8, samples=2)  # taps 0.5 and 1.5 px to the left
        >>> [round(v, 3) for v in y[0, 0, 3, 3:6].tolist()]
        [0.25, 0.5, 0.25]
    """
    check_image(x)
    check_image(slope, "slope", (1,))
    if slope.shape[0] not in (1, x.shape[0]) or slope.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"slope: expected (B, 1, H, W) = ({x.shape[0]}, 1, {x.shape[-2]}, "
                         f"{x.shape[-1]}), got {tuple(slope.shape)}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: expected a python int >= 1, got {samples!r}")
    b, _, h, w = x.shape
    k = param(intensity, x, "intensity").reshape(-1, 1, 1) * w
    gx, gy = gradient(slope)
    # segment vector in pixels as (column, row); rows grow downwards, y is up
    v = torch.stack((gx[:, 0] * k, gy[:, 0] * (-k)), dim=-1)
    if v.shape[0] != b:
        v = v.expand(b, h, w, 2)

    def coords(r0: int, r1: int, tap: int) -> torch.Tensor:
        return torch.sub(base_grid(r1 - r0, w, x, r0), v[:, r0:r1], alpha=(tap + 0.5) / samples)

    return resample_wrap(x, coords, taps=samples, grad_inputs=(v,))


class SlopeBlur(nn.Module):
    """Module form of :func:`slope_blur` (stores ``intensity`` and ``samples``)."""

    def __init__(self, intensity: Scalar = 0.01, samples: int = 8) -> None:
        super().__init__()
        self.intensity, self.samples = intensity, samples

    def forward(self, x: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
        return slope_blur(x, slope, self.intensity, self.samples)
