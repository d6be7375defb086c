"""Levels: input range, midtone gamma, output range."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, is_const, needs_grad, param, rowwise

_MIN_RANGE = 1e-4  # |in_high - in_low| below this is treated as this (a near-step, finite slope)


def levels(x: torch.Tensor, in_low: Scalar = 0.0, in_high: Scalar = 1.0, gamma: Scalar = 1.0,
           out_low: Scalar = 0.0, out_high: Scalar = 1.0) -> torch.Tensor:
    r"""Remap values: ``[in_low, in_high] -> [0, 1]``, midtone gamma, ``[0, 1] -> [out_low, out_high]``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        in_low, in_high: input range (floats or ``(B,)`` tensors); ``in_low > in_high`` inverts.
        gamma: midtone exponent ``> 0``: ``t -> t ** (1 / gamma)``, so ``gamma > 1`` brightens
            the midtones and ``gamma < 1`` darkens them (Photoshop's convention).
        out_low, out_high: output range; ``out_low > out_high`` inverts.

    Returns:
        ``(B, C, H, W)`` in [0, 1]:
        ``clamp(out_low + (out_high - out_low) * t ** (1 / gamma))`` with
        ``t = clamp((x - in_low) / (in_high - in_low), 0, 1)``.

    Convention:
        Pointwise. Monotone non-decreasing in ``x`` when ``in_low < in_high`` and
        ``out_low <= out_high``. An input range narrower than 1e-4 is widened to 1e-4 (keeps
        the slope finite). Black goes through the gamma as the smallest normal float (float32:
        below 2e-4 for any gamma <= 10) with zero gradient: no NaN at black.

    Example:
        >>> x = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 1, 4)
        >>> levels(x, in_low=0.25, in_high=0.75).flatten().tolist()
        [0.0, 0.0, 0.5, 1.0]
        >>> levels(x, gamma=2.0)[0, 0, 0, 1].item()
        0.5
    """
    check_image(x)
    lo = param(in_low, x, "in_low")
    span = param(in_high, x, "in_high") - lo
    span = torch.where(span.abs() < _MIN_RANGE, torch.where(span < 0, -_MIN_RANGE, _MIN_RANGE), span)
    g = None
    if not is_const(gamma, 1.0):
        g = param(gamma, x, "gamma")
        if bool((g.detach() <= 0).any()):
            raise ValueError(f"gamma: expected > 0, got {gamma}")
    out = None
    if not (is_const(out_low, 0.0) and is_const(out_high, 1.0)):
        o_lo = param(out_low, x, "out_low")
        out = (o_lo, param(out_high, x, "out_high") - o_lo)
    grads = (lo, span, g) + (out or ())
    return rowwise(lambda xs: _apply(xs, lo, span, g, out, not needs_grad(xs, *grads)), x,
                   grad_inputs=grads)


def _apply(x: torch.Tensor, lo: torch.Tensor, span: torch.Tensor, g: torch.Tensor | None,
           out: tuple[torch.Tensor, torch.Tensor] | None, inplace: bool) -> torch.Tensor:
    t = (x - lo).div_(span).clamp_(0.0, 1.0)
    if g is not None:
        # t ** (1 / g) as exp(log(t) / g), faster than pow; black is raised to the smallest
        # normal float first (no log(0)): float32 1.2e-38 ** (1/10) = 1.6e-4
        t = t.clamp_min_(torch.finfo(t.dtype).tiny)
        t = t.log_().div_(g).exp_() if inplace else torch.exp(torch.log(t) / g)
    if out is None:
        return t
    return (t * out[1]).add_(out[0]).clamp_(0.0, 1.0)


class Levels(nn.Module):
    """Module form of :func:`levels` (stores the five parameters)."""

    def __init__(self, in_low: Scalar = 0.0, in_high: Scalar = 1.0, gamma: Scalar = 1.0,
                 out_low: Scalar = 0.0, out_high: Scalar = 1.0) -> None:
        super().__init__()
        self.in_low, self.in_high, self.gamma = in_low, in_high, gamma
        self.out_low, self.out_high = out_low, out_high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return levels(x, self.in_low, self.in_high, self.gamma, self.out_low, self.out_high)
