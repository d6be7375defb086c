"""Step ``exchange``: the units' and the joints' colours swapped, when the fit has them the wrong
way round (not in the paper).

Why: Stage II's feature loss compares the photo and the render position by position. Where the
render's layout cannot line up with the photo's (it never does on a real photo), it pulls the
joint and unit colours towards each other, and on brick walls it carried them past each other:
red joints between sandy bricks for red bricks in sandy mortar (docs/BENCHMARKS.md, "Where the
polarity is lost"). No descent brings them back: on the way, both colours would have to be the
same, which every loss dislikes. The style loss itself prefers the right way round (0.0507
against 0.0580 on that wall once the filters were re-tuned), so the move is judged by it.

The move runs only where it can matter: the graph names its unit and joint colours
(:attr:`~diffproxy.graphs.MaterialGraph.joint_colors`), the photo's joints are clearly lighter
or darker than its units (:func:`diffproxy.judge.joint_polarity`, the flash falloff divided
out), and the render's are not the same. Then the swapped point and the point itself are both
re-tuned by Stage I's descent (filters, style loss, side by side) and the lower end is kept:
the swap is taken only when the style loss agrees.
"""

from __future__ import annotations

import time

import torch

from ..judge import joint_polarity, polarity_sign
from .control import Reporter
from .descent import StageResult
from .fit import Fit
from .paper import stage1

CHANNELS = ("hue", "saturation", "value")


def swapped(fit: Fit, u: torch.Tensor) -> torch.Tensor:
    """``u`` (B, P) with the graph's unit and joint colours exchanged (all three channels)."""
    unit, joint = fit.graph.joint_colors
    index = {p.name: i for i, p in enumerate(fit.spec)}
    out = u.clone()
    for c in CHANNELS:
        a, b = index[f"{unit}.{c}"], index[f"{joint}.{c}"]
        out[:, a], out[:, b] = u[:, b], u[:, a]
    return out


def exchange(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
             stage: str = "exchange") -> StageResult:
    """The step (see the module docstring) from ``u`` (1, P). ``info``: ``"ran"`` and why not,
    the photo's and the render's polarity (skewness), and ``"kept"``: ``"main"`` or ``"also"``
    (the swapped colours)."""
    t0 = time.perf_counter()
    u = u[:1]
    with torch.no_grad():
        image = fit.render(u)
        start = float(fit.style(image)[0])
    info: dict = {"ran": False}
    if fit.graph.joint_colors is None:
        info["reason"] = "the graph has no joints between units"
        return StageResult(u.clone(), start, start, [start], info, time.perf_counter() - t0)
    photo, render = joint_polarity(fit.photo), joint_polarity(image)
    info.update({"photo_polarity": photo, "render_polarity": render})
    want = polarity_sign(photo)
    if want == 0 or polarity_sign(render) == want:
        info["reason"] = "no clear joints on the photo" if want == 0 else "joints already the photo's way round"
        return StageResult(u.clone(), start, start, [start], info, time.perf_counter() - t0)
    side = "lighter" if want > 0 else "darker"
    reporter.message(stage, f"the photo's joints are {side} than its units, the fit's are not: trying the "
                            f"colours exchanged")
    r = stage1(fit, u, reporter, steps, lr, stage=stage, also=swapped(fit, u))
    r.info.update(info, ran=True)
    r.seconds = time.perf_counter() - t0
    if r.info.get("kept") != "also":
        reporter.message(stage, "the style loss prefers the colours as they were; kept")
    return r


__all__ = ["exchange", "swapped"]
