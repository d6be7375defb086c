"""Monotone tone curve through K evenly spaced knots."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_image, rowwise

INTERPOLATIONS = ("linear", "cubic")
CUBIC_TABLE = 1025  # samples of the cubic; linear in between (measured deviation < 2e-5 for K <= 16)


def curve(x: torch.Tensor, values: torch.Tensor, interpolation: str = "linear") -> torch.Tensor:
    r"""Apply a monotone non-decreasing curve ``[0, 1] -> [0, 1]``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1] (values outside are clamped first).
        values: knot outputs, ``(K,)`` shared by the batch or ``(B, K)`` per sample, K >= 2;
            knot ``k`` sits at input ``k / (K - 1)``.
        interpolation: ``"linear"`` (piecewise linear) or ``"cubic"`` (monotone cubic Hermite,
            Fritsch-Butland slopes: smooth, never overshoots; tabulated at 1025 inputs and
            read linearly, so it costs the same per pixel as ``"linear"``).

    Returns:
        ``(B, C, H, W)`` in [0, 1].

    Convention:
        Pointwise. The knots are clamped to [0, 1] and made monotone by a running maximum
        (``cummax``: a knot lower than an earlier one is lifted to it), so the curve is
        non-decreasing whatever ``values`` holds; gradients flow to the knots that set the
        output (a lifted knot passes its gradient to the knot it copies).

    Example:
        >>> x = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 1, 4)
        >>> curve(x, torch.tensor([0.0, 0.8, 1.0])).flatten().tolist()
        [0.0, 0.4000000059604645, 0.800000011920929, 1.0]
        >>> curve(x, torch.tensor([0.5, 0.2, 1.0])).flatten().tolist()  # made monotone
        [0.5, 0.5, 0.5, 1.0]
    """
    check_image(x)
    if not isinstance(values, torch.Tensor) or values.dim() not in (1, 2) or values.shape[-1] < 2:
        raise ValueError(f"values: expected a (K,) or (B, K) tensor with K >= 2, got "
                         f"{getattr(values, 'shape', type(values).__name__)}")
    if values.dim() == 2 and values.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"values: expected (B, K) with B={x.shape[0]}, got {tuple(values.shape)}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
    b, k = x.shape[0], values.shape[-1]
    v = values.to(device=x.device, dtype=x.dtype).clamp(0.0, 1.0)
    v = torch.cummax(v, dim=-1).values.reshape(-1, k).expand(b, k)
    if interpolation == "cubic":
        # the cubic is tabulated finely (differentiably) and the image goes through the table
        # linearly: pixels cost the same as "linear"
        grid = torch.linspace(0.0, 1.0, CUBIC_TABLE, device=x.device, dtype=x.dtype).expand(b, -1)
        v = _lookup(grid, v, _monotone_slopes(v))
    return rowwise(lambda xs: _lookup(xs.reshape(b, -1), v).reshape(xs.shape), x, grad_inputs=(v,))


def _lookup(x: torch.Tensor, v: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """``x (B, N)`` through the knots ``v (B, K)`` (linear, or Hermite with slopes ``m``)."""
    k = v.shape[-1]
    t = x.clamp(0.0, 1.0).mul_(k - 1)
    i = t.detach().floor().clamp_(0, k - 2).long()
    f = t - i.to(t.dtype)
    v0 = torch.gather(v, 1, i)
    i1 = i + 1
    v1 = torch.gather(v, 1, i1)
    if m is None:
        return torch.lerp(v0, v1, f)
    m0 = torch.gather(m, 1, i)  # slopes in output per knot spacing
    m1 = torch.gather(m, 1, i1)
    # Hermite basis: v0 h00 + m0 h10 + v1 h01 + m1 h11
    f2 = f * f
    f3 = f2 * f
    h01 = 3 * f2 - 2 * f3
    return v0 * (1 - h01) + v1 * h01 + m0 * (f3 - 2 * f2 + f) + m1 * (f3 - f2)


def _monotone_slopes(v: torch.Tensor) -> torch.Tensor:
    """Fritsch-Butland knot slopes for a non-decreasing ``v (B, K)``: the harmonic mean of the
    neighbouring secants inside (0 where either is flat), one-sided secants at the ends.
    These slopes keep every Hermite segment monotone and inside its knot values."""
    d = v[:, 1:] - v[:, :-1]  # secants, >= 0
    a, b = d[:, :-1], d[:, 1:]
    s = a + b
    inner = torch.where(s > 0, 2 * a * b / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))
    return torch.cat([d[:, :1], inner, d[:, -1:]], dim=1)


class Curve(nn.Module):
    """Module form of :func:`curve` (stores the knot ``values``)."""

    def __init__(self, values: torch.Tensor, interpolation: str = "linear") -> None:
        super().__init__()
        self.values = values
        self.interpolation = interpolation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return curve(x, self.values, self.interpolation)
