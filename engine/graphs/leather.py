"""Leather: grained hide, domed cells separated by fine creases, with pores and wrinkles.

Wiring (the ``grain`` pattern is ``cellular``, retuned to whole, jittered Voronoi cells with a
thin border and a domed profile: creases 0, cell tops up to their shade):

* wrinkles: the cells bent by low-frequency noise so the grain follows soft folds;
* height: domed cells over recessed creases, fine pores overlaid;
* colour: the dyed hide colour, darker in the creases, broad tone variation (uneven dye and
  wear), a faint pore texture;
* roughness: a satin base, rougher in the creases; normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import warp
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class Leather(RetunedGraph):
    name = "leather"
    description = "Leather: grained hide with domed cells, creases, pores and soft folds"
    slots = {"grain": "cellular"}
    # hide grain: whole irregular cells, thin creases, domed tops
    slot_priors = {
        "grain.cells": dict(default=14, prior=(14.0, 4.0)),
        "grain.jitter": dict(default=0.9, prior=(0.9, 0.1)),
        "grain.window": dict(default=1.0, prior=(1.0, 0.05)),
        "grain.size": dict(default=0.7, prior=(0.7, 0.08)),
        "grain.softness": dict(default=0.3, prior=(0.3, 0.15)),
        "grain.profile": dict(default=0.5, prior=(0.5, 0.2)),
        "grain.luminance_random": dict(default=0.2, prior=(0.2, 0.1)),
    }
    filter_params = (
        *color_params("color.leather", (0.07, 0.6, 0.4), (0.05, 0.15, 0.15), "Leather colour"),
        float_param("color.creases", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="How much darker the creases are"),
        float_param("color.variation", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Color",
                    description="Uneven dye and wear over the hide"),
        float_param("shape.wrinkles", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="How much the grain is bent by soft folds"),
        float_param("height.creases", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="Depth of the creases between cells"),
        float_param("height.pores", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Surface",
                    description="Fine pores on the cells"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.0), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.55, 0.15, 1.0, prior=(0.55, 0.1), group="Roughness",
                    description="Roughness of the cell tops (low = polished)"),
        float_param("roughness.creases", 0.2, 0.0, 0.5, prior=(0.2, 0.08), group="Roughness",
                    description="How much rougher the creases are"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        grain = patterns["grain"]
        folds = noise(perlin_fbm, seeds(p, 0), res, 3, 4)
        pores = noise(perlin_fbm, seeds(p, 1), res, 32, 3)
        dye = noise(value_fbm, seeds(p, 2), res, 4, 4)

        grain = warp(grain, folds, p["shape.wrinkles"] * 0.004)
        crease = levels(grain, in_low=0.4, in_high=0.05)  # 1 in the creases, 0 on the cells

        h = levels(grain, out_low=0.55 - 0.4 * p["height.creases"], out_high=0.55)
        h = blend(pores, h, "overlay", opacity=p["height.pores"])

        color = full(rgb(p, "color.leather"), res, 3) * (1.0 - col(p["color.creases"]) * crease)
        color = blend(dye, color, "overlay", opacity=p["color.variation"])
        color = blend(pores, color, "overlay", opacity=0.3 * p["height.pores"])

        rough = full(p["roughness.base"], res) + col(p["roughness.creases"]) * crease
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h,
        }
