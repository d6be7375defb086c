"""Parquet: a herringbone floor of wooden boards (or a herringbone brick path's boards).

Wiring (the ``boards`` pattern is ``herringbone``: boards at +-45 degrees with joints and a
shade per board):

* grain: growth rings along each board, whichever way it runs (the generator's
  :func:`~diffproxy.generators.herringbone.board_direction`): cosine rings across the board,
  five per board width, shifted by the board's shade (boards sawn from different logs) and
  bent by a low- and a mid-frequency noise (``shape.waviness``), sharpened into thin late-wood
  lines (an isotropic fibre noise over them looked like cloth, not wood: none);
* colour: the wood's colour, darker on the rings, each board a little lighter or darker
  (``color.board_variation``), dark joints, a faint blotchy stain;
* height: boards flat with rounded edges (the pattern's bevel), rings in faint relief, joints
  recessed; roughness from the finish, rougher in the joints; normal from height; metallic 0.
"""

from __future__ import annotations

import math

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators._common import uv
from ..generators.herringbone import board_direction
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from . import MaterialGraph
from ._common import col, color_params, full, noise, rgb, seed_param, seeds

RINGS_PER_BOARD = 5  # growth rings across one board width (whole: the rings must tile)


class Parquet(MaterialGraph):
    name = "parquet"
    description = "Parquet: herringbone boards at +-45 degrees with joints, growth rings along each board"
    slots = {"boards": "herringbone"}
    filter_params = (
        *color_params("color.wood", (0.07, 0.55, 0.55), (0.015, 0.12, 0.15), "Wood colour"),
        *color_params("color.joint", (0.07, 0.5, 0.15), (0.02, 0.15, 0.08), "Joint colour"),
        float_param("color.rings", 0.3, 0.0, 1.0, prior=(0.3, 0.1), group="Color",
                    description="How much darker the growth rings are"),
        float_param("color.board_variation", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Color",
                    description="How much the boards differ in tone"),
        float_param("color.stain", 0.15, 0.0, 1.0, prior=(0.15, 0.08), group="Color",
                    description="Blotchy unevenness of the stain or varnish"),
        float_param("shape.waviness", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="How far the rings wander along the boards"),
        float_param("height.grain", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Surface",
                    description="Relief of the rings"),
        float_param("normal.intensity", 2.0, 0.0, 10.0, prior=(2.0, 0.7), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.4, 0.05, 1.0, prior=(0.4, 0.15), group="Roughness",
                    description="Roughness of the boards (low = varnished, high = raw)"),
        float_param("roughness.joint", 0.85, 0.3, 1.0, prior=(0.85, 0.08), group="Roughness",
                    description="Roughness of the joints"),
        seed_param(),
    )
    joint_colors = ("color.wood", "color.joint")
    joint_width = "boards.gap"

    def compose(self, p, patterns, res):
        pat = patterns["boards"]
        board = levels(pat, in_high=0.05)
        shade = levels(pat, in_low=0.3)  # per-board tone (1 = lightest)
        up_right = board_direction(self.slot_params(p, "boards"), res).to(pat.device)
        wobble = noise(perlin_fbm, seeds(p, 0), res, 3, 3)
        ripple = noise(perlin_fbm, seeds(p, 2), res, 12, 2)
        blotch = noise(value_fbm, seeds(p, 1), res, 4, 3)
        u, v = uv(res, pat.device)
        # rings across a board: constant along it (u + v along up-right boards, u - v else);
        # one board width is 1 / (ratio * rows) of u + v
        per = col(p["boards.ratio"].round() * p["boards.rows"].round()) * RINGS_PER_BOARD
        across = torch.where(up_right > 0.5, u + v, u - v)
        bend = 1.5 * (wobble - 0.5) + 0.6 * (ripple - 0.5)
        phase = per * across + 0.37 * shade + col(p["shape.waviness"]) * bend
        rings = levels(0.5 + 0.5 * torch.cos(2.0 * math.pi * phase), in_low=0.7)

        color = rgb(p, "color.wood") * (1.0 - col(p["color.rings"]) * rings)
        color = color * (1.0 - col(p["color.board_variation"]) * 0.4 * (1.0 - shade))
        color = blend(blotch, color, "overlay", opacity=p["color.stain"])
        color = blend(full(rgb(p, "color.joint"), res, 3), color, "copy", mask=1.0 - board)

        h = levels(pat, in_high=0.2, out_low=0.2, out_high=0.7)
        h = h - 0.08 * col(p["height.grain"]) * rings * board
        rough = full(p["roughness.base"], res) + 0.08 * (rings - 0.5)
        rough = blend(full(p["roughness.joint"], res), rough, "copy", mask=1.0 - board)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
