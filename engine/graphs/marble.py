"""Marble: polished stone slabs with veins, set with thin joints.

Wiring (the ``slabs`` pattern is ``tile_brick``, retuned to a few large slabs in a straight
grid with thin joints):

* veins: a turbulent noise (one fBm warped by another) folded at its middle
  (``1 - |2 n - 1|``): the mid-level crossings of a smooth field are a few long curves, which
  become thin ridges; ``veins.width`` sets how much of the fold is kept, ``veins.turbulence``
  how far a rougher field bends them; a finer set of faint veins at a third of the strength;
  lighter and darker slabs take their veins from two different fields, so neighbouring slabs
  do not continue each other's veins (cut from different blocks);
* colour: the base colour clouded by a broad noise, the veins' colour over it, each slab a
  little lighter or darker; the joints' own colour;
* roughness: low (polished), the joints rough; height: flat slabs, recessed joints; normal
  from height; metallic 0.
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


class Marble(RetunedGraph):
    name = "marble"
    description = "Marble: polished slabs with branching veins and thin joints"
    slots = {"slabs": "tile_brick"}
    # large slabs, thin straight joints
    slot_priors = {
        "slabs.tiles_x": dict(default=2, prior=(2.0, 0.8)),
        "slabs.tiles_y": dict(default=2, prior=(2.0, 0.8)),
        "slabs.offset": dict(default=0.0, prior=(0.0, 0.1)),
        "slabs.gap": dict(default=0.008, prior=(0.008, 0.004)),
        "slabs.bevel": dict(default=0.01, prior=(0.01, 0.006)),
        "slabs.luminance_random": dict(default=0.3, prior=(0.3, 0.15)),
        "slabs.tilt_random": dict(default=0.0, prior=(0.0, 0.03)),
        "slabs.scale_random": dict(default=0.0, prior=(0.0, 0.01)),
    }
    filter_params = (
        *color_params("color.base", (0.1, 0.05, 0.88), (None, 0.05, 0.1), "Marble base colour"),
        *color_params("color.veins", (0.6, 0.1, 0.35), (None, 0.1, 0.15), "Vein colour"),
        *color_params("color.joint", (0.1, 0.05, 0.6), (None, 0.05, 0.15), "Joint colour"),
        float_param("veins.amount", 0.7, 0.0, 1.0, prior=(0.7, 0.15), group="Veins",
                    description="Strength of the veins in the colour"),
        float_param("veins.width", 0.3, 0.05, 1.0, prior=(0.3, 0.12), group="Veins",
                    description="Width of the veins"),
        float_param("veins.turbulence", 0.5, 0.0, 1.0, prior=(0.5, 0.2), group="Veins",
                    description="How far the veins wander and branch"),
        float_param("color.clouds", 0.2, 0.0, 1.0, prior=(0.2, 0.1), group="Color",
                    description="Broad cloudy variation of the base colour"),
        float_param("color.slab_variation", 0.3, 0.0, 1.0, prior=(0.3, 0.15), group="Color",
                    description="How much the slabs differ in brightness"),
        float_param("normal.intensity", 1.5, 0.0, 10.0, prior=(1.5, 0.5), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.polish", 0.12, 0.02, 0.8, prior=(0.12, 0.06), group="Roughness",
                    description="Roughness of the slabs (low = polished)"),
        float_param("roughness.joint", 0.8, 0.3, 1.0, prior=(0.8, 0.1), group="Roughness",
                    description="Roughness of the joints"),
        seed_param(),
    )
    layout_params = {"rows": "slabs.tiles_y", "per_row": "slabs.tiles_x"}
    bond_param = "slabs.offset"
    joint_colors = ("color.base", "color.joint")
    joint_width = "slabs.gap"

    def compose(self, p, patterns, res):
        pat = patterns["slabs"]
        slab = levels(pat, in_high=0.02)
        shade = levels(pat, in_low=0.3)  # per-slab level (1 = lightest)
        base_n = noise(perlin_fbm, seeds(p, 0), res, 2, 2)
        bend = noise(perlin_fbm, seeds(p, 1), res, 4, 4)
        fine_n = noise(perlin_fbm, seeds(p, 2), res, 4, 2)
        clouds = noise(value_fbm, seeds(p, 3), res, 3, 4)

        w = col(p["veins.width"])

        def ridges(n):
            fold = 1.0 - (2.0 * n - 1.0).abs()  # 1 where the noise crosses its middle
            r = ((fold - (1.0 - 0.25 * w)) / (0.25 * w)).clamp(0.0, 1.0)
            # the same share of veins with every seed (a low-frequency field crosses its middle
            # more or less often): scaled to the share a field of the noise's contrast has
            return (r * (0.28 * w / r.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-4))).clamp(0.0, 1.0)

        amount = 0.002 + 0.008 * p["veins.turbulence"]
        # lighter and darker slabs take their veins from two fields: cut from different blocks
        other = noise(perlin_fbm, seeds(p, 4), res, 2, 2)
        pick = (shade > 0.5).to(shade.dtype)
        main = ridges(warp(base_n, bend, amount)) * pick + ridges(warp(other, bend, amount)) * (1.0 - pick)
        veins = (main + 0.35 * ridges(warp(fine_n, bend, amount))).clamp(0.0, 1.0)

        base = rgb(p, "color.base")
        color = blend(clouds, full(base, res, 3), "overlay", opacity=p["color.clouds"])
        color = color * (1.0 - col(p["color.slab_variation"]) * 0.3 * (1.0 - shade))
        color = blend(full(rgb(p, "color.veins"), res, 3), color, "copy", mask=veins * col(p["veins.amount"]))
        color = blend(full(rgb(p, "color.joint"), res, 3), color, "copy", mask=1.0 - slab)

        h = levels(slab, out_low=0.4, out_high=0.7) - 0.02 * veins
        rough = blend(full(p["roughness.joint"], res), full(p["roughness.polish"], res) + 0.05 * veins, "copy",
                      mask=1.0 - slab)
        return {
            "basecolor": color.clamp(0.0, 1.0),
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h.clamp(0.0, 1.0),
        }
