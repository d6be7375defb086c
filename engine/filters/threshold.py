"""Soft threshold (histogram scan)."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, param

_MIN_WIDTH = 1e-3  # contrast 1 still leaves a ramp this wide (finite slope, gradients)


def threshold(x: torch.Tensor, position: Scalar = 0.5, contrast: Scalar = 0.9) -> torch.Tensor:
    r"""Soft threshold: a linear ramp of width ``1 - contrast`` centred on ``position``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        position: the threshold level (float or ``(B,)``): values above it go towards 1,
            below it towards 0. Moving it up makes the image darker.
        contrast: in [0, 1]: 0 is a plain ramp of width 1 (with ``position = 0.5`` the
            identity), 1 a hard step (kept to a ramp of width 1e-3).

    Returns:
        ``(B, C, H, W)`` in [0, 1]: ``clamp((x - position) / w + 0.5)`` with
        ``w = max(1 - contrast, 1e-3)``.

    Convention:
        Pointwise. Differentiable in ``x``, ``position`` and ``contrast`` for pixels inside
        the ramp; pixels already saturated at 0 or 1 pass no gradient (as in Substance's
        histogram scan).

    Example:
        >>> x = torch.tensor([0.0, 0.45, 0.5, 0.55, 1.0]).reshape(1, 1, 1, 5)
        >>> [round(v, 4) for v in threshold(x, 0.5, 0.9).flatten().tolist()]
        [0.0, 0.0, 0.5, 1.0, 1.0]
        >>> [round(v, 4) for v in threshold(x, 0.5, 0.0).flatten().tolist()]
        [0.0, 0.45, 0.5, 0.55, 1.0]
    """
    check_image(x)
    p = param(position, x, "position")
    w = (1.0 - param(contrast, x, "contrast")).clamp_min(_MIN_WIDTH)
    return (x - p).div_(w).add_(0.5).clamp_(0.0, 1.0)


class Threshold(nn.Module):
    """Module form of :func:`threshold` (stores ``position`` and ``contrast``)."""

    def __init__(self, position: Scalar = 0.5, contrast: Scalar = 0.9) -> None:
        super().__init__()
        self.position, self.contrast = position, contrast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return threshold(x, self.position, self.contrast)
