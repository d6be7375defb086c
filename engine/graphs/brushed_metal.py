"""Brushed metal: a sheet brushed in one direction, fine parallel lines and a soft sheen.

Wiring (the ``lines`` pattern is ``scratches``, retuned to many long, thin, nearly parallel
strokes: the brush's deeper grooves):

* grain: fine noise smeared along the brushing direction (``streak``): the dense hairline
  texture that makes the metal look brushed, plus the strokes on top;
* colour: the metal's colour, a little brighter along the strokes, mottled by broad smudges;
* roughness: lower along the grain's ridges, higher in the strokes (anisotropic look in a
  single roughness map);
* height: the grain and the strokes cut in, very shallow (brushed metal is smooth to the
  eye); normal from height; metallic 1.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds, streak


class BrushedMetal(RetunedGraph):
    name = "brushed_metal"
    description = "Brushed metal: fine parallel hairlines along one direction, smooth and metallic"
    slots = {"lines": "scratches"}
    # many long strokes, all along the brushing direction
    slot_priors = {
        "lines.count": dict(default=300, prior=(300.0, 80.0)),
        "lines.length": dict(default=0.5, prior=(0.5, 0.15)),
        "lines.length_random": dict(default=0.5, prior=(0.5, 0.2)),
        "lines.width": dict(default=0.0015, prior=(0.0015, 0.0006)),
        "lines.angle": dict(default=0.0, prior=(0.0, 3.0)),
        "lines.angle_random": dict(default=0.02, prior=(0.02, 0.02)),
        "lines.brightness_random": dict(default=0.6, prior=(0.6, 0.2)),
    }
    filter_params = (
        *color_params("color.metal", (0.6, 0.03, 0.72), (None, 0.03, 0.1), "Metal colour"),
        float_param("color.lines", 0.25, 0.0, 1.0, prior=(0.25, 0.1), group="Color",
                    description="How much brighter the brush strokes are"),
        float_param("color.grain", 0.3, 0.0, 1.0, prior=(0.3, 0.1), group="Color",
                    description="Contrast of the hairline grain in the colour"),
        float_param("color.smudge", 0.15, 0.0, 1.0, prior=(0.15, 0.08), group="Color",
                    description="Broad smudges darkening the sheet"),
        float_param("height.grain", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Depth of the hairline grain"),
        float_param("normal.intensity", 1.0, 0.0, 10.0, prior=(1.0, 0.35), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.3, 0.05, 0.8, prior=(0.3, 0.08), group="Roughness",
                    description="Roughness of the brushed surface"),
        float_param("roughness.grain", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Roughness",
                    description="How much the grain varies the roughness"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        lines = patterns["lines"]
        # the grain follows the strokes' mean direction: horizontal unless turned past 45 degrees
        vertical = p["lines.angle"].abs() > 45.0
        grain = noise(perlin_fbm, seeds(p, 0), res, 64, 2, cap=1024,
                      then=lambda x: levels(streak(x, 0.3, vertical), in_low=0.4, in_high=0.6))
        smudge = noise(value_fbm, seeds(p, 1), res, 3, 4)

        metal = rgb(p, "color.metal")
        color = blend(grain, full(metal, res, 3), "overlay", opacity=p["color.grain"])
        bright = metal + (1.0 - metal) * col(p["color.lines"])
        color = blend(full(bright, res, 3), color, "copy", mask=lines)
        color = blend(smudge, color, "multiply", opacity=p["color.smudge"])

        h = 0.5 + 0.2 * col(p["height.grain"]) * (grain - 0.5) - 0.15 * lines
        rough = full(p["roughness.base"], res) + col(p["roughness.grain"]) * 0.3 * (0.5 - grain) + 0.15 * lines
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.ones_like(h),
            "height": h.clamp(0.0, 1.0),
        }
