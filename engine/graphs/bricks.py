"""Bricks: a running-bond wall of fired-clay bricks in recessed mortar.

Wiring (the ``brick`` pattern is a height mask: mortar 0, each brick up to its own level):

* worn edges: the pattern is warped by low-frequency noise so brick outlines are irregular;
* height: pattern lifted into mid-range, fine sandy grain overlaid, mortar grain on top;
* colour: a per-brick ramp (the pattern's per-brick level picks a shade between a darker and
  the main brick colour), grain and large-scale dirt overlaid, mortar colour under the mask;
* roughness: brick and mortar values under the same mask, modulated by grain;
* normal from height; metallic 0 (a dielectric).
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


class Bricks(RetunedGraph):
    name = "bricks"
    description = "Brick wall: running-bond bricks with mortar joints, per-brick colour, grain, dirt"
    slots = {"brick": "brick"}
    # facing-brick walls show wider joints than the generator's generic prior
    slot_priors = {"brick.mortar": dict(default=0.2, prior=(0.2, 0.06))}
    filter_params = (
        *color_params("color.brick", (0.035, 0.66, 0.56), (0.015, 0.1, 0.1), "Brick colour"),
        float_param("color.variation", 0.5, 0.0, 1.0, prior=(0.5, 0.15), group="Color",
                    description="How much darker the darkest brick is than the main colour"),
        *color_params("color.mortar", (0.1, 0.12, 0.66), (0.04, 0.06, 0.1), "Mortar colour"),
        float_param("color.grain", 0.35, 0.0, 1.0, prior=(0.35, 0.12), group="Color",
                    description="Strength of the sandy grain in the colour"),
        float_param("color.dirt", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="Large blotches of dirt and soot darkening the wall"),
        float_param("shape.edge_wear", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="Irregularity of brick edges (noise warp of the outline)"),
        float_param("height.grain", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Bumpiness of the brick surface (grain in the height)"),
        float_param("height.mortar_grain", 0.5, 0.0, 1.0, prior=(0.5, 0.2), group="Surface",
                    description="Coarse grain of the mortar surface"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.05), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.brick", 0.82, 0.3, 1.0, prior=(0.82, 0.07), group="Roughness",
                    description="Roughness of the brick faces"),
        float_param("roughness.mortar", 0.92, 0.3, 1.0, prior=(0.92, 0.05), group="Roughness",
                    description="Roughness of the mortar"),
        seed_param(),
    )

    layout_params = {"rows": "brick.rows", "per_row": "brick.bricks"}
    bond_param = "brick.offset"

    joint_colors = ("color.brick", "color.mortar")
    joint_width = "brick.mortar"
    # the colour reads the bevel only in its first tenth (``levels(shape, in_high=0.1)``): a
    # rounded arris is relief the photo hardly sees, a hard one-texel step a dark line it does
    relief_shape_params = ("brick.bevel",)
    # head joints jittered: brick lengths vary, the course's period blurs. Measured by
    # ``layout.regularity_curve(get_graph("bricks"), (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6))``
    # (16 prior draws, seed 0, 256 px); from 0.6 on it stays at 0.10-0.13
    jitter_param = "brick.size_jitter"
    jitter_regularity = ((0.0, 0.66), (0.1, 0.56), (0.2, 0.38), (0.3, 0.26), (0.4, 0.19), (0.5, 0.15),
                         (0.6, 0.13))

    def layout_counts(self, params):
        rows = int(params["brick.rows"])
        return {"rows": float(rows + rows % 2), "per_row": float(params["brick.bricks"])}  # odd rows round up

    def compose(self, p, patterns, res):
        pat = patterns["brick"]
        b = pat.shape[0]
        blotch = noise(value_fbm, seeds(p, 0), res, 4, 4)
        grain = noise(perlin_fbm, seeds(p, 1), res, 32, 3)
        # ragged outlines: a few-pixel warp along the gradient of mid-frequency noise
        chips = noise(perlin_fbm, seeds(p, 2), res, 16, 3)
        shape = warp(pat, chips, p["shape.edge_wear"] * 4e-4)
        brick = levels(shape, in_high=0.1)  # 1 on a brick (bevel included), 0 in the mortar

        h = levels(shape, out_low=0.25, out_high=0.85)
        h = blend(grain, h, "overlay", opacity=p["height.grain"], mask=brick)
        h = blend(chips, h, "overlay", opacity=p["height.mortar_grain"], mask=1.0 - brick)

        # two-stop ramp (darker brick -> brick colour) as plain arithmetic: cheaper at 4096 px
        tone = levels(shape, in_low=0.45, in_high=1.0)
        color = rgb(p, "color.brick") * (1.0 - col(p["color.variation"]) * (1.0 - tone))
        color = blend(full(rgb(p, "color.mortar"), res), color, "copy", mask=1.0 - brick)
        color = blend(grain, color, "overlay", opacity=p["color.grain"])
        color = blend(blotch, color, "multiply", opacity=p["color.dirt"])

        rough = blend(full(p["roughness.mortar"], res), full(p["roughness.brick"], res), "copy",
                      mask=1.0 - brick)
        rough = blend(grain, rough, "overlay", opacity=0.3)
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough,
            "metallic": torch.zeros(b, 1, res, res, device=pat.device),
            "height": h,
        }
