"""Scratched metal: a worn metal sheet with scratches, grime and patches of rust.

Wiring (the ``scratches`` pattern is a mask: 0 background, up to 1 on a scratch):

* rust: a blotchy low-frequency noise cut by a soft threshold (``rust.amount`` = coverage),
  with its own grainy colour ramp, rough and non-metallic;
* grime: mid-frequency noise darkening the metal and varying its roughness;
* scratches: brighter, differently rough grooves in the bare metal (rust covers them);
* height: scratches cut in, rust raised and grainy; normal from height;
* metallic: 1 on bare metal, 0 under rust.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.gradient_map import gradient_map
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..filters.threshold import threshold
from ..generators.noise import perlin_fbm, value_fbm
from ..params import float_param
from . import MaterialGraph
from ._common import col, color_params, full, noise, rgb, seed_param, seeds


class ScratchedMetal(MaterialGraph):
    name = "metal"
    description = "Scratched metal: bare metal with scratches, grime and rust patches"
    slots = {"scratches": "scratches"}
    filter_params = (
        *color_params("color.metal", (0.6, 0.04, 0.62), (None, 0.03, 0.1), "Bare metal colour"),
        float_param("color.grime", 0.35, 0.0, 1.0, prior=(0.35, 0.15), group="Color",
                    description="Darkening of the metal by grime"),
        float_param("color.scratches", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="How much brighter the scratches are than the metal"),
        *color_params("color.rust", (0.055, 0.72, 0.42), (0.015, 0.1, 0.08), "Rust colour"),
        float_param("rust.amount", 0.25, 0.0, 1.0, prior=(0.25, 0.15), group="Rust",
                    description="Share of the surface covered by rust"),
        float_param("rust.sharpness", 0.6, 0.0, 0.95, prior=(0.6, 0.15), group="Rust",
                    description="Sharpness of the rust patches' borders"),
        float_param("height.scratches", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Depth of the scratches"),
        float_param("height.rust", 0.4, 0.0, 1.0, prior=(0.4, 0.15), group="Surface",
                    description="Relief and grain of the rust"),
        float_param("normal.intensity", 4.0, 0.0, 20.0, prior=(4.0, 1.40), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.metal", 0.35, 0.05, 1.0, prior=(0.35, 0.1), group="Roughness",
                    description="Roughness of the bare metal"),
        float_param("roughness.grime", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Roughness",
                    description="How much the grime varies the metal's roughness"),
        float_param("roughness.scratches", 0.5, 0.05, 1.0, prior=(0.5, 0.15), group="Roughness",
                    description="Roughness inside the scratches"),
        float_param("roughness.rust", 0.85, 0.3, 1.0, prior=(0.85, 0.06), group="Roughness",
                    description="Roughness of the rust"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        scr = patterns["scratches"]
        patch = noise(value_fbm, seeds(p, 0), res, 4, 5)
        grime = noise(perlin_fbm, seeds(p, 1), res, 8, 5)
        grain = noise(perlin_fbm, seeds(p, 2), res, 32, 3)

        # rust where the blotch noise is high: the threshold moves down as the amount grows
        rust = threshold(patch, position=0.75 - 0.5 * p["rust.amount"], contrast=p["rust.sharpness"])
        rust = blend(grain, rust, "multiply", opacity=0.5 * p["rust.sharpness"])  # ragged edges

        metal = rgb(p, "color.metal")
        color = blend(grime, full(metal, res, 3), "multiply", opacity=p["color.grime"])
        bright = metal + (1.0 - metal) * col(p["color.scratches"])
        color = blend(full(bright, res, 3), color, "copy", mask=scr)
        rust_main = rgb(p, "color.rust")[:, :, 0, 0]
        ramp = torch.stack([rust_main * 0.55, rust_main, (rust_main * 1.35).clamp(max=1.0)], dim=1)
        rust_color = gradient_map(blend(grain, patch, "overlay"), ramp)
        color = blend(rust_color, color, "copy", mask=rust)

        h = blend(scr, torch.full_like(scr, 0.6), "subtract",
                  opacity=0.5 * p["height.scratches"])
        rust_h = levels(grain, out_low=0.55, out_high=0.95)
        h = blend(rust_h, h, "copy", mask=rust * col(p["height.rust"]))

        rough = blend(grime, full(p["roughness.metal"], res), "overlay", opacity=p["roughness.grime"])
        rough = blend(full(p["roughness.scratches"], res), rough, "copy", mask=scr)
        rough = blend(full(p["roughness.rust"], res), rough, "copy", mask=rust)
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough,
            "metallic": 1.0 - rust,
            "height": h,
        }
