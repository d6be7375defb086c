"""Gradient map: a grayscale image through a colour ramp."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_image, rowwise

_MIN_GAP = 1e-6  # two stops closer than this blend over this width (finite slope)


def gradient_map(x: torch.Tensor, colors: torch.Tensor,
                 positions: torch.Tensor | None = None) -> torch.Tensor:
    r"""Map a grayscale image through a piecewise-linear colour ramp.

    Args:
        x: ``(B, 1, H, W)`` in [0, 1].
        colors: ramp stops ``(K, 3)`` shared by the batch or ``(B, K, 3)`` per sample, K >= 2,
            values in [0, 1] (clamped).
        positions: stop positions ``(K,)`` or ``(B, K)`` in [0, 1]; ``None`` puts stop ``k`` at
            ``k / (K - 1)``. Unsorted positions are sorted (their colours move with them).

    Returns:
        ``(B, 3, H, W)`` in [0, 1].

    Convention:
        Pointwise. Below the first stop the first colour holds, above the last the last.
        Differentiable in ``x``, ``colors`` and ``positions`` (between stops).

    Example:
        >>> x = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 1, 3)
        >>> ramp = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0]])
        >>> gradient_map(x, ramp)[0, :, 0, 1].tolist()
        [0.5, 0.25, 0.0]
        >>> gradient_map(x, ramp, positions=torch.tensor([0.5, 1.0]))[0, 0, 0].tolist()
        [0.0, 0.0, 1.0]
    """
    check_image(x, "x", (1,))
    b, _, h, w = x.shape
    if not isinstance(colors, torch.Tensor) or colors.dim() not in (2, 3) or colors.shape[-1] != 3 \
            or colors.shape[-2] < 2:
        raise ValueError(f"colors: expected (K, 3) or (B, K, 3) with K >= 2, got "
                         f"{getattr(colors, 'shape', type(colors).__name__)}")
    if colors.dim() == 3 and colors.shape[0] not in (1, b):
        raise ValueError(f"colors: expected (B, K, 3) with B={b}, got {tuple(colors.shape)}")
    k = colors.shape[-2]
    col = colors.to(device=x.device, dtype=x.dtype).clamp(0.0, 1.0).reshape(-1, k, 3).expand(b, k, 3)
    col = col.transpose(1, 2)  # (B, 3, K)
    pos = None
    if positions is not None:
        if not isinstance(positions, torch.Tensor) or positions.shape[-1] != k or positions.dim() not in (1, 2):
            raise ValueError(f"positions: expected (K,) or (B, K) with K={k}, got "
                             f"{getattr(positions, 'shape', type(positions).__name__)}")
        if positions.dim() == 2 and positions.shape[0] not in (1, b):
            raise ValueError(f"positions: expected (B, K) with B={b}, got {tuple(positions.shape)}")
        pos = positions.to(device=x.device, dtype=x.dtype).reshape(-1, k).expand(b, k)
        pos, order = torch.sort(pos, dim=1)
        col = torch.gather(col, 2, order.unsqueeze(1).expand(b, 3, k))
    return rowwise(lambda xs: _apply(xs, col, pos), x, grad_inputs=(col, pos))


def _apply(x: torch.Tensor, col: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    b, _, h, w = x.shape
    k = col.shape[-1]
    t = x.reshape(b, 1, -1).clamp(0.0, 1.0)  # (B, 1, N)
    if pos is None:
        u = t * (k - 1)
        i = u.detach().floor().clamp_(0, k - 2).long()
        f = u - i.to(u.dtype)
    else:
        i = torch.searchsorted(pos.detach().contiguous(), t.detach().reshape(b, -1), right=True)
        i = i.sub_(1).clamp_(0, k - 2).unsqueeze(1)  # (B, 1, N)
        p0 = torch.gather(pos.unsqueeze(1), 2, i)
        p1 = torch.gather(pos.unsqueeze(1), 2, i + 1)
        f = ((t - p0) / (p1 - p0).clamp_min(_MIN_GAP)).clamp(0.0, 1.0)
    idx = i.expand(b, 3, i.shape[-1])
    c0 = torch.gather(col, 2, idx)
    c1 = torch.gather(col, 2, idx + 1)
    return torch.lerp(c0, c1, f.expand_as(c0)).reshape(b, 3, h, w)


class GradientMap(nn.Module):
    """Module form of :func:`gradient_map` (stores ``colors`` and ``positions``)."""

    def __init__(self, colors: torch.Tensor, positions: torch.Tensor | None = None) -> None:
        super().__init__()
        self.colors = colors
        self.positions = positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gradient_map(x, self.colors, self.positions)
