"""Differentiable filter nodes: one module each (a function on tensors + a thin nn.Module).

Contract (every filter follows it, see ``_common``):

* Images are ``(B, C, H, W)`` floats in [0, 1]; results stay in [0, 1].
* Every continuous parameter is a python float or a ``(B,)`` tensor (broadcast per sample),
  so gradients reach batched parameters; everything is differentiable in images and
  continuous parameters (discrete ones: blend mode, tiles, rotation, samples).
* Spatial sizes are fractions of the texture width (resolution-independent); neighbourhood
  operations wrap around (tileable in, tileable out); ``+y`` is up (OpenGL).
* Work happens on the device and dtype of the inputs.

Adding a filter = one module + one line in ``FILTERS`` below.
"""

from __future__ import annotations

from typing import Callable

from .ambient_occlusion import AmbientOcclusion, ambient_occlusion
from .blend import Blend, blend
from .blur import Blur, blur
from .curve import Curve, curve
from .edge_detect import EdgeDetect, edge_detect
from .gradient_map import GradientMap, gradient_map
from .hsl import HSL, hsl
from .invert import Invert, invert
from .levels import Levels, levels
from .normal import NormalFromHeight, normal_from_height
from .sharpen import Sharpen, sharpen
from .slope_blur import SlopeBlur, slope_blur
from .threshold import Threshold, threshold
from .transform import Transform, transform
from .warp import DirectionalWarp, Warp, directional_warp, warp

FILTERS: dict[str, Callable] = {
    "blend": blend,
    "levels": levels,
    "curve": curve,
    "gradient_map": gradient_map,
    "hsl": hsl,
    "blur": blur,
    "sharpen": sharpen,
    "warp": warp,
    "directional_warp": directional_warp,
    "transform": transform,
    "invert": invert,
    "threshold": threshold,
    "edge_detect": edge_detect,
    "slope_blur": slope_blur,
    "normal_from_height": normal_from_height,
    "ambient_occlusion": ambient_occlusion,
}

__all__ = [
    "FILTERS",
    "ambient_occlusion", "blend", "blur", "curve", "directional_warp", "edge_detect",
    "gradient_map", "hsl", "invert", "levels", "normal_from_height", "sharpen", "slope_blur",
    "threshold", "transform", "warp",
    "AmbientOcclusion", "Blend", "Blur", "Curve", "DirectionalWarp", "EdgeDetect",
    "GradientMap", "HSL", "Invert", "Levels", "NormalFromHeight", "Sharpen", "SlopeBlur",
    "Threshold", "Transform", "Warp",
]
