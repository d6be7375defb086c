"""Carpet: a pile of yarn tufts (carpet, rug, felt).

Wiring (the ``tufts`` pattern is ``cellular``, retuned to many small, round, cone-profiled
spots on a jittered grid: the tufts' tips seen from above):

* pile: the tufts, each a little lighter or darker; between them the pile's shadowed depth
  (``color.depth``); a felt is a pile so dense and short that no tuft shows
  (``shape.felt`` blends the tufts into a fibrous noise);
* fibres: fine noise in random directions over everything (the yarn's fuzz);
* colour: the yarn's colour, a second colour mixed in per tuft (``color.mix``: heathered or
  two-tone yarn); roughness high; sheen not modelled;
* height: tufts' cones, fibres; normal from height; metallic 0.
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


class Carpet(RetunedGraph):
    name = "carpet"
    description = "Carpet: yarn tufts of a pile with fuzz (carpet, rug, felt)"
    slots = {"tufts": "cellular"}
    slot_priors = {
        "tufts.cells": dict(default=24, prior=(24.0, 5.0)),
        "tufts.jitter": dict(default=0.5, prior=(0.5, 0.2)),
        "tufts.window": dict(default=0.3, prior=(0.3, 0.15)),
        "tufts.size": dict(default=0.7, prior=(0.7, 0.1)),
        "tufts.softness": dict(default=0.4, prior=(0.4, 0.15)),
        "tufts.profile": dict(default=0.7, prior=(0.7, 0.15)),
        "tufts.luminance_random": dict(default=0.3, prior=(0.3, 0.15)),
    }
    filter_params = (
        *color_params("color.yarn", (0.05, 0.4, 0.5), (None, 0.2, 0.2), "Yarn colour"),
        *color_params("color.yarn2", (0.05, 0.3, 0.35), (None, 0.2, 0.2), "Second yarn colour"),
        float_param("color.mix", 0.2, 0.0, 1.0, prior=(0.2, 0.15), group="Color",
                    description="Share of tufts in the second colour"),
        float_param("color.depth", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Color",
                    description="Darkening of the pile between the tufts"),
        float_param("shape.felt", 0.2, 0.0, 1.0, prior=(0.2, 0.2), group="Shape",
                    description="0 distinct tufts (carpet), 1 dense matted fibres (felt)"),
        float_param("shape.fuzz", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Shape",
                    description="Strength of the fine fibre fuzz"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.0), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.92, 0.5, 1.0, prior=(0.92, 0.04), group="Roughness",
                    description="Roughness of the yarn"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        tufts = patterns["tufts"]
        fuzz_src = noise(perlin_fbm, seeds(p, 0), res, 64, 2, cap=1024)
        curl = noise(perlin_fbm, seeds(p, 1), res, 32, 2, cap=1024)
        mat = noise(value_fbm, seeds(p, 2), res, 16, 3)
        fuzz = warp(fuzz_src, curl, 0.003)  # fibres curled in random directions
        felt = col(p["shape.felt"])
        pile = tufts * (1.0 - felt) + mat * felt
        top = levels(pile, in_high=0.6)  # 0 deep in the pile, 1 at a tuft's tip
        # per-tuft colour: the tufts' own shade decides which yarn (a threshold moving with the mix)
        pick = levels(tufts, in_low=0.35, in_high=0.45) * (1.0 - felt)
        second = ((1.0 - pick) * (tufts > 0.05).to(tufts.dtype) * col(p["color.mix"]) * 2.0).clamp(0.0, 1.0)

        color = blend(full(rgb(p, "color.yarn2"), res, 3), full(rgb(p, "color.yarn"), res, 3), "copy", mask=second)
        color = color * (1.0 - col(p["color.depth"]) * 0.6 * (1.0 - top))
        color = blend(fuzz, color, "overlay", opacity=0.5 * p["shape.fuzz"])

        h = 0.2 + 0.6 * top
        h = blend(fuzz, h, "overlay", opacity=0.6 * p["shape.fuzz"])
        rough = full(p["roughness.base"], res) + 0.05 * (fuzz - 0.5)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
