"""Scratched metal: a worn metal sheet, bare or painted, with scratches, grime and rust.

Wiring (the ``scratches`` pattern is a mask: 0 background, up to 1 on a scratch; retuned to
many fine scratches, as worn sheet metal shows them):

* paint: a coat over the metal (``paint.amount``: 0 bare metal, 1 fully painted; in between
  the coat is chipped off where a low-frequency noise is low), non-metallic, its own colour
  and roughness; scratches cut through it to the bright bare metal;
* rust: large blotches (a low-frequency noise cut by a soft threshold) or fine specks (the
  peaks of a fine noise), mixed by ``rust.specks``, more of either with ``rust.amount``; its own
  grainy colour ramp, rough and non-metallic, over paint and metal alike;
* grime: mid-frequency noise darkening the surface and varying its roughness;
* scratches: brighter, differently rough grooves in the bare metal (rust covers them);
* height: scratches cut in, paint a little raised, rust raised and grainy; normal from height;
* metallic: 1 on bare metal, 0 under paint and rust.

The paint and the specks were added when the prior, all bare metal with rust in large blotches,
made the graph classifier put photos of painted and oxidised steel anywhere but here.
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
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds


class ScratchedMetal(RetunedGraph):
    name = "metal"
    description = "Scratched metal: bare or painted metal with scratches, grime and rust"
    slots = {"scratches": "scratches"}
    slot_priors = {
        "scratches.count": dict(default=160, prior=(160.0, 70.0)),
        "scratches.width": dict(default=0.002, prior=(0.002, 0.0008)),
    }
    filter_params = (
        *color_params("color.metal", (0.6, 0.04, 0.62), (None, 0.03, 0.1), "Bare metal colour"),
        float_param("color.grime", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="Darkening of the metal by grime"),
        float_param("color.scratches", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="How much brighter the scratches are than the metal"),
        *color_params("color.paint", (0.6, 0.15, 0.35), (None, 0.15, 0.2), "Paint colour"),
        float_param("paint.amount", 0.2, 0.0, 1.0, prior=(0.2, 0.4), group="Paint",
                    description="Share of the sheet under paint (0 bare metal, 1 fully painted)"),
        float_param("roughness.paint", 0.5, 0.05, 1.0, prior=(0.5, 0.15), group="Roughness",
                    description="Roughness of the paint"),
        *color_params("color.rust", (0.055, 0.72, 0.42), (0.015, 0.1, 0.08), "Rust colour"),
        float_param("rust.amount", 0.25, 0.0, 1.0, prior=(0.25, 0.15), group="Rust",
                    description="Share of the surface covered by rust"),
        float_param("rust.sharpness", 0.6, 0.0, 0.95, prior=(0.6, 0.15), group="Rust",
                    description="Sharpness of the rust patches' borders"),
        float_param("rust.specks", 0.4, 0.0, 1.0, prior=(0.4, 0.3), group="Rust",
                    description="Rust from large blotches (0) to fine specks (1)"),
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
        speck = noise(perlin_fbm, seeds(p, 3), res, 48, 2, cap=1024)
        chips = noise(value_fbm, seeds(p, 4), res, 3, 4)

        # rust where the blotch noise is high: the threshold moves down as the amount grows;
        # specks: the peaks of a fine noise, more of them with the amount
        blotches = threshold(patch, position=0.75 - 0.5 * p["rust.amount"], contrast=p["rust.sharpness"])
        blotches = blend(grain, blotches, "multiply", opacity=0.5 * p["rust.sharpness"])  # ragged edges
        specks = threshold(speck, position=0.85 - 0.3 * p["rust.amount"], contrast=0.9)
        rust = torch.lerp(blotches, specks, col(p["rust.specks"]))
        # paint where the chip noise is above 1 - amount (all of it at 1), cut by the scratches
        paint = threshold(chips, position=1.0 - p["paint.amount"], contrast=0.9) * (1.0 - scr)

        metal = rgb(p, "color.metal")
        color = full(metal, res, 3)
        bright = metal + (1.0 - metal) * col(p["color.scratches"])
        color = blend(full(bright, res, 3), color, "copy", mask=scr)
        color = blend(full(rgb(p, "color.paint"), res, 3), color, "copy", mask=paint)
        color = blend(grime, color, "multiply", opacity=p["color.grime"])
        rust_main = rgb(p, "color.rust")[:, :, 0, 0]
        ramp = torch.stack([rust_main * 0.55, rust_main, (rust_main * 1.35).clamp(max=1.0)], dim=1)
        rust_color = gradient_map(blend(grain, patch, "overlay"), ramp)
        color = blend(rust_color, color, "copy", mask=rust)

        h = blend(scr, torch.full_like(scr, 0.6), "subtract",
                  opacity=0.5 * p["height.scratches"])
        h = h + 0.04 * paint
        rust_h = levels(grain, out_low=0.55, out_high=0.95)
        h = blend(rust_h, h, "copy", mask=rust * col(p["height.rust"]))

        rough = blend(full(p["roughness.paint"], res), full(p["roughness.metal"], res), "copy", mask=paint)
        rough = blend(grime, rough, "overlay", opacity=p["roughness.grime"])
        rough = blend(full(p["roughness.scratches"], res), rough, "copy", mask=scr)
        rough = blend(full(p["roughness.rust"], res), rough, "copy", mask=rust)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": ((1.0 - rust) * (1.0 - paint)).clamp(0.0, 1.0),
            "height": h.clamp(0.0, 1.0),
        }
