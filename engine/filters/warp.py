"""Warps: displace an image along the gradient of a source, or along a fixed direction."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import Scalar, base_grid, check_image, gradient, param, resample_wrap


def warp(x: torch.Tensor, source: torch.Tensor, intensity: Scalar = 0.01) -> torch.Tensor:
    r"""Push ``x`` along the gradient of ``source``.

    ``out(p) = x(p - intensity * grad(source)(p))``: content moves towards where ``source``
    increases (positions ``p`` in texture widths).

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        source: ``(B, 1, H, W)`` (or batch 1, shared) in [0, 1], e.g. a noise.
        intensity: float or ``(B,)`` tensor; the displacement in texture widths per unit of
            source gradient, the gradient being measured in source value per texture width.
            Example: a noise rising by 1 over a tenth of the texture has gradient 10, so
            ``intensity = 0.005`` moves content by 0.05 of the texture.

    Returns:
        ``(B, C, H, W)``, in the range of ``x`` (bilinear sampling).

    Convention:
        Circular border: positions wrap, so tileable inputs stay tileable.
        Resolution-independent for smooth sources (the gradient is a central difference
        divided by the pixel size ``1 / W``); ``+y`` is up. Differentiable in ``x``,
        ``source`` and ``intensity``.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8); x[..., 3, 3] = 1.0
        >>> ramp = (torch.arange(8.0) / 8).reshape(1, 1, 1, 8).expand(1, 1, 8, 8)
        >>> y = warp(x, ramp.contiguous(), 1.0 / 8)  # interior gradient 1 -> one pixel right
        >>> y[0, 0, 3, 4].item()
        1.0
    """
    check_image(x)
    _check_source(source, x)
    k = param(intensity, x, "intensity")
    gx, gy = gradient(source)
    # displacement in pixels: columns += d_x * W, rows -= d_y * W (y is up)
    scale = k.reshape(-1, 1, 1) * x.shape[-1]
    return _displace(x, gx[:, 0] * scale, gy[:, 0] * (-scale))


def directional_warp(x: torch.Tensor, source: torch.Tensor, intensity: Scalar = 0.05,
                     angle: Scalar = 0.0) -> torch.Tensor:
    r"""Push ``x`` in a fixed direction by an amount set by ``source``.

    ``out(p) = x(p - intensity * source(p) * (cos 2 pi angle, sin 2 pi angle))``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        source: ``(B, 1, H, W)`` (or batch 1) in [0, 1]: where it is 1 the content moves by
            ``intensity``.
        intensity: the largest displacement, in texture widths (float or ``(B,)``).
        angle: direction in turns, counter-clockwise from ``+x`` (right) with ``+y`` up:
            0 right, 0.25 up, 0.5 left, 0.75 down (float or ``(B,)``).

    Returns:
        ``(B, C, H, W)``, in the range of ``x``.

    Convention:
        Circular border; resolution-independent; differentiable in ``x``, ``source``,
        ``intensity`` and ``angle``.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8); x[..., 3, 3] = 1.0
        >>> y = directional_warp(x, torch.ones(1, 1, 8, 8), 1.0 / 8, angle=0.25)  # up 1 px
        >>> y[0, 0, 2, 3].item()
        1.0
    """
    check_image(x)
    _check_source(source, x)
    k = param(intensity, x, "intensity").reshape(-1, 1, 1) * x.shape[-1]
    a = param(angle, x, "angle").reshape(-1, 1, 1) * (2.0 * math.pi)
    s = source[:, 0]
    return _displace(x, s * (k * torch.cos(a)), s * (-k * torch.sin(a)))


def _check_source(source: torch.Tensor, x: torch.Tensor) -> None:
    check_image(source, "source", (1,))
    if source.shape[0] not in (1, x.shape[0]) or source.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"source: expected (B, 1, H, W) = ({x.shape[0]}, 1, {x.shape[-2]}, "
                         f"{x.shape[-1]}), got {tuple(source.shape)}")


def _displace(x: torch.Tensor, dcol: torch.Tensor, drow: torch.Tensor) -> torch.Tensor:
    """``out[r, c] = x(r - drow, c - dcol)`` (pixels, wrapped); ``dcol, drow``: ``(B', H, W)``."""
    b, _, h, w = x.shape

    def coords(r0: int, r1: int, _t: int) -> torch.Tensor:
        d = torch.stack((dcol[:, r0:r1], drow[:, r0:r1]), dim=-1)
        c = base_grid(r1 - r0, w, x, r0) - d
        return c if c.shape[0] == b else c.expand(b, r1 - r0, w, 2)

    return resample_wrap(x, coords, grad_inputs=(dcol, drow))


class Warp(nn.Module):
    """Module form of :func:`warp` (stores ``intensity``)."""

    def __init__(self, intensity: Scalar = 0.01) -> None:
        super().__init__()
        self.intensity = intensity

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return warp(x, source, self.intensity)


class DirectionalWarp(nn.Module):
    """Module form of :func:`directional_warp` (stores ``intensity`` and ``angle``)."""

    def __init__(self, intensity: Scalar = 0.05, angle: Scalar = 0.0) -> None:
        super().__init__()
        self.intensity, self.angle = intensity, angle

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return directional_warp(x, source, self.intensity, self.angle)
