"""Mosaic: small glass or stone tesserae in a grid, each its own shade, in light grout.

Wiring (the ``tesserae`` pattern is ``tile_brick``, retuned to many small square tiles in a
straight grid with relatively wide grout and a visible chamfer, a little uneven):

* colour: each tessera's shade (the pattern's per-tile level) picks a colour along a ramp
  between two colours (``color.tile`` and ``color.tile2``: a blend of glass colours), a
  lighter sheen towards the centre of glass tiles (``glass.sheen``); the grout's colour;
* roughness: glossy tesserae (``roughness.tile``), rough grout; height: tesserae raised with
  chamfered edges, grout recessed; normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.gradient_map import gradient_map
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class Mosaic(RetunedGraph):
    name = "mosaic"
    description = "Mosaic: small glass or stone tesserae, each its own shade, in grout"
    slots = {"tesserae": "tile_brick"}
    slot_priors = {
        # tesserae are small (2-5 cm): a frame holds many, in a straight grid; fewer, larger,
        # staggered units are bricks or tiles (the classifier confused red bricks with a
        # mosaic prior of 10 +- 3 per side)
        "tesserae.tiles_x": dict(default=12, prior=(12.0, 2.0)),
        "tesserae.tiles_y": dict(default=12, prior=(12.0, 2.0)),
        "tesserae.offset": dict(default=0.0, prior=(0.0, 0.02)),
        "tesserae.gap": dict(default=0.1, prior=(0.1, 0.04)),
        "tesserae.bevel": dict(default=0.1, prior=(0.1, 0.05)),
        "tesserae.luminance_random": dict(default=0.9, prior=(0.9, 0.1)),
        "tesserae.tilt_random": dict(default=0.1, prior=(0.1, 0.08)),
        "tesserae.scale_random": dict(default=0.1, prior=(0.1, 0.08)),
    }
    filter_params = (
        *color_params("color.tile", (0.55, 0.5, 0.6), (None, 0.2, 0.15), "Tesserae colour"),
        *color_params("color.tile2", (0.5, 0.4, 0.35), (None, 0.2, 0.15), "Second tesserae colour (the blend)"),
        *color_params("color.grout", (0.1, 0.05, 0.8), (None, 0.05, 0.12), "Grout colour"),
        float_param("glass.sheen", 0.2, 0.0, 1.0, prior=(0.2, 0.12), group="Color",
                    description="Lighter centres of the tesserae (glass)"),
        float_param("color.grout_dirt", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Color",
                    description="Dirt in the grout"),
        float_param("height.grout_depth", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="Depth of the grout below the tesserae"),
        float_param("normal.intensity", 2.0, 0.0, 20.0, prior=(2.0, 0.7), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.tile", 0.15, 0.02, 1.0, prior=(0.15, 0.08), group="Roughness",
                    description="Roughness of the tesserae (low = glass)"),
        float_param("roughness.grout", 0.9, 0.4, 1.0, prior=(0.9, 0.05), group="Roughness",
                    description="Roughness of the grout"),
        seed_param(),
    )
    layout_params = {"rows": "tesserae.tiles_y", "per_row": "tesserae.tiles_x"}
    bond_param = "tesserae.offset"
    joint_colors = ("color.tile", "color.grout")
    joint_width = "tesserae.gap"

    def compose(self, p, patterns, res):
        pat = patterns["tesserae"]
        dirt = noise(perlin_fbm, seeds(p, 0), res, 16, 3)
        speck = noise(value_fbm, seeds(p, 1), res, 48, 2)
        tile = levels(pat, in_high=0.05)
        shade = levels(pat, in_low=0.3)  # per-tessera level
        dome = levels(pat, in_high=0.6)  # 1 on a tessera's flat top, falling over its chamfer

        c1, c2 = rgb(p, "color.tile")[:, :, 0, 0], rgb(p, "color.tile2")[:, :, 0, 0]
        ramp = torch.stack([c2 * 0.8, c2, c1, (c1 * 1.15).clamp(max=1.0)], dim=1)
        color = gradient_map(shade, ramp)
        color = color + col(p["glass.sheen"]) * 0.3 * dome * (1.0 - color)
        grout = blend(dirt, full(rgb(p, "color.grout"), res, 3), "multiply", opacity=p["color.grout_dirt"])
        grout = blend(speck, grout, "overlay", opacity=0.3)
        color = blend(grout, color, "copy", mask=1.0 - tile)

        h = levels(dome, out_low=0.7 - 0.6 * p["height.grout_depth"], out_high=0.7)
        rough = blend(full(p["roughness.grout"], res), full(p["roughness.tile"], res), "copy", mask=1.0 - tile)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
