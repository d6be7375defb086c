"""Hexagonal tiles: a honeycomb floor of glazed or terracotta hexagons in grout.

Wiring (the ``hex`` pattern is ``hex_tiles``: 0 in the grout, each tile's chamfered top at
its own luminance):

* tile mask from the pattern's edge; per-tile shade from its level, picking a colour between
  the tile colour and a darker one (``color.variation``: fired clay varies more than glaze);
* surface: a low-frequency waviness and a fine speckle; grout with its own colour and dirt;
* roughness: the tiles' (glazed low, terracotta high) and the grout's; height: tiles raised
  with chamfered edges, grout recessed; normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class HexagonalTiles(RetunedGraph):
    name = "hexagonal_tiles"
    description = "Hexagonal tiles: a honeycomb of glazed or terracotta hexagons in grout"
    slots = {"hex": "hex_tiles"}
    filter_params = (
        *color_params("color.tile", (0.06, 0.45, 0.6), (None, 0.2, 0.15), "Tile colour"),
        *color_params("color.grout", (0.1, 0.05, 0.75), (None, 0.05, 0.15), "Grout colour"),
        float_param("color.variation", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="How much darker the darkest tile is"),
        float_param("color.speckle", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Color",
                    description="Fine speckle in the tiles' colour"),
        float_param("color.grout_dirt", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="Dirt in the grout"),
        float_param("height.waviness", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Surface",
                    description="Unevenness of the tiles' surface"),
        float_param("height.grout_depth", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="Depth of the grout below the tiles"),
        float_param("normal.intensity", 2.5, 0.0, 20.0, prior=(2.5, 0.8), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.tile", 0.4, 0.02, 1.0, prior=(0.4, 0.2), group="Roughness",
                    description="Roughness of the tiles (low = glazed, high = terracotta)"),
        float_param("roughness.grout", 0.9, 0.4, 1.0, prior=(0.9, 0.05), group="Roughness",
                    description="Roughness of the grout"),
        seed_param(),
    )
    layout_params = {"rows": "hex.tiles_y", "per_row": "hex.tiles_x"}
    joint_colors = ("color.tile", "color.grout")
    joint_width = "hex.gap"

    def layout_counts(self, params):
        rows = int(params["hex.tiles_y"])
        return {"rows": float(rows + rows % 2), "per_row": float(params["hex.tiles_x"])}  # odd rows round up

    def compose(self, p, patterns, res):
        pat = patterns["hex"]
        wave = noise(perlin_fbm, seeds(p, 0), res, 3, 3)
        speck = noise(value_fbm, seeds(p, 1), res, 32, 3)
        dirt = noise(perlin_fbm, seeds(p, 2), res, 24, 3)
        tile = levels(pat, in_high=0.05)
        shade = levels(pat, in_low=0.3)
        top = levels(pat, in_high=0.5)

        color = full(rgb(p, "color.tile"), res, 3) * (1.0 - col(p["color.variation"]) * 0.5 * (1.0 - shade))
        color = blend(speck, color, "overlay", opacity=p["color.speckle"])
        grout = blend(dirt, full(rgb(p, "color.grout"), res, 3), "multiply", opacity=p["color.grout_dirt"])
        color = blend(grout, color, "copy", mask=1.0 - tile)

        h = levels(top, out_low=0.7 - 0.6 * p["height.grout_depth"], out_high=0.7)
        h = blend(wave, h, "overlay", opacity=0.5 * p["height.waviness"], mask=tile)
        h = blend(dirt, h, "overlay", opacity=0.3, mask=1.0 - tile)
        rough = blend(full(p["roughness.grout"], res), full(p["roughness.tile"], res), "copy", mask=1.0 - tile)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
