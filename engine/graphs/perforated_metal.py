"""Perforated metal: a sheet punched with a regular grid of round holes.

Wiring (the ``holes`` pattern is ``tile_paraboloid``, retuned to a regular grid of round,
equal domes with flat tops: one per hole, nothing random):

* holes: the domes cut at a level (``shape.hole_size``) into round, sharp-edged discs; behind them
  the dark backing (whatever is behind the sheet: a shadowed cavity);
* sheet: the metal's colour with grime and a fine grain, a slight burr (brighter rim) around
  each hole where the punch bent the metal;
* height: the sheet flat, the holes deep, their rims rounded; normal from height;
* metallic: 1 on the sheet, 0 in the holes; roughness of the sheet and of the backing.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.threshold import threshold
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class PerforatedMetal(RetunedGraph):
    name = "perforated_metal"
    description = "Perforated metal: a metal sheet with a regular grid of round holes"
    slots = {"holes": "tile_paraboloid"}
    # a punched sheet: regular, round, equal holes
    slot_priors = {
        "holes.tiles_x": dict(default=8, prior=(8.0, 3.0)),
        "holes.tiles_y": dict(default=8, prior=(8.0, 3.0)),
        "holes.gap": dict(default=0.1, prior=(0.1, 0.05)),
        "holes.roundness": dict(default=1.0, prior=(1.0, 0.05)),
        "holes.curvature": dict(default=0.2, prior=(0.2, 0.1)),
        "holes.height_random": dict(default=0.0, prior=(0.0, 0.02)),
        "holes.position_jitter": dict(default=0.0, prior=(0.0, 0.02)),
        "holes.size_jitter": dict(default=0.0, prior=(0.0, 0.02)),
    }
    filter_params = (
        *color_params("color.metal", (0.6, 0.04, 0.65), (None, 0.04, 0.12), "Sheet colour"),
        *color_params("color.backing", (0.6, 0.05, 0.08), (None, 0.05, 0.06), "Colour seen through the holes"),
        float_param("shape.hole_size", 0.6, 0.1, 0.95, prior=(0.6, 0.12), group="Shape",
                    description="Hole diameter, as a share of the space between holes"),
        float_param("color.grime", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="Darkening of the sheet by grime"),
        float_param("color.burr", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Color",
                    description="Bright rim around each hole (metal bent by the punch)"),
        float_param("height.depth", 0.6, 0.0, 1.0, prior=(0.6, 0.15), group="Surface",
                    description="Depth of the holes"),
        float_param("normal.intensity", 2.0, 0.0, 10.0, prior=(2.0, 0.7), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.metal", 0.35, 0.05, 1.0, prior=(0.35, 0.1), group="Roughness",
                    description="Roughness of the sheet"),
        float_param("roughness.backing", 0.8, 0.3, 1.0, prior=(0.8, 0.1), group="Roughness",
                    description="Roughness inside the holes"),
        seed_param(),
    )
    layout_params = {"rows": "holes.tiles_y", "per_row": "holes.tiles_x"}
    joint_colors = None  # holes are not joints: their colour is the backing's, not a unit's

    def compose(self, p, patterns, res):
        dome = patterns["holes"]  # 0 between the domes, up to 1 at their centres
        grime = noise(value_fbm, seeds(p, 0), res, 4, 4)
        grain = noise(perlin_fbm, seeds(p, 1), res, 48, 2)
        # a dome of radius 1 at level 0 is r^2 = 1 - level: cut at the level giving the hole's size
        cut = 1.0 - p["shape.hole_size"].square()
        hole = threshold(dome, position=cut, contrast=0.97)
        rim = (threshold(dome, position=cut * 0.75, contrast=0.9) - hole).clamp(0.0, 1.0)

        metal = rgb(p, "color.metal")
        color = blend(grime, full(metal, res, 3), "multiply", opacity=p["color.grime"])
        color = blend(grain, color, "overlay", opacity=0.15)
        color = blend(full(metal + (1.0 - metal) * 0.5, res, 3), color, "copy", mask=rim * col(p["color.burr"]))
        color = blend(full(rgb(p, "color.backing"), res, 3), color, "copy", mask=hole)

        h = 0.7 - 0.1 * rim - 0.6 * col(p["height.depth"]) * hole
        h = blend(grain, h, "overlay", opacity=0.05)
        rough = blend(full(p["roughness.backing"], res), full(p["roughness.metal"], res), "copy", mask=hole)
        rough = blend(grime, rough, "overlay", opacity=0.2)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": 1.0 - hole,
            "height": h.clamp(0.0, 1.0),
        }
