"""Wood: flat-sawn boards, growth rings from stripes, long fibres from streaked noise.

Wiring (the ``grain`` stripes run along the grain; ``grain.direction`` picks its axis):

* rings: the stripes displaced across the grain by low-frequency noise (wavy growth rings);
* fibres: fine noise box-blurred along the grain (pores and fibres), overlaid on the rings;
* colour: a two-colour ramp (late wood dark, early wood light) over that tone, with broad
  colour blotches multiplied in;
* height: rings and fibres, shallow; roughness: a varnish level that follows the tone a little;
* normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.blur import blur
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import directional_warp
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds, streak


class Wood(RetunedGraph):
    name = "wood"
    description = "Wood: growth rings and fibres along the grain, two-tone colour, varnish sheen"
    slots = {"grain": "stripes"}
    # growth rings: soft-edged, uneven bands
    slot_priors = {
        "grain.count": dict(default=10, prior=(10.0, 4.0)),
        "grain.softness": dict(default=0.5, prior=(0.5, 0.2)),
        "grain.width_random": dict(default=0.4, prior=(0.4, 0.2)),
        "grain.brightness_random": dict(default=0.3, prior=(0.3, 0.2)),
    }
    filter_params = (
        *color_params("color.wood", (0.07, 0.65, 0.52), (0.015, 0.1, 0.15), "Wood colour (light early wood)"),
        float_param("color.rings", 0.4, 0.0, 1.0, prior=(0.4, 0.12), group="Color",
                    description="How much darker the growth rings (late wood) are"),
        float_param("color.blotch", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="Broad colour blotches across the boards"),
        float_param("shape.waviness", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="How far the growth rings wander across the grain"),
        float_param("shape.fibres", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Shape",
                    description="Contrast of the fine fibres and pores along the grain"),
        float_param("height.rings", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Surface",
                    description="Relief of the growth rings"),
        float_param("height.fibres", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Relief of the fibres"),
        # 0.8: at the prior's means a tenth of the surface tilts by about 2.5 degrees (at 2.0 it
        # was 6.3, relief a person sees under a grazing light): sanded wood is smooth, and step
        # "relief" takes the relief a flash photo cannot show from here
        float_param("normal.intensity", 0.8, 0.0, 20.0, prior=(0.8, 0.30), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.45, 0.05, 1.0, prior=(0.45, 0.15), group="Roughness",
                    description="Roughness of the surface (low = varnished, high = raw)"),
        float_param("roughness.variation", 0.15, 0.0, 0.5, prior=(0.15, 0.07), group="Roughness",
                    description="How much rougher the dark rings are"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        rings = patterns["grain"]
        b = rings.shape[0]
        vertical = torch.round(p["grain.direction"]) > 0.5  # stripes along y: grain along y
        wobble = noise(perlin_fbm, seeds(p, 0), res, 2, 3)
        blotch = noise(value_fbm, seeds(p, 1), res, 3, 3)
        # fibres: noise smeared along the grain, computed at <= 1024 px then upsampled
        fibres = noise(perlin_fbm, seeds(p, 2), res, 32, 3, cap=1024,
                       then=lambda x: levels(streak(x, 0.12, vertical), in_low=0.35, in_high=0.65))

        across = torch.where(vertical, torch.zeros_like(p["shape.waviness"]), torch.full_like(p["shape.waviness"], 0.25))
        rings = directional_warp(rings, wobble, p["shape.waviness"] * 0.15, across)
        # late wood fades into early wood over a few pixels' worth of texture
        tone = blur(rings, 0.004)

        # stripes are 1 on the ring: rings are the dark late wood (two-stop ramp as arithmetic)
        color = rgb(p, "color.wood") * (1.0 - col(p["color.rings"]) * tone)
        color = blend(fibres, color, "overlay", opacity=0.5 * p["shape.fibres"])
        color = blend(blotch, color, "overlay", opacity=p["color.blotch"])

        h = levels(tone, out_low=0.5 - 0.4 * p["height.rings"], out_high=0.5)
        h = blend(fibres, h, "overlay", opacity=p["height.fibres"])

        rough = full(p["roughness.base"], res) + col(p["roughness.variation"]) * (tone - 0.5)
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros(b, 1, res, res, device=rings.device),
            "height": h,
        }
