"""Fabric: woven cloth, warp threads (vertical) crossing weft threads (horizontal).

Wiring (two ``stripes`` slots; each is turned so the warp runs along y and the weft along x,
whatever its ``direction`` says, so the two always cross):

* weave: which thread lies on top at each crossing, from the thread counts: plain weave
  (checkerboard) or a 2/1 twill (the diagonal ribs of denim);
* height: each thread's profile raised where it lies on top, smoothed, plus fuzzy fibre noise;
* colour: warp and weft colours wherever each thread shows, fibre noise and broad fading;
* roughness high (cloth), a little lower on the top of threads; normal from height.
"""

from __future__ import annotations

import torch

from ..filters.blend import blend
from ..filters.blur import blur
from ..filters.levels import levels
from ..filters.normal import normal_from_height
from ..generators.noise import perlin_fbm, value_fbm
from ..params import choice_param, float_param
from ._common import RetunedGraph, col, color_params, full, noise, rgb, seed_param, seeds, streak

# Threads fill most of their period, with rounded profiles; a tilted stripe would not follow
# the weave's crossings, so graph samples keep the threads straight.
_THREADS = {"width": dict(default=0.8, prior=(0.8, 0.07)),
            "softness": dict(default=0.6, prior=(0.6, 0.15)),
            "slope": dict(weights=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)),
            "brightness_random": dict(default=0.1, prior=(0.1, 0.08))}


def _along(pattern: torch.Tensor, direction: torch.Tensor, want_vertical: bool) -> torch.Tensor:
    """Transpose the samples whose stripes do not run the wanted way (direction 1 = vertical)."""
    flip = (torch.round(direction) > 0.5) != want_vertical
    return torch.where(col(flip), pattern.transpose(-1, -2), pattern)


def _weave(p, res: int, device) -> torch.Tensor:
    """``(B, 1, res, res)`` 1 where the warp lies on top, 0 where the weft does."""
    u = (torch.arange(res, device=device, dtype=torch.float32) + 0.5) / res
    i = torch.floor(u.view(1, 1, 1, res) * col(torch.round(p["warp.count"])))  # warp index
    j = torch.floor(u.view(1, 1, res, 1) * col(torch.round(p["weft.count"])))  # weft index
    twill = col(torch.round(p["weave.pattern"])) > 0.5
    plain_up = torch.remainder(i + j, 2.0) < 0.5
    twill_up = torch.remainder(i + j, 3.0) > 0.5  # warp over two wefts, under one
    return torch.where(twill, twill_up, plain_up).float()


class Fabric(RetunedGraph):
    name = "fabric"
    description = "Woven fabric: warp and weft threads in plain or twill weave (canvas, denim)"
    slots = {"warp": "stripes", "weft": "stripes"}
    slot_priors = {
        "warp.count": dict(default=40, prior=(40.0, 12.0)),
        "weft.count": dict(default=36, prior=(36.0, 12.0)),
        **{f"{slot}.{k}": v for slot in ("warp", "weft") for k, v in _THREADS.items()},
    }
    filter_params = (
        *color_params("color.warp", (0.62, 0.55, 0.5), (None, 0.25, 0.18), "Warp thread colour"),
        *color_params("color.weft", (0.6, 0.12, 0.8), (None, 0.1, 0.12), "Weft thread colour"),
        float_param("color.fibres", 0.35, 0.0, 1.0, prior=(0.35, 0.12), group="Color",
                    description="Colour variation along the fibres"),
        float_param("color.fading", 0.25, 0.0, 1.0, prior=(0.25, 0.12), group="Color",
                    description="Broad fading and wear of the colour"),
        choice_param("weave.pattern", "twill", ("plain", "twill"), weights=(0.5, 0.5), group="Shape",
                     description="Plain weave (checkerboard) or 2/1 twill (diagonal ribs)"),
        float_param("weave.lift", 0.6, 0.0, 1.0, prior=(0.6, 0.15), group="Shape",
                    description="How much higher a thread is where it passes over the other"),
        float_param("height.fuzz", 0.3, 0.0, 1.0, prior=(0.3, 0.12), group="Surface",
                    description="Fuzz of loose fibres on the threads"),
        float_param("normal.intensity", 3.0, 0.0, 20.0, prior=(3.0, 1.05), group="Normal",
                    description="Strength of the normal map"),
        float_param("roughness.base", 0.85, 0.4, 1.0, prior=(0.85, 0.06), group="Roughness",
                    description="Roughness of the cloth"),
        float_param("roughness.threads", 0.1, 0.0, 0.4, prior=(0.1, 0.05), group="Roughness",
                    description="How much smoother the tops of the threads are"),
        seed_param(),
    )

    def compose(self, p, patterns, res):
        warp = _along(patterns["warp"], p["warp.direction"], True)
        weft = _along(patterns["weft"], p["weft.direction"], False)
        up = _weave(p, res, warp.device)
        # fibres run along each thread: noise smeared along y for the warp, along x for the weft
        fuzz_v, fuzz_h = noise(perlin_fbm, seeds(p, 0), res, 32, 3, then=lambda x: torch.cat(
            [streak(x, 0.02, True), streak(x, 0.02, False)], dim=1)).split(1, dim=1)
        fade = noise(value_fbm, seeds(p, 1), res, 4, 4)

        lift = col(p["weave.lift"])
        warp_h = warp * (1.0 - lift * (1.0 - up))  # a warp thread sinks where it passes under
        weft_h = weft * (1.0 - lift * up)
        # blur rounds the steps where a thread dives under the other one
        h = blur(torch.maximum(warp_h, weft_h), 0.0015)
        warp_shows = levels(warp_h - weft_h, in_low=-0.1, in_high=0.1)
        fuzz = blend(fuzz_v, fuzz_h, "copy", mask=warp_shows)
        h = blend(fuzz, levels(h, out_low=0.2, out_high=0.8), "overlay", opacity=p["height.fuzz"])

        color = blend(full(rgb(p, "color.warp"), res), full(rgb(p, "color.weft"), res), "copy",
                      mask=warp_shows)
        color = blend(fuzz, color, "overlay", opacity=p["color.fibres"])
        # gaps between threads are in shadow
        color = blend(levels(h, in_high=0.5), color, "multiply")
        color = blend(fade, color, "screen", opacity=0.5 * p["color.fading"])

        rough = full(p["roughness.base"], res) - col(p["roughness.threads"]) * h
        return {
            "basecolor": color,
            "normal": normal_from_height(h, p["normal.intensity"]),
            "roughness": rough.clamp(0.0, 1.0),
            "metallic": torch.zeros_like(h),
            "height": h,
        }
