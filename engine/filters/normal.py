"""Normal map from a height map (OpenGL tangent space)."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, gradient, param, rowwise

# Intensity is defined against this resolution: intensity 1 tilts the normal by the height
# difference between neighbouring pixels of a REFERENCE_RES-wide version of the texture.
REFERENCE_RES = 256


def normal_from_height(h: torch.Tensor, intensity: Scalar = 1.0) -> torch.Tensor:
    r"""Tangent-space normal map from a height map, OpenGL convention.

    ``n = normalize(-s * dh/dx, -s * dh/dy, 1)`` with ``s = intensity / REFERENCE_RES`` and
    the height gradient measured in height units per texture width (``+x`` right, ``+y`` up).
    Equivalently: the surface is the height map raised to ``z = intensity * h`` on a texture
    that is ``REFERENCE_RES`` (256) units wide, i.e. intensity 1 means "one unit of height per
    pixel of a 256-pixel texture". Because the gradient is per texture width, the same
    intensity gives the same normals at every resolution (for heights that are smooth at
    the pixel scale; a hard step gets steeper as pixels get smaller, as it should).

    Args:
        h: ``(B, 1, H, W)`` height in [0, 1] (1 = high).
        intensity: float or ``(B,)`` tensor, >= 0 for the usual orientation (0 = flat);
            typical 1 to 50, like Substance's normal node.

    Returns:
        ``(B, 3, H, W)`` encoded ``n * 0.5 + 0.5`` in [0, 1]: red = +x (right), green = +y
        (up, OpenGL), blue = +z (out of the surface; always >= 0.5).

    Convention:
        Circular central differences (tileable in, tileable out). A height rising to the
        right gives red < 0.5 (normal tilted left); rising towards the top of the image gives
        green < 0.5. Differentiable in ``h`` and ``intensity``.

    Example:
        >>> flat = normal_from_height(torch.full((1, 1, 4, 4), 0.3), 5.0)
        >>> flat[0, :, 0, 0].tolist()
        [0.5, 0.5, 1.0]
        >>> ramp = (torch.arange(256.0) / 256).reshape(1, 1, 1, 256).expand(1, 1, 4, 256)
        >>> n = normal_from_height(ramp.contiguous(), 256.0)[0, :, 0, 100] * 2 - 1
        >>> [round(v, 4) for v in n.tolist()]   # rises 1/256 per pixel; 256 x that: 45 deg
        [-0.7071, 0.0, 0.7071]
    """
    check_image(h, "h", (1,))
    s = param(intensity, h, "intensity") * (1.0 / REFERENCE_RES)
    gx, gy = gradient(h)
    return rowwise(lambda a, b: _encode(a * -s, b * -s), gx, gy, grad_inputs=(s,))


def _encode(nx: torch.Tensor, ny: torch.Tensor) -> torch.Tensor:
    # n * 0.5 + 0.5 with n = (nx, ny, 1) / |(nx, ny, 1)|
    half = torch.rsqrt((nx * nx).addcmul_(ny, ny).add_(1.0)) * 0.5
    return torch.cat(((nx * half).add_(0.5), (ny * half).add_(0.5), half + 0.5), dim=1)


class NormalFromHeight(nn.Module):
    """Module form of :func:`normal_from_height` (stores ``intensity``)."""

    def __init__(self, intensity: Scalar = 1.0) -> None:
        super().__init__()
        self.intensity = intensity

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return normal_from_height(h, self.intensity)
