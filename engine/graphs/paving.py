"""Paving: cobblestone setts laid in segmental arches, with sandy joints.

Wiring (the ``stones`` pattern is ``arc_pavement``: joints 0, each stone rising over a rounded
edge to its own shade):

* worn outlines: the pattern warped by mid-frequency noise so stones are not perfectly cut;
* stone surface: a granite-like speckle (fine noise) and a per-stone shade from the pattern,
  mapped through a three-stop ramp around the stone colour; broad dirt multiplied in;
* joints: sand/dirt colour with coarse grain, recessed and rough;
* height: stone domes + grain; normal from height; roughness: worn stone tops a little smoother
  than their sides and the joints; metallic 0.
"""

from __future__ import annotations

import math

import torch

from ..filters.blend import blend
from ..filters.gradient_map import gradient_map
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.warp import warp
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, color_params, full, noise, rgb, seed_param, seeds

# fewer, larger stones than the generator's generic prior: a texture shows a few arches
_ROWS = tuple(0.0 if r % 2 else math.exp(-0.5 * ((r - 8) / 2.0) ** 2) for r in range(4, 49))


class Paving(RetunedGraph):
    name = "paving"
    description = "Paving: cobblestones in arches (granite setts) with sandy joints"
    slots = {"stones": "arc_pavement"}
    slot_priors = {
        "stones.rows": dict(default=8, weights=_ROWS),
        "stones.courses": dict(default=3, prior=(3.0, 0.8)),
        "stones.stones": dict(default=8, prior=(8.0, 2.0)),
    }
    filter_params = (
        *color_params("color.stone", (0.1, 0.12, 0.55), (0.05, 0.08, 0.12), "Stone colour"),
        float_param("color.variation", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Color",
                    description="Shade difference between stones"),
        float_param("color.speckle", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Color",
                    description="Granite-like speckle on the stones"),
        *color_params("color.joint", (0.09, 0.15, 0.35), (0.025, 0.07, 0.1), "Joint (sand, dirt) colour"),
        float_param("color.dirt", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="Broad dirt darkening the pavement"),
        float_param("shape.wear", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="Irregularity of the stone outlines"),
        float_param("height.grain", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Roughness of the stone surface in the height"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.05), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.stone", 0.7, 0.2, 1.0, prior=(0.7, 0.1), group="Roughness",
                    description="Roughness of the stone tops"),
        float_param("roughness.joint", 0.92, 0.4, 1.0, prior=(0.92, 0.05), group="Roughness",
                    description="Roughness of the joints"),
        seed_param(),
    )

    joint_colors = ("color.stone", "color.joint")
    joint_width = "stones.gap"

    def layout_counts(self, params):
        # at an arch's crown a person sees half its courses (the next row covers the rest), and
        # about ``stones`` stones per arch along a course (approximate: the arc is longer than W)
        arcs = int(params["stones.arcs"])
        rows = max(int(params["stones.rows"]) + int(params["stones.rows"]) % 2, 4 * arcs)
        return {"rows": rows * int(params["stones.courses"]) / 2.0,
                "per_row": float(arcs * int(params["stones.stones"]))}

    def compose(self, p, patterns, res):
        pat = patterns["stones"]
        dirt = noise(value_fbm, seeds(p, 0), res, 3, 4)
        chips = noise(perlin_fbm, seeds(p, 1), res, 24, 3)
        speck = noise(value_fbm, seeds(p, 2), res, 32, 3)

        shape = warp(pat, chips, p["shape.wear"] * 3e-4)
        stone = levels(shape, in_high=0.1)  # 1 on a stone, 0 in the joints
        shade = levels(shape, in_low=0.4)  # per-stone shade (1 = lightest stone)

        base = rgb(p, "color.stone")[:, :, 0, 0]
        v = p["color.variation"][:, None]
        ramp = torch.stack([base * (1.0 - 0.6 * v), base, base + (1.0 - base) * 0.5 * v], dim=1)
        color = gradient_map(shade, ramp)
        color = blend(speck, color, "overlay", opacity=p["color.speckle"])
        joint = blend(chips, full(rgb(p, "color.joint"), res, 3), "overlay", opacity=0.5)
        color = blend(joint, color, "copy", mask=1.0 - stone)
        color = blend(dirt, color, "multiply", opacity=p["color.dirt"])

        h = levels(shape, in_high=0.6, out_low=0.2, out_high=0.8)  # rounded stone tops
        h = blend(speck, h, "overlay", opacity=0.5 * p["height.grain"], mask=stone)
        h = blend(chips, h, "overlay", opacity=0.5, mask=1.0 - stone)

        top = levels(shape, in_low=0.3, in_high=0.8)  # worn tops are smoother than the sides
        rough = full(p["roughness.stone"], res) + 0.15 * (1.0 - top)
        rough = blend(full(p["roughness.joint"], res), rough, "copy", mask=1.0 - stone)
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h,
        }
