"""Stone: a plain rough mineral surface (concrete, plaster, sandstone) with pores.

Wiring (the ``structure`` pattern is ``tile_paraboloid``, retuned to many jittered, rounded,
uneven bumps: a lumpy low-contrast relief rather than tiles):

* structure: the bumps warped by low-frequency noise so no grid shows, mixed into broad
  blotches of tone (low contrast);
* grain: fine noise in tone and height; pores: the peaks of a fine noise cut out as small dark
  pits;
* colour: a three-stop ramp (darker, base, lighter) over the tone; pits darkened;
* height: structure relief + grain - pits; roughness high, varying with the tone;
* normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.gradient_map import gradient_map
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import warp
from ..generators.noise import perlin_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class Stone(RetunedGraph):
    name = "stone"
    description = "Stone: concrete, plaster or sandstone; lumpy low relief, grain and pores"
    slots = {"structure": "tile_paraboloid"}
    # many small, jittered, round, uneven bumps with no gaps: a lumpy surface, not tiles
    slot_priors = {
        "structure.tiles_x": dict(default=12, prior=(12.0, 4.0)),
        "structure.tiles_y": dict(default=12, prior=(12.0, 4.0)),
        "structure.gap": dict(default=0.0, prior=(0.0, 0.05)),
        "structure.roundness": dict(default=0.8, prior=(0.8, 0.2)),
        "structure.curvature": dict(default=0.1, prior=(0.1, 0.1)),
        "structure.height_random": dict(default=0.6, prior=(0.6, 0.2)),
        "structure.position_jitter": dict(default=0.7, prior=(0.7, 0.2)),
        "structure.size_jitter": dict(default=0.5, prior=(0.5, 0.2)),
    }
    filter_params = (
        *color_params("color.stone", (0.09, 0.1, 0.6), (0.04, 0.07, 0.15), "Stone colour"),
        float_param("color.contrast", 0.25, 0.0, 1.0, prior=(0.25, 0.1), group="Color",
                    description="Spread between the darker and lighter tones"),
        float_param("color.structure", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="How much the lumpy structure shows in the colour"),
        float_param("color.grain", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Color",
                    description="Fine grain in the colour"),
        float_param("pores.amount", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Surface",
                    description="How many small pits and pores"),
        float_param("height.relief", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Depth of the lumpy relief"),
        float_param("height.grain", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="Roughness of the surface grain"),
        float_param("normal.intensity", 5.0, 0.0, 20.0, prior=(5.0, 1.75), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.85, 0.4, 1.0, prior=(0.85, 0.06), group="Roughness",
                    description="Roughness of the surface"),
        float_param("roughness.variation", 0.15, 0.0, 0.5, prior=(0.15, 0.07), group="Roughness",
                    description="How much the roughness follows the tone"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        struct = patterns["structure"]
        blotch = noise(perlin_fbm, seeds(p, 0), res, 4, 5)
        grain = noise(perlin_fbm, seeds(p, 1), res, 32, 3)
        pore_src = noise(perlin_fbm, seeds(p, 2), res, 32, 2)

        struct = warp(struct, blotch, 0.005)  # bends the bumps' grid away
        tone = blend(struct, blotch, "overlay", opacity=p["color.structure"])
        tone = blend(grain, tone, "overlay", opacity=p["color.grain"])
        # pores: the highest peaks of a fine noise; more pores = a lower cut
        cut = 0.85 - 0.15 * p["pores.amount"]
        pores = levels(pore_src, in_low=cut, in_high=cut + 0.04)

        base = rgb(p, "color.stone")[:, :, 0, 0]
        c = p["color.contrast"][:, None]
        ramp = torch.stack([base * (1.0 - c), base, base + (1.0 - base) * c], dim=1)
        color = gradient_map(tone, ramp)
        color = color * (1.0 - 0.5 * pores)  # pores are in shadow

        h = levels(struct, out_low=0.5 - 0.2 * p["height.relief"], out_high=0.5 + 0.2 * p["height.relief"])
        h = blend(grain, h, "overlay", opacity=p["height.grain"])
        h = blend(pores, h, "subtract", opacity=0.3)

        rough = full(p["roughness.base"], res) + col(p["roughness.variation"]) * (0.5 - tone)
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h,
        }
