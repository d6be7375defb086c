"""Ceramic tiles: glazed square tiles in a grid of grout lines.

Wiring (the ``tiles`` pattern is ``tile_brick``, retuned to ceramic proportions: a square grid
by default, a shifted subway bond now and then; 0 in the grout, each tile's chamfered top at its
own luminance):

* tile mask from the pattern's edge; per-tile shade from the pattern's level;
* glaze: a smooth, slightly wavy surface (low-frequency noise in the height) with an optional
  fine speckle in the colour, very low roughness;
* grout: its own colour, dirt noise, rough and recessed;
* height: the tiles' tops over the grout, falling over the chamfer (``tiles.bevel``), so the
  normal map's relief is a slope of the surface, the same at any map size (from the saturated
  tile mask instead, it was a step one texel wide: 10-15 degrees of tilt at 256 px, 0.2-2.7 at
  2048 px on prior draws, the joints flat in an exported material); normal from height;
  metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class CeramicTiles(RetunedGraph):
    name = "ceramic_tiles"
    description = "Ceramic tiles: glossy glazed squares with grout lines"
    slots = {"tiles": "tile_brick"}
    # glazed tiles: even, thin joints, a small chamfer, set straight
    slot_priors = {
        "tiles.tiles_x": dict(default=4, prior=(4.0, 1.5)),
        "tiles.tiles_y": dict(default=4, prior=(5.0, 2.0)),
        "tiles.offset": dict(default=0.0, prior=(0.0, 0.08)),
        "tiles.gap": dict(default=0.04, prior=(0.04, 0.02)),
        "tiles.bevel": dict(default=0.06, prior=(0.06, 0.03)),
        "tiles.luminance_random": dict(default=0.15, prior=(0.15, 0.1)),
        "tiles.tilt_random": dict(default=0.05, prior=(0.05, 0.05)),
        "tiles.scale_random": dict(default=0.0, prior=(0.0, 0.02)),
    }
    filter_params = (
        *color_params("color.tile", (0.1, 0.12, 0.78), (None, 0.12, 0.15), "Glaze colour"),
        float_param("color.variation", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="Shade difference between tiles"),
        float_param("color.speckle", 0.15, 0.0, 1.0, prior=(0.15, 0.1), group="Color",
                    description="Fine speckle in the glaze"),
        *color_params("color.grout", (0.1, 0.08, 0.55), (0.05, 0.05, 0.15), "Grout colour"),
        float_param("color.grout_dirt", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="Dirt in the grout"),
        float_param("height.waviness", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Surface",
                    description="Waviness of the glaze (bends reflections)"),
        float_param("height.grout_depth", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="How far the grout lies below the tiles"),
        float_param("normal.intensity", 2.0, 0.0, 20.0, prior=(2.0, 0.70), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.glaze", 0.12, 0.02, 0.6, prior=(0.12, 0.06), group="Roughness",
                    description="Roughness of the glaze (low = glossy)"),
        float_param("roughness.grout", 0.85, 0.4, 1.0, prior=(0.85, 0.06), group="Roughness",
                    description="Roughness of the grout"),
        seed_param(),
    )

    layout_params = {"rows": "tiles.tiles_y", "per_row": "tiles.tiles_x"}
    bond_param = "tiles.offset"

    joint_colors = ("color.tile", "color.grout")
    joint_width = "tiles.gap"

    def compose(self, p, patterns, res):
        pat = patterns["tiles"]
        wave = noise(perlin_fbm, seeds(p, 0), res, 3, 3)
        speck = noise(value_fbm, seeds(p, 1), res, 32, 3)
        dirt = noise(perlin_fbm, seeds(p, 2), res, 24, 3)

        tile = levels(pat, in_high=0.05)
        top = levels(pat, in_high=0.5)  # 1 on a tile's top, falling over its chamfer
        shade = levels(pat, in_low=0.3)  # per-tile luminance (1 = lightest tile)

        glaze = rgb(p, "color.tile")
        color = full(glaze, res, 3) * (1.0 - col(p["color.variation"]) * 0.3 * (1.0 - shade))
        color = blend(speck, color, "overlay", opacity=p["color.speckle"])
        grout = blend(dirt, full(rgb(p, "color.grout"), res, 3), "multiply", opacity=p["color.grout_dirt"])
        color = blend(grout, color, "copy", mask=1.0 - tile)

        h = levels(top, out_low=0.7 - 0.6 * p["height.grout_depth"], out_high=0.7)
        h = blend(wave, h, "overlay", opacity=0.5 * p["height.waviness"], mask=tile)
        h = blend(dirt, h, "overlay", opacity=0.3, mask=1.0 - tile)

        rough = blend(full(p["roughness.grout"], res), full(p["roughness.glaze"], res), "copy",
                      mask=1.0 - tile)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough,
            "metallic": torch.zeros_like(h),
            "height": h,
        }
