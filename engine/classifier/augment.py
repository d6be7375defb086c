"""Photo-like variations of the training renders (the classifier sees renders, then photos).

A render of a graph's prior sample differs from a photo of the same material in ways that say
nothing about the pattern: the part of the sample in view (zoom), its orientation, its colours,
the camera's tone curve, uneven lighting and where the flash's highlight falls, focus and sensor
noise. :func:`augment` draws all of these, so the classifier learns the pattern instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .network import VIEW_RES

# RGB -> YIQ: Y the luminance, (I, Q) the chroma plane that a hue change rotates
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
MIN_ZOOM_CROP = 0.3  # smallest crop side, as a fraction of the render (up to 3.3x zoom)
# a share of the views zoom *out*: the (tileable) render repeated 2 x 2, a crop of 1-2 repeats
ZOOM_OUT_SHARE, MAX_ZOOM_OUT = 0.25, 2.0


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def hue_rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB, ``(B,)`` radians -> the image with its chroma rotated by ``angle``
    in YIQ (luminance kept)."""
    yiq = torch.einsum("ij,bjhw->bihw", _YIQ, x)
    c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    i, q = c * yiq[:, 1] - s * yiq[:, 2], s * yiq[:, 1] + c * yiq[:, 2]
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_YIQ), torch.stack([yiq[:, 0], i, q], 1))


def _crops(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random square crop of each image (side 0.3-1 of it; for ``ZOOM_OUT_SHARE`` of them
    1-2 repeats of the tileable image), scaled to VIEW_RES, turned by a random multiple of 90
    degrees and mirrored half of the time."""
    n, res = x.shape[0], x.shape[-1]
    out = torch.empty(n, 3, VIEW_RES, VIEW_RES)
    for b in range(n):
        src, size = x[b:b + 1], res
        if float(_rand(g, 1)) < ZOOM_OUT_SHARE:
            src, size = x[b:b + 1].repeat(1, 1, 2, 2), 2 * res
            s = int(res * (1 + (MAX_ZOOM_OUT - 1) * float(_rand(g, 1))))
        else:
            s = int(res * (MIN_ZOOM_CROP + (1 - MIN_ZOOM_CROP) * float(_rand(g, 1))))
        i, j = (int(torch.randint(0, size - s + 1, (1,), generator=g)) for _ in range(2))
        c = src[:, :, i:i + s, j:j + s]
        c = (F.interpolate(c, size=(VIEW_RES, VIEW_RES), mode="area") if s >= VIEW_RES else
             F.interpolate(c, size=(VIEW_RES, VIEW_RES), mode="bilinear", align_corners=False))
        c = torch.rot90(c, int(torch.randint(0, 4, (1,), generator=g)), (2, 3))
        out[b] = c[0].flip(2) if float(_rand(g, 1)) < 0.5 else c[0]
    return out


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur per image (``sigma`` (B,) px; below 0.3: untouched), wrapping."""
    t = torch.arange(5, dtype=x.dtype) - 2
    out = x.clone()
    for b in torch.nonzero(sigma > 0.3).flatten().tolist():
        k = torch.exp(-t ** 2 / (2 * float(sigma[b]) ** 2))
        k = (k / k.sum()).repeat(3, 1, 1, 1)
        xb = F.conv2d(F.pad(x[b:b + 1], (2, 2, 0, 0), mode="circular"), k.view(3, 1, 1, 5), groups=3)
        out[b] = F.conv2d(F.pad(xb, (0, 0, 2, 2), mode="circular"), k.view(3, 1, 5, 1), groups=3)[0]
    return out


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(B, 3, R, R)`` renders, sRGB [0, 1] -> ``(B, 3, VIEW_RES, VIEW_RES)`` photo-like views:
    crop/zoom/turn (:func:`_crops`), any hue, saturation x0.2-1.6, gamma 0.6-1.6, a linear
    illumination slope of up to +-40 % across the view, half of the time an extra highlight
    (Gaussian, anywhere near the centre), blur up to sigma 1.2 px, noise up to sigma 0.03.
    Values may leave [0, 1] a little (highlights), as a photo's would clip; the network
    standardises its input anyway."""
    g = generator
    x = _crops(x.float(), g)
    n = x.shape[0]
    x = hue_rotate(x, (_rand(g, n) * 2 - 1) * math.pi)
    lum = (_YIQ[0].view(1, 3, 1, 1) * x).sum(1, keepdim=True)
    x = lum + (x - lum) * (0.2 + 1.4 * _rand(g, n)).view(-1, 1, 1, 1)
    x = x.clamp(1e-4, 1) ** (0.6 + _rand(g, n)).view(-1, 1, 1, 1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, VIEW_RES), torch.linspace(-1, 1, VIEW_RES), indexing="ij")
    slope_x, slope_y = (_rand(g, n) * 2 - 1) * 0.4, (_rand(g, n) * 2 - 1) * 0.4
    field = 1 + slope_x.view(-1, 1, 1) * xx + slope_y.view(-1, 1, 1) * yy
    cx, cy = (_rand(g, n) * 1.2 - 0.6).view(-1, 1, 1), (_rand(g, n) * 1.2 - 0.6).view(-1, 1, 1)
    width = (0.1 + 0.4 * _rand(g, n)).view(-1, 1, 1)
    strength = (0.8 * _rand(g, n) * (_rand(g, n) < 0.5)).view(-1, 1, 1)
    blob = strength * torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * width ** 2))
    x = x * field.unsqueeze(1) + blob.unsqueeze(1)
    x = _blur(x, 1.2 * _rand(g, n))
    return x + torch.randn(x.shape, generator=g) * (0.03 * _rand(g, n)).view(-1, 1, 1, 1)
