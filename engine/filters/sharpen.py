"""Unsharp-mask sharpening."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, param
from .blur import gaussian_blur_px


def sharpen(x: torch.Tensor, amount: Scalar = 1.0, radius: Scalar = 0.002) -> torch.Tensor:
    r"""Sharpen with an unsharp mask: ``clamp(x + amount * (x - blur(x, radius)))``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        amount: strength (float or ``(B,)`` tensor); 0 returns ``x``, typical 0.5 to 3;
            negative values soften.
        radius: Gaussian sigma of the mask as a fraction of the texture width (see
            :func:`~diffproxy.filters.blur.blur`).

    Returns:
        ``(B, C, H, W)`` in [0, 1].

    Convention:
        Circular border (tileable in, tileable out); resolution-independent through
        ``radius``; the result is clamped to [0, 1] (gradient 0 where it is cut).

    Example:
        >>> x = torch.zeros(1, 1, 16, 16); x[..., 4:12, 4:12] = 0.5
        >>> y = sharpen(x, amount=1.0, radius=1.0 / 16)
        >>> bool(y[0, 0, 8, 4] > 0.5 and y[0, 0, 8, 3] < 0.01)  # overshoot inside the edge
        True
    """
    check_image(x)
    a = param(amount, x, "amount")
    soft = gaussian_blur_px(x, param(radius, x, "radius") * x.shape[-1])
    # x + a * (x - soft), computed into the blur's fresh buffer
    return torch.lerp(soft, x, 1.0 + a).clamp_(0.0, 1.0)


class Sharpen(nn.Module):
    """Module form of :func:`sharpen` (stores ``amount`` and ``radius``)."""

    def __init__(self, amount: Scalar = 1.0, radius: Scalar = 0.002) -> None:
        super().__init__()
        self.amount, self.radius = amount, radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sharpen(x, self.amount, self.radius)
