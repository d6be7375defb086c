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
out), and the render's are not the same or the fit has closed its joints (below). Then the
swapped point and the point itself are both re-tuned by Stage I's descent (filters, style
loss, side by side) and the lower end is kept: the swap is taken only when the style loss
agrees.

**Closed joints are opened again.** Where the fit has closed the joints (the graph's
:attr:`~diffproxy.graphs.MaterialGraph.joint_width` under its prior's mean less
:data:`CLOSED_SD` standard deviations) swapping colours changes nothing a person sees: there
is no joint to colour. Those joints were closed by a place-by-place comparison: Stage II's
objective and the local search compare the render's features with the photo's at the same
places, and a generator puts its joints at fixed places, never where the camera put the
photo's; a joint that cannot line up costs twice (where it is, and where the photo's is), so
the descent narrows it whatever the photo shows (the red brick wall at ``fast`` seed 2: mortar
0.052 from the random search, 0.000 after Stage II; docs/BENCHMARKS.md, session 41). The
candidate is then the joints reopened at the prior's mean less :data:`OPEN_SD` (the narrow end
of what the graph's author draws) in the photo's joint colour, read relative to the unit
colour (:func:`joint_ratio`: the photo's lightest or darkest tenth against its middle, a ratio
the flash does not change, times the fit's unit colour), judged by the same side-by-side
descent and style loss, which compares no places. Not a swap: on that wall the fit's bricks
were orange and right, its mortar a darker pink; swapped, the short descent turned the bricks
sandy and the mortar red, the wall inside out. This runs whatever the render's polarity: with
no joints, what the polarity reads is other shading (the road pavers at ``fast`` seed 1: gap 0,
the tiles' tilt shading them, polarity -0.4 against the photo's -2.1, so the step had not run).
"""

from __future__ import annotations

import time

import torch

from ..graphs._common import rgb
from ..judge import _prepare, _wide_mean, joint_polarity, polarity_sign
from ..render import linear_to_srgb, srgb_to_linear
from .control import Reporter
from .descent import StageResult
from .fit import Fit
from .paper import stage1
from .recolour import hsv

CHANNELS = ("hue", "saturation", "value")
CLOSED_SD = 1.5  # a joint narrower than the prior's mean less this many sd is closed
OPEN_SD = 1.0  # ... and is reopened at the prior's mean less this many sd
JOINT_SHARE = 0.1  # the photo's pixels read as its joints' colour: this share on the joints' side


def swapped(fit: Fit, u: torch.Tensor) -> torch.Tensor:
    """``u`` (B, P) with the graph's unit and joint colours exchanged (all three channels)."""
    unit, joint = fit.graph.joint_colors
    index = {p.name: i for i, p in enumerate(fit.spec)}
    out = u.clone()
    for c in CHANNELS:
        a, b = index[f"{unit}.{c}"], index[f"{joint}.{c}"]
        out[:, a], out[:, b] = u[:, b], u[:, a]
    return out


def closed_joint(fit: Fit, u: torch.Tensor) -> tuple[str, float, float] | None:
    """``(parameter, fitted width, reopened width)`` where ``u`` (1, P) has the graph's joints
    closed (:attr:`~diffproxy.graphs.MaterialGraph.joint_width` under the prior's mean less
    :data:`CLOSED_SD` sd; reopened at the mean less :data:`OPEN_SD` sd); else ``None``."""
    name = fit.graph.joint_width
    if name is None or fit.graph.joint_colors is None or fit.spec[name].prior is None:
        return None
    mean, sd = (float(v) for v in fit.spec[name].prior)
    width = float(fit.natural(u[:1])[name][0])
    return (name, width, mean - OPEN_SD * sd) if width < mean - CLOSED_SD * sd else None


@torch.no_grad()
def joint_ratio(photo: torch.Tensor, want: int, share: float = JOINT_SHARE) -> torch.Tensor:
    """``(3,)``: the photo's joint colour over its unit colour, per linear channel. Joints: the
    ``share`` of its pixels furthest on the ``want`` side (1: lightest, -1: darkest) once the
    flash's falloff is divided out (a wide local mean of the luminance, as the judge does);
    units: the middle half of the rest. Medians of the falloff-free linear colours: a ratio of
    reflectances, which the lighting does not change."""
    x = srgb_to_linear(_prepare(photo).clamp(0, 1))
    lum, wide = _wide_mean(x)
    wide = wide.clamp_min(1e-4)
    flat, col = (lum / wide).flatten(), (x / wide)[0].flatten(1)  # (N,), (3, N)
    order = torch.argsort(flat, descending=want > 0)
    n = max(1, round(share * flat.numel()))
    rest = order[n:]
    units = rest[torch.argsort(flat[rest])][len(rest) // 4: max(len(rest) // 4 + 1, 3 * len(rest) // 4)]
    joint, unit = col[:, order[:n]].median(dim=1).values, col[:, units].median(dim=1).values
    return joint / unit.clamp_min(1e-4)


def reopened(fit: Fit, u: torch.Tensor, width: float, want: int) -> torch.Tensor:
    """``u`` (1, P) with its joints ``width`` wide and the joint colour the photo's: the fit's
    unit colour times the photo's joint-to-unit ratio (:func:`joint_ratio`, on the ``want``
    side: 1 lighter joints, -1 darker). The unit colour is kept: units cover most of the frame,
    so the style loss has fitted theirs; the joints it could not see."""
    unit, joint = fit.graph.joint_colors
    nat = fit.natural(u[:1])
    lin = srgb_to_linear(rgb(nat, unit).flatten().clamp(0, 1)) * joint_ratio(fit.photo, want).to(u.device)
    colour = hsv(linear_to_srgb(lin.clamp(0, 1)))
    for part, x in zip(CHANNELS, colour):
        nat[f"{joint}.{part}"] = torch.full_like(nat[f"{joint}.{part}"], float(x))
    nat[fit.graph.joint_width] = torch.full_like(nat[fit.graph.joint_width], width)
    out = u[:1].clone()
    keys = [fit.graph.joint_width] + [f"{joint}.{part}" for part in CHANNELS]
    idx = [fit.spec.names.index(k) for k in keys]
    out[:, idx] = fit.normalize(nat)[:, idx].clamp(0.0, 1.0)
    return out


def exchange(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
             stage: str = "exchange") -> StageResult:
    """The step (see the module docstring) from ``u`` (1, P). ``info``: ``"ran"`` and why not,
    the photo's and the render's polarity (skewness), ``"reopened"`` where the joints were closed
    (the width parameter, its fitted and reopened widths) and ``"kept"``: ``"main"`` or
    ``"also"`` (the swapped colours or the reopened joints)."""
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
    closed = closed_joint(fit, u) if want != 0 else None
    # closed joints have no way round: a render without them can still read as the photo's
    # polarity (tiles tilted into shade, dark speckle), which says nothing about joints
    if want == 0 or (closed is None and polarity_sign(render) == want):
        info["reason"] = "no clear joints on the photo" if want == 0 else "joints already the photo's way round"
        return StageResult(u.clone(), start, start, [start], info, time.perf_counter() - t0)
    side = "lighter" if want > 0 else "darker"
    if closed is None:
        reporter.message(stage, f"the photo's joints are {side} than its units, the fit's are not: trying the "
                                f"colours exchanged")
        also, what = swapped(fit, u), "the colours as they were"
    else:
        name, width, wide = closed
        also = reopened(fit, u, wide, want)
        info["reopened"] = {"param": name, "width": [width, wide]}
        reporter.message(stage, f"the photo's joints are {side} than its units, the fit has closed them: trying "
                                f"them open ({name} {width:.3f} -> {wide:.3f}) in the photo's joint colour")
        what = "the joints closed"
    r = stage1(fit, u, reporter, steps, lr, stage=stage, also=also)
    r.info.update(info, ran=True)
    r.seconds = time.perf_counter() - t0
    if r.info.get("kept") != "also":
        reporter.message(stage, f"the style loss prefers {what}; kept")
    return r


__all__ = ["exchange", "swapped", "closed_joint", "joint_ratio", "reopened"]
