"""Plaster: a trowelled wall finish (stucco, skim coat, Venetian plaster).

Wiring (the ``smears`` pattern is ``cellular``, retuned to a few large whole-cell windows with
soft edges and a near-flat profile: the overlapping strokes of a trowel):

* smears: the cells bent by a low-frequency noise (``shape.warp``) into curved strokes, whole
  cells with almost no border (a border makes a closed network of joints: crazy paving, not
  plaster); fragments of their edges are the trowel's lips (the pattern's slope, kept where a
  coarse noise allows), their tops flat;
* sand: fine grain (``height.sand``: a sand-float finish) and a few pits;
* colour: one colour, each stroke a little lighter or darker (``color.variation`` and the
  pattern's ``luminance_random``: with the earlier 0.35 and 0.6, 8 of 80 held-out samples
  showed barely a stroke and the classifier called them aggregate), the ridges lighter or
  darker (``color.ridges``, signed), a faint sand-fine grain (a coarser, blotchy grain made a
  third of the prior's samples look like fine aggregate to the graph classifier, and to a
  person);
* roughness: the finish's (``roughness.base``: low for a polished Venetian plaster, high for
  a sand finish); height: strokes + ridges + sand; normal from height; metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.blur import blur
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import warp
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class Plaster(RetunedGraph):
    name = "plaster"
    description = "Plaster: trowelled strokes with soft ridges and sand grain (stucco, skim coat)"
    slots = {"smears": "cellular"}
    slot_priors = {
        "smears.cells": dict(default=6, prior=(6.0, 2.0)),
        "smears.jitter": dict(default=0.9, prior=(0.9, 0.1)),
        "smears.window": dict(default=1.0, prior=(1.0, 0.05)),
        "smears.size": dict(default=0.97, prior=(0.97, 0.02)),
        "smears.softness": dict(default=0.3, prior=(0.3, 0.1)),
        "smears.profile": dict(default=0.15, prior=(0.15, 0.1)),
        # the strokes' tone (with color.variation): a plaster whose strokes cannot be seen is a
        # plain sandy surface, fine aggregate or concrete to a person and to the classifier
        "smears.luminance_random": dict(default=0.7, prior=(0.7, 0.15)),
    }
    filter_params = (
        *color_params("color.plaster", (0.1, 0.12, 0.78), (0.05, 0.08, 0.12), "Plaster colour"),
        float_param("color.variation", 0.5, 0.0, 1.0, prior=(0.5, 0.12), group="Color",
                    description="How much the strokes differ in tone"),
        float_param("color.ridges", 0.0, -1.0, 1.0, prior=(0.0, 0.3), group="Color",
                    description="Ridges lighter (> 0) or darker (< 0) than the strokes"),
        float_param("color.grain", 0.12, 0.0, 1.0, prior=(0.12, 0.06), group="Color",
                    description="Fine grain in the colour"),
        float_param("shape.warp", 0.5, 0.0, 1.0, prior=(0.5, 0.2), group="Shape",
                    description="How far the strokes curve"),
        float_param("height.strokes", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Surface",
                    description="Relief of the strokes and their ridges"),
        float_param("height.sand", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Surface",
                    description="Sand grain in the surface"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.0), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.8, 0.1, 1.0, prior=(0.8, 0.12), group="Roughness",
                    description="Roughness of the finish (low = polished plaster)"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        cells = patterns["smears"]
        bend = noise(perlin_fbm, seeds(p, 0), res, 3, 3)
        # sand: grains of under a centimetre on a texture of about a metre (at 64 cells per side
        # the grit read as fine aggregate to the classifier; much finer fades out at the fit's
        # 128 px working size, where the slider must still do something)
        sand = noise(value_fbm, seeds(p, 1), res, 96, 2)
        grain = noise(perlin_fbm, seeds(p, 2), res, 96, 2)  # sand-fine, not blotches

        strokes = warp(cells, bend, 0.004 + 0.012 * p["shape.warp"])
        tone = levels(strokes, in_low=0.2)
        # ridges: where the strokes' level changes fast (their soft edges)
        smooth = blur(strokes, 0.004)
        ridge = ((strokes - smooth).abs() * 10.0).clamp(0.0, 1.0)
        # a trowel leaves a lip only where its edge lifted: fragments of the strokes' outlines,
        # never a closed network (closed outlines read as cracks or flagstone joints)
        lips = noise(perlin_fbm, seeds(p, 3), res, 4, 2)
        ridge = ridge * ((lips - 0.5) * 6.0).clamp(0.0, 1.0)

        color = rgb(p, "color.plaster") * (1.0 - col(p["color.variation"]) * 0.3 * (1.0 - tone))
        lift = col(p["color.ridges"])
        color = color + lift * 0.3 * ridge * torch.where(lift > 0, 1.0 - color, color)
        color = blend(grain, color, "overlay", opacity=p["color.grain"])

        h = 0.5 + 0.4 * col(p["height.strokes"]) * (strokes - 0.5 + 0.5 * ridge)
        h = blend(sand, h, "overlay", opacity=0.5 * p["height.sand"])
        rough = full(p["roughness.base"], res) + 0.05 * (sand - 0.5)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
