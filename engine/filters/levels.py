"""Levels: input range, midtone gamma, output range."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, is_const, param

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
        the slope finite). ``0 ** p`` is 0 with zero gradient (no NaN at black).

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
    t = (x - lo).div_(span).clamp_(0.0, 1.0)
    if not is_const(gamma, 1.0):
        g = param(gamma, x, "gamma")
        if bool((g.detach() <= 0).any()):
            raise ValueError(f"gamma: expected > 0, got {gamma}")
        positive = t > 0
        t = torch.where(positive, t.clamp_min(1e-12).pow(1.0 / g), torch.zeros_like(t))
    if is_const(out_low, 0.0) and is_const(out_high, 1.0):
        return t
    o_lo = param(out_low, x, "out_low")
    return (t * (param(out_high, x, "out_high") - o_lo)).add_(o_lo).clamp_(0.0, 1.0)


class Levels(nn.Module):
    """Module form of :func:`levels` (stores the five parameters)."""

    def __init__(self, in_low: Scalar = 0.0, in_high: Scalar = 1.0, gamma: Scalar = 1.0,
                 out_low: Scalar = 0.0, out_high: Scalar = 1.0) -> None:
        super().__init__()
        self.in_low, self.in_high, self.gamma = in_low, in_high, gamma
        self.out_low, self.out_high = out_low, out_high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return levels(x, self.in_low, self.in_high, self.gamma, self.out_low, self.out_high)
