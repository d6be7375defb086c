"""Wood planks: a floor or wall of boards laid side by side, staggered end joints.

Wiring (two slots: ``planks`` is ``tile_brick`` retuned to long boards, one to three per
course, thin joints, staggered; ``grain`` is ``stripes`` retuned to many fine, soft,
horizontal growth rings):

* grain: the rings bent along the boards by a low-frequency noise, shifted across by each
  board's own shade so that neighbouring boards do not continue each other's rings (sawn
  from different logs), fibres smeared along the grain on top;
* colour: the wood's colour, darker on the rings (late wood), each board a little lighter or
  darker (``color.board_variation``), dark joints;
* height: boards flat with slightly rounded edges (the pattern's bevel), rings and fibres in
  faint relief, joints recessed; roughness from the finish, rougher in the joints;
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


class WoodPlanks(RetunedGraph):
    name = "wood_planks"
    description = "Wood planks: boards with staggered end joints, growth rings and fibres"
    slots = {"planks": "tile_brick", "grain": "stripes"}
    slot_priors = {
        # boards 6-10 times longer than wide: one or two per course
        "planks.tiles_x": dict(default=1, prior=(1.3, 0.6)),
        "planks.tiles_y": dict(default=8, prior=(8.0, 2.5)),
        "planks.offset": dict(default=0.5, prior=(0.5, 0.15)),
        "planks.gap": dict(default=0.04, prior=(0.04, 0.02)),
        "planks.bevel": dict(default=0.05, prior=(0.05, 0.03)),
        "planks.luminance_random": dict(default=0.7, prior=(0.7, 0.15)),
        "planks.tilt_random": dict(default=0.05, prior=(0.05, 0.05)),
        "planks.scale_random": dict(default=0.0, prior=(0.0, 0.01)),
        "grain.count": dict(default=24, prior=(24.0, 8.0)),
        "grain.direction": dict(default="horizontal", weights=(1.0, 0.0)),
        "grain.softness": dict(default=0.6, prior=(0.6, 0.15)),
        "grain.width": dict(default=0.4, prior=(0.4, 0.1)),
        "grain.width_random": dict(default=0.5, prior=(0.5, 0.2)),
        "grain.brightness_random": dict(default=0.4, prior=(0.4, 0.2)),
    }
    filter_params = (
        *color_params("color.wood", (0.07, 0.6, 0.55), (0.015, 0.1, 0.15), "Wood colour (light early wood)"),
        *color_params("color.joint", (0.07, 0.5, 0.15), (0.02, 0.15, 0.08), "Joint colour"),
        float_param("color.rings", 0.35, 0.0, 1.0, prior=(0.35, 0.12), group="Color",
                    description="How much darker the growth rings are"),
        float_param("color.board_variation", 0.4, 0.0, 1.0, prior=(0.4, 0.12), group="Color",
                    description="How much the boards differ in tone"),
        float_param("shape.waviness", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="How far the rings wander along the boards"),
        float_param("shape.fibres", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Shape",
                    description="Contrast of the fibres along the grain"),
        float_param("height.grain", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Surface",
                    description="Relief of the rings and fibres"),
        float_param("normal.intensity", 2.0, 0.0, 10.0, prior=(2.0, 0.7), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.45, 0.05, 1.0, prior=(0.45, 0.15), group="Roughness",
                    description="Roughness of the boards (low = varnished, high = raw)"),
        float_param("roughness.joint", 0.85, 0.3, 1.0, prior=(0.85, 0.08), group="Roughness",
                    description="Roughness of the joints"),
        seed_param(),
    )
    layout_params = {"rows": "planks.tiles_y", "per_row": "planks.tiles_x"}
    bond_param = "planks.offset"
    joint_colors = ("color.wood", "color.joint")
    joint_width = "planks.gap"

    def compose(self, p, patterns, res):
        pat, rings = patterns["planks"], patterns["grain"]
        board = levels(pat, in_high=0.05)
        shade = levels(pat, in_low=0.3)  # per-board tone (1 = lightest)
        wobble = noise(perlin_fbm, seeds(p, 0), res, 2, 3)
        blotch = noise(value_fbm, seeds(p, 1), res, 3, 3)
        fibres = noise(perlin_fbm, seeds(p, 2), res, 32, 3, cap=1024,
                       then=lambda x: levels(streak(x, 0.12, False), in_low=0.35, in_high=0.65))
        # each board's rings shifted across by its shade, then bent along the board
        rings = directional_warp(rings, shade, 0.5, 0.25)
        rings = directional_warp(rings, wobble, p["shape.waviness"] * 0.1, 0.25)
        tone = blur(rings, 0.003)

        color = rgb(p, "color.wood") * (1.0 - col(p["color.rings"]) * tone)
        color = color * (1.0 - col(p["color.board_variation"]) * 0.4 * (1.0 - shade))
        color = blend(fibres, color, "overlay", opacity=0.5 * p["shape.fibres"])
        color = blend(blotch, color, "overlay", opacity=0.15)
        color = blend(full(rgb(p, "color.joint"), res, 3), color, "copy", mask=1.0 - board)

        h = levels(pat, in_high=0.2, out_low=0.2, out_high=0.7)
        h = h - 0.1 * col(p["height.grain"]) * tone * board
        h = blend(fibres, h, "overlay", opacity=0.3 * p["height.grain"], mask=board)
        rough = full(p["roughness.base"], res) + 0.1 * (tone - 0.5)
        rough = blend(full(p["roughness.joint"], res), rough, "copy", mask=1.0 - board)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
