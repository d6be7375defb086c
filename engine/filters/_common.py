"""Shared helpers of the filter nodes: argument checks, per-sample parameters, wrap-around
sampling and finite differences.

Conventions shared by every filter
----------------------------------
* Images are ``(B, C, H, W)`` floats in [0, 1]; pixels are square; the texture is one period
  of a tileable pattern, so every neighbourhood operation wraps around (circular border).
* Spatial sizes are fractions of the texture *width* (``W`` pixels = 1.0), so the same
  parameters give the same look at any resolution.
* Directions use texture coordinates: ``+x`` to the right (increasing column), ``+y`` *up*
  (towards the top of the image, i.e. decreasing row), the OpenGL normal-map convention.
* A continuous parameter is a python number or a tensor with 1 or ``B`` elements; it is turned
  into a ``(B or 1, 1, 1, 1)`` tensor on the image's device and dtype, so gradients reach it.
"""

from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F

Scalar = Union[float, int, torch.Tensor]


def check_image(x: torch.Tensor, name: str = "x", channels: tuple[int, ...] | None = None) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``x`` is a floating ``(B, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    if channels is not None and x.shape[1] not in channels:
        raise ValueError(f"{name}: expected C in {channels}, got shape {tuple(x.shape)}")


def param(value: Scalar, x: torch.Tensor, name: str) -> torch.Tensor:
    """A python number or a tensor of 1 or B elements -> ``(B or 1, 1, 1, 1)`` on ``x``'s
    device and dtype (differentiable)."""
    if isinstance(value, torch.Tensor):
        b = x.shape[0]
        if value.numel() not in (1, b):
            raise ValueError(f"{name}: expected a float or a (B,) tensor with B={b}, "
                             f"got shape {tuple(value.shape)}")
        return value.to(device=x.device, dtype=x.dtype).reshape(-1, 1, 1, 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a float or a (B,) tensor, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return torch.full((1, 1, 1, 1), float(value), device=x.device, dtype=x.dtype)


def is_const(value: Scalar, const: float) -> bool:
    """True when ``value`` is a python number equal to ``const`` (lets a filter skip work)."""
    return not isinstance(value, torch.Tensor) and float(value) == const


def per_sample(value: Scalar, batch: int, name: str) -> list[float]:
    """Detached python values of a parameter, one per sample (for discrete choices)."""
    if isinstance(value, torch.Tensor):
        if value.numel() not in (1, batch):
            raise ValueError(f"{name}: expected a number or a (B,) tensor with B={batch}, "
                             f"got shape {tuple(value.shape)}")
        vals = [float(v) for v in value.detach().reshape(-1).cpu()]
        return vals * batch if len(vals) == 1 else vals
    return [float(value)] * batch


def clamp01(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1]; gradient 1 inside the range, 0 where the value is cut."""
    return x.clamp(0.0, 1.0)


def gray(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, 1, H, W)``: the channel mean (identity for C=1)."""
    return x if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)


def gradient(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences of ``s (B, 1, H, W)`` with wrap-around, in units of value per
    texture width: ``(ds/dx, ds/dy)`` with ``+x`` right and ``+y`` up (towards row 0).

    Resolution-independent for a smooth ``s``: the pixel step is ``1 / W`` texture widths.
    """
    w = s.shape[-1]
    half = 0.5 * w
    # pad once, then take shifted views: two full-size temporaries instead of four rolls
    p = F.pad(s, (1, 1, 1, 1), mode="circular")
    dx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]).mul_(half)
    dy = (p[..., :-2, 1:-1] - p[..., 2:, 1:-1]).mul_(half)
    return dx, dy


def base_grid(h: int, w: int, like: torch.Tensor, row0: int = 0) -> torch.Tensor:
    """Pixel-centre coordinates ``(1, h, w, 2)`` as (column, row), rows ``row0 .. row0+h-1``,
    on ``like``'s device and dtype."""
    cols = torch.arange(w, device=like.device, dtype=like.dtype)
    rows = torch.arange(row0, row0 + h, device=like.device, dtype=like.dtype)
    return torch.stack(torch.meshgrid(cols, rows, indexing="xy"), dim=-1).unsqueeze(0)


def sample_wrap(x: torch.Tensor, coords: torch.Tensor, padded: bool = False) -> torch.Tensor:
    """Bilinear sampling with wrap-around.

    Args:
        x: ``(B, C, H, W)`` image, or the same circularly padded by one pixel on every side
            (``padded=True``; lets a caller that samples many times pad once).
        coords: ``(B, H', W', 2)`` sampling positions in pixel units of the unpadded image as
            (column, row); pixel centres are at whole numbers; any real value is allowed (it
            wraps).

    Returns:
        ``(B, C, H', W')``, differentiable w.r.t. ``x`` and ``coords``.
    """
    if padded:
        h, w = x.shape[-2] - 2, x.shape[-1] - 2
        xp = x
    else:
        h, w = x.shape[-2:]
        xp = F.pad(x, (1, 1, 1, 1), mode="circular")
    # wrap into [0, size), shift by the pad, normalise for align_corners=True on the padded image
    if h == w:  # remainder by a scalar is ~10x faster than by a broadcast tensor
        g = torch.remainder(coords, float(w)).add_(1.0).mul_(2.0 / (w + 1.0)).sub_(1.0)
    else:
        size = torch.tensor([w, h], device=coords.device, dtype=coords.dtype)
        g = coords - torch.floor(coords / size) * size
        g = g.add_(1.0).mul_(2.0 / (size + 1.0)).sub_(1.0)
    return F.grid_sample(xp, g, mode="bilinear", padding_mode="border", align_corners=True)


# Pointwise filters with many temporaries run over row strips of about this many values when
# no gradient is needed: temporaries stay small (cache-friendly, recycled by the allocator
# instead of fresh page-faulted memory) and the peak memory is one output image.
STRIP_VALUES = 1 << 20


def needs_grad(*ts: object) -> bool:
    """True when autograd will record an op on any of the tensors among ``ts``."""
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in ts)


def rowwise(fn, *images: torch.Tensor, grad_inputs: tuple = ()) -> torch.Tensor:
    """``fn(*images)`` for a pointwise ``fn``, evaluated over strips of rows when no gradient
    is needed (``images`` share B, H, W; ``grad_inputs`` lists the other tensors ``fn`` uses).
    The result is the same as one call; only memory traffic changes."""
    first = images[0]
    h, w = first.shape[-2:]
    per_row = first.shape[0] * max(i.shape[1] for i in images) * w
    rows = max(1, STRIP_VALUES // max(per_row, 1))
    if rows >= h or needs_grad(*images, *grad_inputs):
        return fn(*images)
    out = None
    for s in range(0, h, rows):
        y = fn(*(i[..., s:s + rows, :] for i in images))
        if out is None:
            out = y.new_empty(y.shape[:-2] + (h, w))
        out[..., s:s + rows, :] = y
    return out  # type: ignore[return-value]


def resample_wrap(x: torch.Tensor, coords_fn, taps: int = 1, grad_inputs: tuple = ()) -> torch.Tensor:
    """Mean over ``taps`` wrap-around bilinear samplings of ``x (B, C, H, W)``.

    ``coords_fn(r0, r1, t)`` returns the ``(B, r1 - r0, W, 2)`` sampling positions (as in
    :func:`sample_wrap`) of output rows ``r0 .. r1-1`` for tap ``t``. Without gradients the
    output is built in strips of rows, so the coordinate grids stay small.
    """
    b, c, h, w = x.shape
    xp = F.pad(x, (1, 1, 1, 1), mode="circular")  # padded once for every strip and tap
    rows = h if needs_grad(x, *grad_inputs) else max(1, STRIP_VALUES // (b * w * max(c, 2)))
    out = None
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        acc = None
        for t in range(taps):
            tap = sample_wrap(xp, coords_fn(r0, r1, t), padded=True)
            acc = tap if acc is None else acc.add_(tap)
        if taps > 1:
            acc = acc.mul_(1.0 / taps)  # type: ignore[union-attr]
        if rows >= h:
            return acc  # type: ignore[return-value]
        if out is None:
            out = x.new_empty(b, c, h, w)
        out[..., r0:r1, :] = acc
    return out  # type: ignore[return-value]
