"""The periodic layout a person counts on a photo: courses top to bottom, units along a course.

``measure_layout(image) -> Layout(rows, per_row, rows_confidence, per_row_confidence,
polarity)`` reads, from the photo alone, the counts :meth:`MaterialGraph.layout_counts` gives
for a graph's parameters (``rows``: courses of bricks / tiles / planks from the top of the frame
to the bottom; ``per_row``: units along one course), as real numbers: a frame that does not tile
shows 5.3 courses, and that is what is returned. A count is ``None`` where the photo shows no
clear period in that direction (wood, fabric, stone, metal, leather...).

Steps, and why each is there:

1. **Area-resize to** :data:`~diffproxy.judge.SIZE` **px and divide out the flash falloff**
   (:func:`diffproxy.judge._flattened`): periods are then in a fixed pixel range and the bright
   centre of a co-located flash does not read as one big period.
2. **Joint polarity** (:func:`diffproxy.judge.joint_polarity`): lighter or darker joints than
   units. The line maps keep only that side of the local contrast, so a unit's own texture
   (grain, blotches of the other sign) adds less; with no clear polarity both sides are kept.
3. **One line map per direction**: brightness minus its local mean *across* the lines only
   (a 1D ridge filter, :data:`RIDGE` px), then averaged *along* the lines. Horizontal joints
   vanish in the vertical-line map and vice versa; without this the head joints of a running
   bond (segments one course long, offset every other course) make a triangle in the vertical
   autocorrelation that hides the courses. Averaging along the lines (15 px for bed joints, half
   a course for head joints) beats down noise, grain and JPEG blocks. Each map's mean along
   its lines is removed, which drops lines of the other direction that survive (a rotated
   photo's bed joints are slow ramps along a row).
4. **2D autocorrelation** (FFT, zero-padded: no wrap-around, the frame does not tile; each lag
   divided by its overlap) read along its axes: lag ``(t, 0)`` for courses, ``(0, t)`` for units.
   Reading along the axis is the mean of per-column (per-row) autocorrelations, so it does not
   depend on the course phase: a running bond's column *profile* has half the brick length as
   period, its per-row autocorrelation the brick length. A 1-2 degree rotation moves the lines'
   crossings of the axis by a fraction of a pixel per period.
5. **Comb score per candidate period** ``T`` (:data:`MIN_PERIOD` px to :data:`MAX_LAG` of the
   frame, 1/4 px steps): the mean autocorrelation at ``T, 2T, ...`` (each the max within 1 px:
   brick lengths jitter) minus the mean at the half-way lags ``T/2, 3T/2, ...``. ``T/2`` scores
   about 0 (half its teeth fall in troughs), ``2T`` too (its troughs land on peaks); only odd
   multiples ``3T, 5T`` score as ``T`` does, so the **smallest** local maximum within
   :data:`NEAR_BEST` of the best score is taken (harmonic disambiguation), provided its first
   tooth is a peak: the autocorrelation at ``T`` at least :data:`FIRST_TOOTH` of that at
   ``2T`` (a pattern of period ``T`` correlates at least as well one period away as two). Without
   that test, bricks whose middles are lighter than their rims read as twice their courses
   (the project's own default photo: 16 for its 8), since ``T/2``'s half-way lags fall in deep
   troughs and score it high. The count is
   ``SIZE / T``, non-integer.
6. **Confidence**: that score (a correlation: 1 = perfect lines, 0 = none), times
   ``sqrt(teeth / TEETH)`` when fewer than :data:`TEETH` periods fit in the measured lags: one
   peak is one sample, and large non-periodic blotches (stucco) make single peaks as high as a
   2 x 2 tile floor does. Below :data:`MIN_CONFIDENCE` the count is ``None``, unless:
7. **Joints that cross the whole frame** (:func:`_full_lines`): where no period is read, the
   lines of the joints' polarity that run the frame's full width (height) are counted: the
   profile of the ridge map's mean along each row (column), a line where it stands
   :data:`LINE_Z` robust standard deviations over the profile's median (a local maximum within
   6 px) and is there along :data:`LINE_COVERAGE` of its length (a running bond's head joints,
   one course long, are not). Large tiles photographed close show one or two such joints and too few periods for
   the autocorrelation (a 2 x 2 floor: one tooth, its score halved); texture never makes such a
   line (on the shared photos and prior renders without joints the highest is 10 sd, a tile
   joint 23-140). The count is then the frame over its largest piece: ``1 / max(gaps)``, the
   gaps between neighbouring lines and the frame's edges, as fractions of the frame, since no
   unit is smaller than a whole piece between two joints, and a piece cut by the frame is at
   most one unit (one central joint: 2 units; one at a fifth: 1.25). That is what a person
   counts, and an upper bound: one joint mid-frame is also one unit whose joint falls there.
   So ``Layout.lines`` says how many joints a count came from (0: from the period), and
   :func:`layout_windows` lets the fit range from ``max(1, joints - 1)`` units (a frame
   crossed by ``k`` joints spans more than ``k - 1`` periods) up to the count; from a single
   joint, which shows no spacing, it keeps the most probable count alone (its docstring).

8. **The bond** (:func:`_bond`): how far every other course is shifted along its length, in
   units (0: stack bond, 0.5: running half bond; ``o`` and ``1 - o`` are mirror images, so it
   is folded into [0, 0.5]). Where both counts were read, the head-joint line map (step 3) is
   correlated with itself one course down, shifted along the course by up to one unit either
   way (one FFT for every shift); the shift
   of the highest correlation, over the unit's length, is the bond, and that correlation its
   confidence (under :data:`BOND_CONFIDENCE`: ``None``). Stack-bond head joints continue from
   course to course and line up at no shift; a half bond's line up half a unit along. On 56
   perturbed renders with known offsets (bricks, ceramic tiles, mosaic, marble, planks; crop,
   up to 2 degrees, noise, JPEG 60; docs/BENCHMARKS.md, session 36) 32 of the 33 bonds read
   at a confidence of 0.3 or more were within 0.1 of the truth (the other: a single course,
   whose offset nothing shows). The shift is scanned both ways, so a mirrored or turned photo
   reads the same bond. On the shared photos the two stack-bond floors read 0.00 and 0.03,
   the red wall and the project's photo 0.49, the dark brick wall 0.39 (its courses do shift
   by 0.33-0.44 of a brick).

**How the fit uses it** (:func:`layout_windows`, ``optimize.searches.layout_start``): where a
count is not ``None``, it bounds the graph's count parameter for it
(:attr:`~diffproxy.graphs.MaterialGraph.layout_params`; bricks: ``brick.rows`` / ``brick.bricks``,
ceramic tiles: ``tiles.tiles_y`` / ``tiles.tiles_x``): the start is set to the value nearest
the measurement and every structure search keeps within x/÷ 1.3 of it, the tolerance the judge
counts as right (:data:`diffproxy.judge.COUNT_TOLERANCE`). Where it is ``None``, the search is left as it was (the parameter estimator's
window, if any). Measured on renders with known counts and on labelled photos:
docs/BENCHMARKS.md ("Real photos judged by what a person sees"); ``tests/test_layout.py`` keeps
it so. A bond read keeps the graph's :attr:`~diffproxy.graphs.MaterialGraph.bond_param` (a
brick or tile ``offset``) within :data:`BOND_WINDOW` of it or of its mirror image, whatever
the graph's prior (:func:`layout_windows` says why): the losses do not see a bond (a Gram matrix
has no layout); the 2 x 2 floor tiles, a stack bond, were fitted with an offset of 0.25
(session 35), the red half-bond wall with 0.76 (session 36), white subway tiles in a half bond
as a stack (session 46).

A period read on the units per course also bounds how irregular the fit may make them: a
graph's :attr:`~diffproxy.graphs.MaterialGraph.jitter_param` (bricks' ``size_jitter``, which
moves every head joint by up to 0.3 brick lengths times its value) is kept where the prior's
renders still read their units per course at least half as plainly as the photo does
(:func:`jitter_ceiling` of the measured comb score, through the graph's measured
:attr:`~diffproxy.graphs.MaterialGraph.jitter_regularity`; the judge's ``regularity`` check asks
the same of the fitted render). A Gram loss does not see brick lengths vary: regular Blender
brick walls were fitted with a jitter of 0.4-0.8, where one of 0.3 already halves the prior's
comb score (docs/BENCHMARKS.md, session 47). A wall the photo shows irregular (comb score under
twice the curve's last value) is not bounded.

Images are ``(1, 3, H, W)`` sRGB in [0, 1], any size (non-square frames are resized to a square:
counts per frame do not change). Runs once per photo, a few tens of ms at 256 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from .judge import (COUNT_TOLERANCE, REGULARITY_TOLERANCE, SIZE, _flattened, _prepare, joint_polarity,
                    polarity_sign)

MIN_PERIOD = 9.0  # px at SIZE (28 units a frame): below, JPEG's 8 px block grid and the resize
MAX_LAG = 0.75  # of the frame: beyond it too few pixel pairs overlap to trust a correlation
RIDGE = 17  # px: local mean across a line; wider than grout and most mortar joints
NEAR_BEST = 0.7  # a shorter period wins if it scores this fraction of the best
TEETH = 4  # periods within MAX_LAG from which one trusts the comb score fully
MIN_CONFIDENCE = 0.15  # non-periodic photos and noise score under it (see the module doc)
FIRST_TOOTH = 0.7  # a period's autocorrelation at T must reach this share of its value at 2T
LINE_Z = 15.0  # a joint across the whole frame: robust sd over the profile's median (step 7)
LINE_COVERAGE = 0.85  # ... and above the map's upper quartile along this share of its length
BOND_CONFIDENCE = 0.3  # a bond read with a weaker correlation is not reported (step 8)
# units: the fit keeps its bond offset this close to the bond read (step 8). The reading's
# own error is smaller (48 perturbed renders, session 46: 28 of the 30 read within 0.03), but
# walls are not that regular (the dark brick wall's courses shift by 0.33-0.44), and 0.06 cost
# that wall's look 43 % (docs/BENCHMARKS.md, session 46).
BOND_WINDOW = 0.12
# a unit's shape (courses over units per course) read from two counts, each within
# COUNT_TOLERANCE: within this factor of the truth (shape_share)
SHAPE_TOLERANCE = COUNT_TOLERANCE ** 2


@dataclass(frozen=True)
class Layout:
    """Counts in the frame (``None``: no clear period), their confidences (comb score, about
    0 to 1), and the joints' polarity (1 lighter than the units, -1 darker, 0 unclear)."""
    rows: float | None
    per_row: float | None
    rows_confidence: float
    per_row_confidence: float
    polarity: int
    lines: tuple[int, int] = (0, 0)  # joints across the frame a count came from (0: the period)
    offset: float | None = None  # the bond: shift of every other course in units, 0 to 0.5 (step 8)
    offset_confidence: float = 0.0


def _box(m: torch.Tensor, axis: int, k: float) -> torch.Tensor:
    """1D moving mean of an ``(H, W)`` map along ``axis`` over ``k`` px (odd), clipped at the
    borders (no padding values pulled in)."""
    k = max(1, int(k) // 2 * 2 + 1)
    ks, pad = ((k, 1), (k // 2, 0)) if axis == 0 else ((1, k), (0, k // 2))
    return F.avg_pool2d(m[None, None], ks, 1, pad, count_include_pad=False)[0, 0]


def _ridges(lum: torch.Tensor, sign: int, across: int) -> torch.Tensor:
    """Brightness minus its local mean across lines of axis ``across`` (0: horizontal lines,
    1: vertical), kept on the joints' polarity ``sign`` side (both sides when 0)."""
    d = lum - _box(lum, across, RIDGE)
    return (sign * d).clamp_min(0) if sign else d.abs()


def _line_map(lum: torch.Tensor, sign: int, across: int, along: float) -> torch.Tensor:
    """Lines crossing axis ``across`` (0: horizontal lines, 1: vertical), of the joints'
    polarity ``sign``, averaged over ``along`` px along the lines, mean along them removed."""
    m = _box(_ridges(lum, sign, across), 1 - across, along)
    return m - m.mean(dim=across, keepdim=True)


def _full_lines(lum: torch.Tensor, sign: int, across: int) -> list[float]:
    """Positions (fractions of the frame) of the joints of polarity ``sign`` that cross the whole
    frame along the other axis (``across`` 0: horizontal lines; step 7 of the module doc)."""
    d = _ridges(lum, sign, across)
    prof = d.mean(dim=1 - across).double().numpy()
    med = float(np.median(prof))
    z = (prof - med) / (1.4826 * float(np.median(np.abs(prof - med))) + 1e-12)
    n = len(prof)
    high = float(d.flatten().quantile(0.75))
    out = []
    for i in range(2, n - 2):
        if z[i] >= LINE_Z and z[i] == z[max(0, i - 6):i + 7].max():
            band = d[i - 1:i + 2, :] if across == 0 else d[:, i - 1:i + 2].T
            if float((band.max(dim=0).values > high).float().mean()) >= LINE_COVERAGE:
                out.append(i / n)
    return out


def _count_from_lines(pos: list[float]) -> float:
    """Units in the frame from the positions of joints that cross it: one over the largest
    piece (step 7 of the module doc)."""
    edges = [0.0, *sorted(pos), 1.0]
    return 1.0 / max(b - a for a, b in zip(edges, edges[1:]))


def _axis_acf(x: torch.Tensor, axis: int, n: int) -> np.ndarray:
    """Autocorrelation of ``x`` at lags ``0..n-1`` along ``axis`` (the mean over the 3 lags
    across it: 0 and +-1 px), zero-padded, each lag divided by its overlap, 1 at lag 0. The
    2D autocorrelation's axis only needs 1D transforms of each column (row) and the products
    of neighbours."""
    x = (x if axis == 0 else x.T).double()
    h, w = x.shape
    f = torch.fft.rfft(x, n=2 * h, dim=0)
    same = (f * f.conj()).sum(1)
    side = (f[:, 1:] * f[:, :-1].conj()).sum(1)  # lags +1 and -1 across: conjugates
    acf = torch.fft.irfft(same, n=2 * h)[:n] / w + 2 * torch.fft.irfft(side.real + 0j, n=2 * h)[:n] / (w - 1)
    acf = acf / (h - torch.arange(n, dtype=torch.float64))
    return (acf / acf[0].clamp_min(1e-12)).numpy()


def _pick_period(a: np.ndarray, tmin: float) -> tuple[float, float]:
    """``(period px, confidence)`` from an autocorrelation profile (steps 5 and 6 above)."""
    n = len(a) - 1
    t = np.arange(n + 1, dtype=float)
    top = np.maximum(a, np.maximum(np.roll(a, 1), np.roll(a, -1)))  # 1 px of jitter
    top[0], top[-1] = a[0], a[-1]
    cands = np.arange(tmin, n + 1e-9, 0.25)[:, None]
    lag = cands * np.arange(1, int(n // tmin) + 1)[None, :]
    valid = lag <= n
    teeth = valid.sum(1)
    peaks = np.where(valid, np.interp(np.minimum(lag, n), t, top), 0.0).sum(1) / teeth
    troughs = np.where(valid, np.interp(np.minimum(lag - cands / 2, n), t, a), 0.0).sum(1) / teeth
    score = peaks - troughs
    near = ((score >= NEAR_BEST * score.max()) & (score >= np.roll(score, 1))
            & (score >= np.roll(score, -1)))
    i = int(np.argmax(score))
    for j in np.flatnonzero(near):  # the smallest near-best period whose first tooth is a peak
        t0 = float(cands[j, 0])
        first = float(np.interp(t0, t, top))
        if 2 * t0 > n or first >= FIRST_TOOTH * float(np.interp(2 * t0, t, top)):
            i = int(j)
            break
    return float(cands[i, 0]), float(score[i]) * math.sqrt(min(int(teeth[i]), TEETH) / TEETH)


def _bond(lum: torch.Tensor, sign: int, rows: float, per_row: float, along: float) -> tuple[float, float]:
    """``(bond offset in units folded into [0, 0.5], confidence)`` of a layout of ``rows`` courses
    and ``per_row`` units per course (step 8 of the module doc); confidence 0 when the frame
    holds less than a course and a bit."""
    n = lum.shape[0]
    dy, unit = int(round(n / rows)), n / per_row
    if dy > n - 16:
        return 0.0, 0.0
    v = _line_map(lum, sign, 1, along).double()
    a, b = v[:-dy], v[dy:]  # each row against the row one course down
    reach = min(int(math.ceil(unit)), n - 32)  # at least 32 px of overlap
    s = np.arange(-reach + 1, reach)  # both ways: a mirrored photo reads the same bond
    # Pearson correlation of a[:, c] with b[:, c + s] over their overlap, every shift at once:
    # the products' sums by FFT, the overlaps' sums and sums of squares by prefix sums
    f = torch.fft.rfft(a, n=2 * n, dim=1).conj() * torch.fft.rfft(b, n=2 * n, dim=1)
    sxy = torch.fft.irfft(f.sum(0), n=2 * n).numpy()[s % (2 * n)]

    def prefix(m: torch.Tensor) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(m.sum(0).numpy())])

    ca, cb, caa, cbb = prefix(a), prefix(b), prefix(a * a), prefix(b * b)
    lo_a, hi_a = np.maximum(-s, 0), n - np.maximum(s, 0)  # a's columns in the overlap
    lo_b, hi_b = np.maximum(s, 0), n + np.minimum(s, 0)  # b's
    cnt = a.shape[0] * (n - np.abs(s))
    mx, my = (ca[hi_a] - ca[lo_a]) / cnt, (cb[hi_b] - cb[lo_b]) / cnt
    vx = np.maximum((caa[hi_a] - caa[lo_a]) / cnt - mx * mx, 0.0)
    vy = np.maximum((cbb[hi_b] - cbb[lo_b]) / cnt - my * my, 0.0)
    c = (sxy / cnt - mx * my) / (np.sqrt(vx) * np.sqrt(vy) + 1e-12)
    k = int(np.argmax(c))
    o = (abs(int(s[k])) / unit) % 1.0
    return min(o, 1.0 - o), max(float(c[k]), 0.0)


def measure_layout(image: torch.Tensor) -> Layout:
    """Courses and units per course of a photo's periodic layout (see the module docstring).

    Args:
        image: ``(1, 3, H, W)`` sRGB in [0, 1] (a photo as :func:`diffproxy.photo.load_photo`
            gives it, or a render), ``H, W >= 16``.

    Returns:
        :class:`Layout`; a count is ``None`` when its confidence is under
        :data:`MIN_CONFIDENCE`.
    """
    if not (isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[:2] == (1, 3)):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (1, 3, H, W) tensor, got {shape}")
    if min(image.shape[-2:]) < 16:
        raise ValueError(f"image must be at least 16 x 16 px to show a period, got "
                         f"{tuple(image.shape[-2:])}")
    if not bool(torch.isfinite(image).all()):
        raise ValueError("image has NaN or infinite values: pass an sRGB image in [0, 1]")
    x = _flattened(_prepare(image))
    lum = 0.2126 * x[0, 0] + 0.7152 * x[0, 1] + 0.0722 * x[0, 2]
    lum = _box(_box(lum, 0, 3), 1, 3)  # pixel noise and JPEG ringing
    sign = polarity_sign(joint_polarity(image))
    n = int(MAX_LAG * SIZE) + 1
    period_y, rows_conf = _pick_period(_axis_acf(_line_map(lum, sign, 0, 15), 0, n), MIN_PERIOD)
    # head joints are one course long: average them over half a course
    along = min(31.0, max(3.0, period_y / 2))
    period_x, per_row_conf = _pick_period(_axis_acf(_line_map(lum, sign, 1, along), 1, n), MIN_PERIOD)
    counts, lines = [], []
    for across, period, conf in ((0, period_y, rows_conf), (1, period_x, per_row_conf)):
        if conf >= MIN_CONFIDENCE:
            counts.append(SIZE / period)
            lines.append(0)
            continue
        pos = _full_lines(lum, sign, across)
        counts.append(_count_from_lines(pos) if pos else None)
        lines.append(len(pos))
    offset, offset_conf = None, 0.0
    if counts[0] and counts[1]:
        o, offset_conf = _bond(lum, sign, counts[0], counts[1], min(31.0, max(3.0, SIZE / counts[0] / 2)))
        offset = o if offset_conf >= BOND_CONFIDENCE else None
    return Layout(rows=counts[0], per_row=counts[1], rows_confidence=rows_conf, per_row_confidence=per_row_conf,
                  polarity=sign, lines=(lines[0], lines[1]), offset=offset, offset_confidence=offset_conf)


def _bond_window(p, o: float, current: float | None) -> tuple[float, float, float]:
    """``(lowest, highest, nearest)`` for bond parameter ``p`` (offset in units, 0-1) from the
    bond read ``o`` (folded into [0, 0.5]). The reading cannot tell ``o`` from ``1 - o`` (mirror
    images; a shift of a whole unit is none), so the window is the reading's image on the side
    of ``current`` (the start's offset, else the prior's mean), and where the two images lie
    within :data:`BOND_WINDOW` of each other (a half bond), the span holding both."""
    mean = p.prior[0] if p.prior is not None else p.default_value
    side = current if current is not None else mean
    image = 1.0 - o if side > 0.5 else o
    if o >= 0.5 - BOND_WINDOW:  # the two images' windows meet: one span
        lo, hi = o - BOND_WINDOW, 1.0 - o + BOND_WINDOW
    else:
        lo, hi = image - BOND_WINDOW, image + BOND_WINDOW
    lo, hi = max(p.low, lo), min(p.high, hi)
    return lo, hi, min(max(image, lo), hi)


def jitter_ceiling(curve: tuple[tuple[float, float], ...], confidence: float) -> float | None:
    """The highest value of a jitter parameter whose renders still read their units per course at
    ``confidence`` / :data:`~diffproxy.judge.REGULARITY_TOLERANCE` (``curve``: ``(value, median
    comb score)`` pairs, value rising, :attr:`MaterialGraph.jitter_regularity`; linear between
    them); ``None`` where even the curve's last value reads that well (no bound)."""
    need = confidence / REGULARITY_TOLERANCE
    if not curve or curve[-1][1] >= need:
        return None
    for (v0, c0), (v1, c1) in zip(curve, curve[1:]):
        if c1 < need <= c0:
            return float(v0 + (v1 - v0) * (c0 - need) / (c0 - c1))
    return float(curve[0][0])  # more regular than even the curve's first value reads


def _jitter_window(graph, layout: Layout, base: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """``(lowest, highest, nearest)`` for the graph's jitter parameter
    (:attr:`~diffproxy.graphs.MaterialGraph.jitter_param`) where the photo reads its units per
    course by their period: at most :func:`jitter_ceiling` of the photo's comb score (the fit
    may be as irregular as the photo, not more). ``None``: no bound."""
    name = getattr(graph, "jitter_param", None)
    curve = tuple(getattr(graph, "jitter_regularity", ()))
    if name not in graph.spec.by_name or not curve or layout.per_row is None or layout.lines[1]:
        return None
    top = jitter_ceiling(curve, layout.per_row_confidence)
    if top is None:
        return None
    p = graph.spec.by_name[name]
    hi = min(max(top, p.low), p.high)
    return p.low, hi, min(float(base[name]), hi)  # base holds every parameter (the defaults at least)


def regularity_curve(graph, values: tuple[float, ...], draws: int = 16, seed: int = 0,
                     res: int = SIZE) -> tuple[tuple[float, float], ...]:
    """``((value, median per_row_confidence), ...)``: ``draws`` parameter sets of ``graph``'s
    artist prior (``seed``), its :attr:`~diffproxy.graphs.MaterialGraph.jitter_param` set to
    each value, rendered at ``res`` px under the flash and read by :func:`measure_layout`. How
    :attr:`~diffproxy.graphs.MaterialGraph.jitter_regularity` is measured (its values are
    quoted there with the call)."""
    from .render import render

    name = graph.jitter_param
    if name not in graph.spec.by_name:
        raise ValueError(f"graph {graph.name!r} has no jitter parameter")
    drawn = graph.spec.sample(draws, torch.Generator().manual_seed(seed))
    out = []
    for v in values:
        with torch.no_grad():
            images = render(graph.maps({**drawn, name: torch.full((draws,), float(v))}, res))
        confs = [measure_layout(images[i:i + 1]).per_row_confidence for i in range(draws)]
        out.append((float(v), float(np.median(confs))))
    return tuple(out)


def layout_windows(graph, layout: Layout, params: Mapping[str, Any] | None = None
                   ) -> dict[str, tuple[float, float, float]]:
    """``{count parameter: (lowest, highest, nearest)}`` (natural units) for the counts of
    ``graph`` (:attr:`~diffproxy.graphs.MaterialGraph.layout_params`) that ``layout`` measured:
    the values the parameter's prior can draw whose count (``graph.layout_counts`` with the
    other parameters at ``params``, default the spec's defaults) lies within x/÷
    :data:`~diffproxy.judge.COUNT_TOLERANCE` of the measurement (a count read from ``k`` joints
    across the frame, ``Layout.lines``: from ``max(1, k - 1)`` up to it, within the same
    tolerance), and ``nearest``, the one whose
    count is closest to it (in ratio). One joint across the frame shows no spacing, only that
    bound: with the pattern's phase unknown, a pattern of ``c`` units per frame puts a joint at
    the place seen ``c`` times as often as a pattern of one unit does (and none elsewhere, up
    to the bound), so each value in the window weighs its prior weight (``Param.prior_weights``)
    times its count, and the window is the heaviest value alone. Why: with the window open,
    the look took the reading a person does not (the 2 x 2 floor tiles at one tile per course:
    one joint per frame matches the photo's joint density as well as two half-frame tiles do;
    docs/BENCHMARKS.md, session 31). A count with no value inside gets the nearest value
    alone. Weak periods (confidence under 0.3) get the same window: on 128 perturbed renders
    (crop, up to 2 degrees of rotation, noise, JPEG 60) 28 of 34 such counts were within 30 %, where
    the losses pick octave errors (docs/BENCHMARKS.md). Counts the layout did not measure, and graphs without ``layout_params``, give
    nothing: the fit's searches range as before.

    A bond read (``Layout.offset``) keeps the graph's
    :attr:`~diffproxy.graphs.MaterialGraph.bond_param` within :data:`BOND_WINDOW` of the reading,
    starting at it (:func:`_bond_window`): stacked tiles are not fitted as a running bond (the
    2 x 2 floor tiles drifted to offset 0.25-0.33, 3-4 sd off the tiles' prior), nor a half-bond
    wall as a quarter bond (the red brick wall at balanced: 0.76, read 0.49); the style loss
    does not see a bond. The window holds the reading's mirror image (``1 - o``) too: the
    reading cannot tell them apart. Session 36's window for running bonds held one image only,
    and cost the dark brick wall (read 0.39, fitted 0.72: the mirror image of 0.28) its look;
    session 37 measured this form. Whatever the graph's prior: sessions 36-45 held only a graph
    whose prior makes the bond read (within 3 sd), because wood planks held to a stack bond (2 x 2
    square boards) out-looked the ceramic tiles on the floor photo; the graph choice has weighed
    the units' shape read on the photo since session 40 (``optimize.result.best_graph``), which
    is the right place for that, and a graph left free ends at a bond the photo does not show
    (white subway tiles in a half bond fitted as a stack by ``ceramic_tiles``, whose prior is a
    stack: session 46)."""
    base: dict[str, Any] = {k: float(v.reshape(-1)[0]) for k, v in graph.spec.defaults().items()}
    if params:
        base.update(params)
    out: dict[str, tuple[float, float, float]] = {}
    bond = getattr(graph, "bond_param", None)
    if layout.offset is not None and bond in graph.spec.by_name:
        out[bond] = _bond_window(graph.spec.by_name[bond], float(layout.offset), base.get(bond))
    jitter = _jitter_window(graph, layout, base)
    if jitter is not None:
        out[graph.jitter_param] = jitter
    for count, name in graph.layout_params.items():
        m = getattr(layout, count)
        if m is None or name not in graph.spec.by_name:
            continue
        joints = layout.lines[0 if count == "rows" else 1]
        p = graph.spec.by_name[name]
        counted = {}
        for k in p.allowed_levels:
            v = p.low + k
            counted[v] = float(graph.layout_counts({**base, name: v}).get(count, 0.0))
        off = {v: abs(math.log(max(c, 1e-6) / m)) for v, c in counted.items()}
        tol = math.log(COUNT_TOLERANCE) + 1e-9
        if joints:  # counted from joints across the frame: up to that many units (step 7)
            low = max(1.0, joints - 1.0)
            inside = [v for v, c in counted.items()
                      if math.log(max(c, 1e-6) / m) <= tol and math.log(low / max(c, 1e-6)) <= tol]
            if joints == 1 and inside:  # one joint: the most probable count alone (see above)
                weight = p.prior_weights()
                best = max(inside, key=lambda v: float(weight[int(round(v - p.low))]) * counted[v])
                out[name] = (int(best), int(best), int(best))
                continue
        else:
            inside = [v for v, d in off.items() if d <= tol]
        nearest = min(inside or off, key=off.get)  # the start: within the window
        inside = inside or [nearest]
        out[name] = (int(min(inside)), int(max(inside)), int(nearest))
    return out


def shape_share(graph, rows: float, per_row: float) -> float | None:
    """The share of ``graph``'s artist prior whose units have the shape read on a photo: the
    prior weight (``Param.prior_weights`` of its two count parameters,
    :attr:`~diffproxy.graphs.MaterialGraph.layout_params`, the other parameters at their
    defaults) of the counts whose ratio ``rows / per_row`` (``graph.layout_counts``) lies within
    x/÷ :data:`SHAPE_TOLERANCE` of the photo's; ``None`` for a graph without both counts.

    Why the ratio: a unit's shape (square tiles, long planks, bricks two or three times as long
    as high) is a trait of the material, the same at any distance from it, where the counts
    themselves are not; a person tells square tiles from planks at first sight, and a Gram loss
    on a frame of four units does not (the 2 x 2 floor tiles, whose fits as wood planks were held
    to 2 x 2 square boards by the photo's counts and out-looked the ceramic tiles at some seeds;
    docs/BENCHMARKS.md, session 40). Used by ``optimize.result.best_graph``."""
    names = [graph.layout_params.get(k) for k in ("rows", "per_row")]
    if None in names or any(n not in graph.spec.by_name for n in names):
        return None
    if not (rows > 0 and per_row > 0):
        raise ValueError(f"rows and per_row must be positive, got {rows}, {per_row}")
    base: dict[str, Any] = {k: float(v.reshape(-1)[0]) for k, v in graph.spec.defaults().items()}
    pr, pc = (graph.spec.by_name[n] for n in names)
    wr, wc = pr.prior_weights(), pc.prior_weights()
    want, tol = math.log(rows / per_row), math.log(SHAPE_TOLERANCE) + 1e-9
    inside = total = 0.0
    for i in pr.allowed_levels:
        for j in pc.allowed_levels:
            w = float(wr[i]) * float(wc[j])
            c = graph.layout_counts({**base, names[0]: pr.low + i, names[1]: pc.low + j})
            total += w
            if c.get("rows", 0.0) > 0 and c.get("per_row", 0.0) > 0 \
                    and abs(math.log(c["rows"] / c["per_row"]) - want) <= tol:
                inside += w
    return inside / total if total > 0 else None


__all__ = ["Layout", "jitter_ceiling", "layout_windows", "regularity_curve", "measure_layout", "shape_share",
           "SHAPE_TOLERANCE", "BOND_CONFIDENCE", "BOND_WINDOW", "MIN_CONFIDENCE", "MIN_PERIOD"]
