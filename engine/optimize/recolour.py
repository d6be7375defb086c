"""Step ``recolour``: a graph colour still grey before Stage III tried again from the photo's hue
(not in the paper).

Why: a colour is three filter parameters, hue, saturation and value (``graphs._common.rgb``).
Where the hue starts wrong, the style loss's gradient drives the saturation down, and at
saturation 0 the hue no longer changes the render: it has no gradient, so no descent after that
can turn the colour. The light blue leather, started at the leather prior's brown, ended grey
this way at balanced with seed 1 (export style 0.279 against 0.045 at seed 0, where a later
search happened to reach a blue; docs/BENCHMARKS.md, session 37). Giving every fit the photo's
colours as candidates of the filter search rescued it but moved every other fit's path too,
and more of them for the worse (session 37, reverted), so this step acts only in the trap, and
only where the trap has held through the structure searches: before Stage III, the last descent,
which cannot turn a grey colour either. Run after Stage I (session 38), it also acted where the
searches after it would have turned the colour (the leather at seed 0 reached its blue in Stage
II), and moved those fits' paths for no gain (docs/BENCHMARKS.md, session 39).

The move: where the render's mean colour misses the photo's (:func:`colour_missed`; where it
does not, the grey colour is a grey part of the material, a steel or a mortar), for each graph
colour whose saturation is under :data:`GREY` after the structure searches with a hue more than
:data:`HUE_APART` from the photo's mean colour's (where the hue is the photo's already, the
descent weighed that colour's saturation with it and went grey), the point with that colour's
hue and saturation set to the photo's (its value kept) is
descended by Stage I's descent (the filters; the structure as the searches left it); all of them
side by side, and the lowest end replaces the point only where it beats it by the style loss. A fit with no grey colour is left bit for bit
as it was.
"""

from __future__ import annotations

import time

import torch

from .control import Reporter
from .descent import StageResult, adam
from .fit import Fit

GREY = 0.02  # a colour's saturation under this (of [0, 1]) counts as grey: its hue hardly moves the render
# a grey colour whose hue is within this (turns; 30 degrees, orange to yellow) of the photo's is
# left alone: with the photo's hue it would start where the descent has been and turned grey
HUE_APART = 1.0 / 12.0
# the step runs only where the render's mean colour is this far (a fraction of the photo's
# chroma) from the photo's: where the graph's other colours already give the photo's hue, a
# grey colour is a grey part of the material (a steel, a binder, a mortar), not the trap
MISSED = 0.5


def hsv(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``(..., 3)`` in [0, 1] -> HSV ``(..., 3)``, the inverse of ``graphs._common.rgb``
    (hue in turns; 0 for a grey)."""
    mx, arg = rgb.max(dim=-1)
    c = mx - rgb.min(dim=-1).values
    r, g, b = rgb.unbind(-1)
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(arg == 0, torch.remainder((g - b) / safe, 6.0),
                    torch.where(arg == 1, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) / 6.0
    h = torch.where(c > 0, h, torch.zeros_like(h))
    s = c / torch.where(mx > 0, mx, torch.ones_like(mx))
    return torch.stack([h, s, mx], dim=-1)


def photo_colour(photo: torch.Tensor) -> tuple[float, float, float]:
    """The mean colour of ``photo`` (1, 3, H, W) sRGB as (hue, saturation, value)."""
    return tuple(float(x) for x in hsv(photo[0].float().clamp(0, 1).mean(dim=(1, 2))))  # type: ignore[return-value]


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """The chroma of an sRGB colour ``(3,)`` as a 2-vector: its HSV chroma (max - min) in the
    direction of its hue. Two colours' chroma vectors are near where their hue and colourfulness
    both are; a grey's is 0 whatever its hue."""
    h, s, v = hsv(rgb.float().clamp(0, 1)).tolist()
    angle = torch.tensor(2.0 * torch.pi * h)
    return s * v * torch.stack([torch.cos(angle), torch.sin(angle)])


def colour_missed(photo: torch.Tensor, render: torch.Tensor) -> bool:
    """Whether ``render``'s mean colour misses ``photo``'s by more than :data:`MISSED` of the
    photo's chroma (both ``(1, 3, H, W)`` sRGB)."""
    cp = chroma(photo[0].mean(dim=(1, 2)))
    cr = chroma(render[0].mean(dim=(1, 2)))
    return float(torch.linalg.norm(cp - cr)) > MISSED * float(torch.linalg.norm(cp))


def colour_keys(fit: Fit) -> list[str]:
    """The graph's colours: the keys ``k`` with filter parameters ``k.hue``, ``k.saturation`` and
    ``k.value`` (``graphs._common.color_params``), in spec order."""
    names = {p.name for p in fit.spec if p.role == "filter"}
    return [n[:-4] for n in (p.name for p in fit.spec) if n.endswith(".hue") and n in names
            and f"{n[:-4]}.saturation" in names and f"{n[:-4]}.value" in names]


def hue_distance(a: float, b: float) -> float:
    """The distance of two hues in turns, around the circle (0 to 0.5)."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


def grey_colours(fit: Fit, u: torch.Tensor, hue: float | None = None) -> list[str]:
    """The colours of ``u`` (1, P) whose saturation is under :data:`GREY`; with ``hue`` (the
    photo's), only those whose own hue is more than :data:`HUE_APART` from it."""
    v = fit.natural(u[:1])
    return [key for key in colour_keys(fit) if float(v[f"{key}.saturation"]) < GREY
            and (hue is None or hue_distance(float(v[f"{key}.hue"]), hue) > HUE_APART)]


def recoloured(fit: Fit, u: torch.Tensor, key: str, colour: tuple[float, float, float]) -> torch.Tensor:
    """``u`` (1, P) with colour ``key``'s hue and saturation set to ``colour``'s (value kept)."""
    out = u[:1].detach().clone()
    for part, x in zip(("hue", "saturation"), colour[:2]):
        p = fit.spec.by_name[f"{key}.{part}"]
        out[0, fit.spec.names.index(p.name)] = min(1.0, max(0.0, (x - p.low) / (p.high - p.low)))
    return out


def recolour(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
             stage: str = "recolour") -> StageResult:
    """The step (see the module docstring) from ``u`` (1, P), the structure searches' result. ``info``:
    ``"grey"`` (the colours found grey), the photo's colour, ``"tried"`` (the descents' best
    end) and ``"kept"``: the colour whose retry replaced ``u``, or ``None``."""
    t0 = time.perf_counter()
    u = u[:1].detach()
    colour = photo_colour(fit.photo)
    grey = grey_colours(fit, u, colour[0])
    info: dict = {"grey": grey, "kept": None}
    if not grey:
        return StageResult(u.clone(), 0.0, 0.0, [], info, time.perf_counter() - t0)
    with torch.no_grad():
        image = fit.render(u)
        start = float(fit.style(image)[0])
    if not colour_missed(fit.photo, image):
        info.update(grey=[], left={"grey": grey, "why": "the render has the photo's mean colour"})
        return StageResult(u.clone(), start, start, [start], info, time.perf_counter() - t0)
    info["photo_colour"] = [round(x, 4) for x in colour]
    info["hues"] = {key: round(float(fit.natural(u)[f"{key}.hue"]), 4) for key in grey}
    reporter.message(stage, f"{', '.join(grey)} ended grey (saturation < {GREY:g}), where a hue has no gradient: "
                            f"trying the photo's hue {colour[0]:.2f} (saturation {colour[1]:.2f})")
    rows = torch.cat([recoloured(fit, u, key, colour) for key in grey])
    r = adam(fit, rows, fit.filter_idx, fit.style, steps=steps, lr=lr, halve_every=None,
             reporter=reporter, stage=stage)
    k = int(r.info.pop("best_start", 0))
    r.info.pop("starts", None)
    info["tried"] = r.end
    if r.end < start:
        info["kept"] = grey[k]
        reporter.message(stage, f"{grey[k]} from the photo's hue: style {start:.4f} -> {r.end:.4f}; kept")
        out = StageResult(r.u, start, r.end, r.curve, info, time.perf_counter() - t0)
    else:
        reporter.message(stage, f"the photo's hue ended no lower ({r.end:.4f} against {start:.4f}); kept grey")
        out = StageResult(u.clone(), start, start, [start], info, time.perf_counter() - t0)
    return out


__all__ = ["recolour", "chroma", "colour_missed", "MISSED", "grey_colours", "hue_distance", "photo_colour", "recoloured", "hsv", "GREY", "HUE_APART"]
