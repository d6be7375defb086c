"""Aggregate: stone chips in a binder (asphalt, terrazzo, exposed-aggregate concrete).

Wiring (the ``chips`` pattern is ``cellular``, retuned to many jittered, whole-cell windows
with a flat-topped profile and a border between them: one chip per cell, the border the
binder):

* chips: each chip's shade picks a colour between two chip colours (a mix of stones), a fine
  grain over them; the binder's own colour, with sand speckle, between them;
* polish: a terrazzo is ground flat and glossy, an asphalt rough with chips standing out:
  ``surface.polish`` lowers the roughness and the chips' relief together;
* height: chips raised by ``height.chips`` (less when polished), binder grain; normal from
  height; metallic 0.
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


class Aggregate(RetunedGraph):
    name = "aggregate"
    description = "Aggregate: stone chips in a binder (asphalt, terrazzo, exposed-aggregate concrete)"
    slots = {"chips": "cellular"}
    # many irregular chips, each a whole cell less a binder border
    slot_priors = {
        "chips.cells": dict(default=24, prior=(24.0, 5.0)),
        "chips.jitter": dict(default=0.9, prior=(0.9, 0.1)),
        "chips.window": dict(default=0.9, prior=(0.9, 0.1)),
        "chips.size": dict(default=0.75, prior=(0.75, 0.1)),
        "chips.softness": dict(default=0.1, prior=(0.1, 0.05)),
        "chips.profile": dict(default=0.2, prior=(0.2, 0.15)),
        "chips.luminance_random": dict(default=0.8, prior=(0.8, 0.15)),
    }
    filter_params = (
        # stones: greys, beiges and browns (a terrazzo's coloured glass is a slider away)
        *color_params("color.chips", (0.08, 0.15, 0.55), (0.04, 0.08, 0.15), "Main chip colour"),
        *color_params("color.chips2", (0.6, 0.05, 0.3), (None, 0.04, 0.15), "Second chip colour (the mix)"),
        *color_params("color.binder", (0.1, 0.05, 0.2), (None, 0.04, 0.12), "Binder colour"),
        float_param("color.speckle", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Color",
                    description="Sand and grit speckle in the binder and chips"),
        float_param("surface.polish", 0.2, 0.0, 1.0, prior=(0.2, 0.2), group="Surface",
                    description="0 rough asphalt with chips standing out, 1 ground and polished terrazzo"),
        float_param("height.chips", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="How far the chips stand out of the binder"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.0), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.85, 0.3, 1.0, prior=(0.85, 0.06), group="Roughness",
                    description="Roughness before polishing"),
        seed_param(),
    )
    joint_colors = ("color.chips", "color.binder")

    def compose(self, p, patterns, res):
        cells = patterns["chips"]  # 0 in the binder, a chip's shade inside it
        speck = noise(value_fbm, seeds(p, 0), res, 48, 2)
        grain = noise(perlin_fbm, seeds(p, 1), res, 24, 3)
        chip = levels(cells, in_high=0.05)
        shade = levels(cells, in_low=0.2)  # per-chip value: picks the colour in the mix

        c1, c2 = rgb(p, "color.chips")[:, :, 0, 0], rgb(p, "color.chips2")[:, :, 0, 0]
        ramp = torch.stack([c2, 0.5 * (c1 + c2), c1, (c1 * 1.2).clamp(max=1.0)], dim=1)
        color = gradient_map(shade, ramp)
        color = blend(full(rgb(p, "color.binder"), res, 3), color, "copy", mask=1.0 - chip)
        color = blend(speck, color, "overlay", opacity=p["color.speckle"])

        polish = col(p["surface.polish"])
        rise = col(p["height.chips"]) * (1.0 - 0.8 * polish)
        h = 0.4 + 0.4 * rise * levels(cells, in_high=0.3)
        h = blend(grain, h, "overlay", opacity=0.4 * (1.0 - 0.7 * polish))
        rough = full(p["roughness.base"], res) * (1.0 - 0.8 * polish) + 0.05 * (speck - 0.5)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
