"""Edge detection: lines of a given width along the edges of a (mostly two-tone) image."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import Scalar, check_image, gradient, gray, param, rowwise
from .blur import gaussian_blur_px

_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))  # full width at half maximum / sigma
_MIN_SOFTNESS = 1e-3


def edge_detect(x: torch.Tensor, width: Scalar = 0.01, softness: Scalar = 0.5) -> torch.Tensor:
    r"""Draw lines along the edges of ``x``.

    The image (channel mean if C=3) is blurred by a Gaussian of sigma ``width / 2.355``;
    its gradient magnitude, normalised so that a clean 0-to-1 step gives a bump of height 1
    and full width at half maximum ``width`` across the edge, is shaped by ``softness``:
    ``out = clamp((e - 0.5) / softness + 0.5)``.

    Args:
        x: ``(B, C, H, W)`` in [0, 1], ideally a mask (tile shapes, cells...).
        width: line width as a fraction of the texture width (float or ``(B,)``), > 0.
        softness: in (0, 1] (float or ``(B,)``): 1 gives the Gaussian profile itself,
            towards 0 a hard-edged line exactly ``width`` wide (kept >= 1e-3).

    Returns:
        ``(B, 1, H, W)`` in [0, 1]: 1 on edges, 0 in flat regions. A step of height ``d``
        gives a line of peak ``d`` (softness 1); weak gradients fade out.

    Convention:
        Circular border (tileable in, tileable out); resolution-independent for lines at
        least about 3 pixels wide (thinner lines lose contrast at low resolution);
        differentiable in ``x``, ``width`` and ``softness``.

    Example:
        >>> x = torch.zeros(1, 1, 64, 64); x[..., :, 16:48] = 1.0
        >>> e = edge_detect(x, width=4 / 64, softness=1.0)
        >>> bool(e[0, 0, 10, 16] > 0.85 and e[0, 0, 10, 32] < 0.01)  # on the edge, far away
        True
    """
    check_image(x)
    wd = param(width, x, "width")
    if bool((wd.detach() <= 0).any()):
        raise ValueError(f"width: expected > 0, got {width!r}")
    sigma = wd * (1.0 / _FWHM)  # texture widths
    # central differences of the blur (not the exact spectral derivative): at low resolution
    # they average over two pixels, which matches a high-resolution render viewed smaller
    gx, gy = gradient(gaussian_blur_px(gray(x), sigma * x.shape[-1]))
    # |grad| * sigma * sqrt(2 pi): a unit step gives exp(-d^2 / (2 sigma^2)), peak 1
    peak = sigma * math.sqrt(2.0 * math.pi)
    s = param(softness, x, "softness").clamp_min(_MIN_SOFTNESS)

    def shape(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        e = torch.sqrt((a * a).addcmul_(b, b).add_(1e-12)) * peak
        return e.sub_(0.5).div_(s).add_(0.5).clamp_(0.0, 1.0)

    return rowwise(shape, gx, gy, grad_inputs=(peak, s))


class EdgeDetect(nn.Module):
    """Module form of :func:`edge_detect` (stores ``width`` and ``softness``)."""

    def __init__(self, width: Scalar = 0.01, softness: Scalar = 0.5) -> None:
        super().__init__()
        self.width, self.softness = width, softness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return edge_detect(x, self.width, self.softness)
