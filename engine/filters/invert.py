"""Invert: ``1 - x``."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_image


def invert(x: torch.Tensor) -> torch.Tensor:
    r"""Invert an image.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].

    Returns:
        ``(B, C, H, W)``: ``1 - x`` (in [0, 1] for inputs in [0, 1]).

    Convention:
        Pointwise; no clamping (the input range is kept mirrored).

    Example:
        >>> invert(torch.tensor([0.0, 0.25, 1.0]).reshape(1, 1, 1, 3)).flatten().tolist()
        [1.0, 0.75, 0.0]
    """
    check_image(x)
    return 1.0 - x


class Invert(nn.Module):
    """Module form of :func:`invert`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return invert(x)
