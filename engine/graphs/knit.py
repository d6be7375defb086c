"""Knit: a stockinette knitted fabric (jumpers, scarves, knitted throws).

Wiring (the ``stitches`` pattern is ``knit``: columns of V-shaped stitches of round yarn):

* yarn: the pattern's legs, their crests lighter; between them the shadowed gaps
  (``color.depth``), a fine fuzz of loose fibres over everything (``shape.fuzz``) and a twist
  of the plies along the yarn (a fine noise stretched down the columns, ``shape.plies``);
* colour: one yarn colour, each stitch a little lighter or darker (the generator's
  per-stitch luminance); not covered: stripes, colourwork, cables, rib and purl faces;
* height: the yarn's round profile plus fuzz; roughness high (wool); normal from height;
  metallic 0.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import warp
from ..generators.knit import stitch_rows
from ..generators.noise import perlin_fbm
from ..params import float_param
from . import MaterialGraph
from ._common import col, color_params, full, noise, rgb, seed_param, seeds, streak


class Knit(MaterialGraph):
    name = "knit"
    description = "Knit: stockinette stitches of round yarn in V columns, fuzz (jumper, scarf)"
    slots = {"stitches": "knit"}
    filter_params = (
        *color_params("color.yarn", (0.05, 0.45, 0.65), (None, 0.25, 0.17), "Yarn colour"),
        float_param("color.depth", 0.6, 0.0, 1.0, prior=(0.6, 0.15), group="Color",
                    description="Darkening of the gaps between the yarn"),
        float_param("shape.fuzz", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Shape",
                    description="Strength of the loose fibre fuzz"),
        float_param("shape.plies", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Shape",
                    description="Visibility of the yarn's twisted plies"),
        float_param("normal.intensity", 4.0, 0.0, 20.0, prior=(4.0, 1.2), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.9, 0.5, 1.0, prior=(0.9, 0.05), group="Roughness",
                    description="Roughness of the yarn"),
        seed_param(),
    )
    # stitches a person counts along a row; the rows follow from it and the gauge (aspect)
    layout_params = {"per_row": "stitches.stitches"}

    def layout_counts(self, params):
        n = torch.tensor([float(round(float(params["stitches.stitches"])))])
        rows = stitch_rows({"stitches": n, "aspect": torch.tensor([float(params["stitches.aspect"])])})
        return {"rows": float(rows[0]), "per_row": float(n[0])}

    def compose(self, p, patterns, res):
        yarn = patterns["stitches"]  # 0 between the yarn, crests at the stitch's luminance
        fuzz_src = noise(perlin_fbm, seeds(p, 0), res, 64, 2, cap=1024)
        curl = noise(perlin_fbm, seeds(p, 1), res, 32, 2, cap=1024)
        fuzz = warp(fuzz_src, curl, 0.003)
        plies = noise(perlin_fbm, seeds(p, 2), res, 48, 2, cap=1024,
                      then=lambda x: levels(streak(x, 0.03, True), in_low=0.3, in_high=0.7))
        body = levels(yarn, in_high=0.5)  # 0 in the gaps, 1 over most of a leg
        color = full(rgb(p, "color.yarn"), res, 3)
        color = color * (0.75 + 0.25 * levels(yarn, in_low=0.3)) * (1.0 - col(p["color.depth"]) * 0.7 * (1.0 - body))
        color = blend(plies, color, "overlay", opacity=0.5 * p["shape.plies"], mask=body)
        color = blend(fuzz, color, "overlay", opacity=0.4 * p["shape.fuzz"])

        h = 0.15 + 0.7 * yarn
        h = blend(plies, h, "overlay", opacity=0.3 * p["shape.plies"], mask=body)
        h = blend(fuzz, h, "overlay", opacity=0.4 * p["shape.fuzz"])
        rough = full(p["roughness.base"], res) + 0.05 * (fuzz - 0.5)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
