"""Wrap-aware resizing of periodic images (a proxy's output to the caller's resolution).

The image is treated as one period of a tiling: a resampling kernel that runs off one edge
reads the opposite edge, so a resized tile still tiles. Resizing is separable and linear, done
as ``M_h @ x @ M_w^T`` with a ``(size, src)`` matrix per axis: any ratio (up or down), exact
wrap-around, and differentiable by construction.

Convention: pixel centres at ``(i + 0.5) / size`` of the unit tile on both sides; shrinking
widens the kernel by the ratio (antialiasing, like PIL); ``"cubic"`` (Keys, a = -0.5) can
overshoot, so its result is clamped back to [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import torch

KERNELS = ("linear", "cubic")


def _kernel(x: torch.Tensor, kind: str) -> torch.Tensor:
    x = x.abs()
    if kind == "linear":
        return (1.0 - x).clamp(min=0.0)
    a = -0.5  # Keys' cubic convolution, the usual "bicubic"
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x <= 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


@lru_cache(maxsize=64)
def _matrix_cpu(src: int, size: int, kind: str) -> torch.Tensor:
    scale = max(1.0, src / size)  # kernel stretch when shrinking
    radius = (1.0 if kind == "linear" else 2.0) * scale
    centre = (torch.arange(size, dtype=torch.float64) + 0.5) * src / size - 0.5  # in source pixels
    taps = torch.arange(-int(radius) - 1, int(radius) + 2, dtype=torch.float64)
    j = torch.floor(centre)[:, None] + taps[None, :]  # (size, T) source indices, unwrapped
    w = _kernel((j - centre[:, None]) / scale, kind)
    w = w / w.sum(dim=1, keepdim=True)
    m = torch.zeros(size, src, dtype=torch.float64)
    m.scatter_add_(1, j.long() % src, w)  # wrap: taps past an edge land on the other side
    return m


def resize_matrix(src: int, size: int, kind: str = "cubic", device=None,
                  dtype=torch.float32) -> torch.Tensor:
    """``(size, src)`` matrix resampling one periodic axis of ``src`` pixels to ``size``."""
    if kind not in KERNELS:
        raise ValueError(f"kind must be one of {KERNELS}, got {kind!r}")
    if src < 1 or size < 1:
        raise ValueError(f"sizes must be positive, got src={src}, size={size}")
    return _matrix_cpu(int(src), int(size), kind).to(device=device, dtype=dtype)


def wrap_resize(x: torch.Tensor, size: int, kind: str = "cubic") -> torch.Tensor:
    """Resize a periodic square image batch.

    Args:
        x: ``(B, C, H, W)`` in [0, 1], one period of a tiling.
        size: output side in pixels.
        kind: ``"linear"`` or ``"cubic"``.

    Returns:
        ``(B, C, size, size)`` in [0, 1], tileable; ``x`` itself when already that size.

    Example:
        >>> wrap_resize(torch.rand(2, 1, 16, 16), 40).shape
        torch.Size([2, 1, 40, 40])
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    mh = resize_matrix(h, size, kind, x.device, x.dtype)
    mw = mh if w == h else resize_matrix(w, size, kind, x.device, x.dtype)
    y = mh @ x @ mw.t()
    return y.clamp(0.0, 1.0) if kind == "cubic" else y
