"""Diamond plate: a steel or aluminium tread plate (floors, steps, truck beds, toolboxes).

Wiring (the ``treads`` pattern is ``diamond_plate``: lens-shaped raised treads at +-45
degrees, each pointing at the middle of its neighbours):

* plate: the metal's colour with a fine grain and grime that gathers on the flat plate around
  the treads' feet (``color.grime``: a blurred copy of the treads darkens the plate next to
  them, a low-frequency noise spreads it unevenly);
* wear: the treads' crests worn bright and smooth by feet (``shape.wear``: lighter colour,
  lower roughness where the tread is high);
* height: the treads raised (``height.treads``) on a flat plate with a faint grain; normal
  from height; metallic 1, the grime's share less metallic.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.blur import blur
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.diamond_plate import tread_rows
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from . import MaterialGraph
from ._common import col, color_params, full, noise, rgb, seed_param, seeds


class DiamondPlate(MaterialGraph):
    name = "diamond_plate"
    description = "Diamond plate: metal tread plate with raised lens-shaped treads at +-45 degrees"
    slots = {"treads": "diamond_plate"}
    filter_params = (
        *color_params("color.metal", (0.6, 0.04, 0.68), (None, 0.04, 0.12), "Metal colour"),
        float_param("color.grime", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="Grime on the plate around the treads"),
        float_param("shape.wear", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Shape",
                    description="Crests of the treads worn bright and smooth"),
        float_param("height.treads", 0.6, 0.0, 1.0, prior=(0.6, 0.15), group="Surface",
                    description="Height of the treads"),
        float_param("normal.intensity", 3.0, 0.0, 15.0, prior=(3.0, 1.0), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.metal", 0.4, 0.05, 1.0, prior=(0.4, 0.12), group="Roughness",
                    description="Roughness of the plate"),
        seed_param(),
    )
    # treads a person counts along a row; the rows follow from it and the aspect
    layout_params = {"per_row": "treads.tiles"}

    def layout_counts(self, params):
        n = torch.tensor([float(round(float(params["treads.tiles"])))])
        rows = tread_rows({"tiles": n, "aspect": torch.tensor([float(params["treads.aspect"])])})
        return {"rows": float(rows[0]), "per_row": float(n[0])}

    def compose(self, p, patterns, res):
        tread = patterns["treads"]  # 0 on the plate, crests up to 1
        grain = noise(perlin_fbm, seeds(p, 0), res, 48, 2)
        patches = noise(value_fbm, seeds(p, 1), res, 4, 4)
        body = levels(tread, in_high=0.15)  # 1 on a tread
        crest = levels(tread, in_low=0.6)
        feet = (blur(body, 0.01) * 1.6).clamp(0.0, 1.0) * (1.0 - body)  # plate next to a tread
        grime = (col(p["color.grime"]) * (0.5 * feet + 0.5 * patches)).clamp(0.0, 1.0)

        metal = rgb(p, "color.metal")
        color = full(metal, res, 3) * (1.0 - 0.6 * grime)
        color = blend(grain, color, "overlay", opacity=0.12)
        worn = col(p["shape.wear"]) * crest
        color = color + (1.0 - color) * 0.35 * worn

        h = 0.2 + 0.6 * col(p["height.treads"]) * tread
        h = blend(grain, h, "overlay", opacity=0.04)
        rough = full(p["roughness.metal"], res) * (1.0 - 0.5 * worn) + 0.3 * grime
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": (1.0 - 0.5 * grime).clamp(0.0, 1.0),
            "height": h.clamp(0.0, 1.0),
        }
