"""What a person sees in a fitted material, measured apart from the losses the optimiser lowers.

The style loss compares Gram matrices of deep features: it does not see period, layout, which
of joints and units is lighter, or relief, so it calls fits good that a person rejects (a
running bond for a stack of square tiles, light bricks in dark grout for dark bricks in white
grout, a flat normal map on a brick wall). These checks compare a photo with the material
fitted to it against what a person counted on the photo (a label, as in
``../shared/photos/LABELS.json``: ``accept``, ``rows``, ``per_row``, ``relief``), with
measurements that share nothing with the descriptor:

* **family**: the fitted graph is one the label accepts.
* **counts**: courses (``rows``) and units per course (``per_row``) of the fitted graph
  (:meth:`MaterialGraph.layout_counts`) within 30 % of the label's, as a log-ratio.
* **polarity**: are the joints lighter or darker than the units, in photo and render alike?
  Measured the same way on both (:func:`joint_polarity`): the skewness of the median brightness
  of each row and each column, after the flash's falloff is divided out. Joints are narrow lines
  that run along whole rows and columns, so they make the profiles' short tail: light joints
  skew them positive, dark joints negative.
* **unit colour spread**: the spread of unit-sized mean colours (:func:`unit_spread`), photo at
  the label's unit size, render at the fitted one; alternating red and grey bricks fitted as one
  brown make the render's spread a fraction of the photo's.
* **bond**: how far every other course is shifted (0 stack bond, 0.5 half bond), read the
  same way on photo and render (:func:`diffproxy.layout.measure_layout`, its step 8), within
  :data:`BOND_TOLERANCE` units; only where the photo shows one. The labels do not count it, so
  this check compares two readings; a stack of square tiles fitted as a running bond fails it.
* **regularity**: does the render repeat its units as plainly as the photo does? For each
  direction in which the photo reads a period (:func:`diffproxy.layout.measure_layout`: courses,
  units per course), the render's comb score (how cleanly its joints repeat at one period)
  against the photo's, at least 1 / :data:`REGULARITY_TOLERANCE` of it. A wall of regular
  bricks fitted with brick lengths jittered by a quarter of a brick each way keeps the right
  counts and a Gram loss close to the photo's, but a person sees a different wall.
* **octaves** (a measurement, no pass or fail): how much of its contrast the render puts at
  each scale against the photo (:func:`octave_gap`: luminance power in octave bands of
  spatial frequency, the render's over the photo's, in nats), from whole tiles and patches to
  grain. The style loss averages its features over the image and the fit computes it at 96-128
  px, so blotches larger than its features and grain finer than its pixels cost it little.
* **relief**: the tilt of the normal map that a tenth of the surface exceeds
  (:func:`relief_degrees`: joints, grain peaks) against the label's ``relief``; from
  :data:`RELIEF_DEG` on, a person sees relief under a grazing light (at 80 degrees incidence a
  4 degree tilt changes the lit cosine by about 40 %). ``diffproxy bench`` hands it the normal
  map made at the export's size, the one the user gets: relief made of steps one texel wide
  tilts a tenth of a 256 px map and a hundredth of a 2048 px one.

Images are ``(1, 3, H, W)`` sRGB in [0, 1]; normal maps ``(1, 3, H, W)`` encoded ``n * 0.5 +
0.5``. Everything is measured at :data:`SIZE` px (area-resized), so a check does not depend on
the photo's resolution.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

SIZE = 256
COUNT_TOLERANCE = 1.3  # counts within x/÷ 1.3 of the label's
SPREAD_TOLERANCE = 2.0  # render's unit colour spread within x/÷ 2 of the photo's
POLARITY_MIN = 0.25  # |skewness| below this: no joint polarity to speak of
BOND_TOLERANCE = 0.15  # render's bond offset within this many units of the photo's
REGULARITY_TOLERANCE = 2.0  # render's comb score of a period the photo reads: at least 1/2 of the photo's
RELIEF_DEG = 4.0  # 90th-percentile normal tilt (degrees) from which a person sees relief


def _prepare(img: torch.Tensor) -> torch.Tensor:
    if not (isinstance(img, torch.Tensor) and img.dim() == 4 and img.shape[:2] == (1, 3)):
        raise ValueError(f"image must be a (1, 3, H, W) tensor, got "
                         f"{tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__}")
    return F.interpolate(img.detach().float().cpu(), size=(SIZE, SIZE), mode="area")


def _wide_mean(img: torch.Tensor) -> torch.Tensor:
    """``(1, 3, S, S)`` -> ``(luminance, its wide local mean)``, each ``(1, 1, S, S)``: a box
    half the frame wide, where the co-located flash's falloff lives."""
    lum = (0.2126 * img[:, 0] + 0.7152 * img[:, 1] + 0.0722 * img[:, 2])[:, None]
    k = SIZE // 4 * 2 + 1
    # a box mean as two 1D passes (the same values as the 2D box, ~20x faster at this width)
    wide = F.avg_pool2d(lum, (k, 1), 1, (k // 2, 0), count_include_pad=False)
    return lum, F.avg_pool2d(wide, (1, k), 1, (0, k // 2), count_include_pad=False)


def _flattened(img: torch.Tensor) -> torch.Tensor:
    """``(1, 3, S, S)`` -> the same divided by its wide local mean brightness: the co-located
    flash's falloff (bright centre, dark corners) removed, colour and joints kept."""
    return img / _wide_mean(img)[1].clamp_min(1e-3)


def _skew(v: torch.Tensor) -> float:
    v = v.double() - v.double().mean()
    sd = float(v.pow(2).mean().sqrt())
    return float(v.pow(3).mean()) / sd ** 3 if sd > 1e-9 else 0.0


def joint_polarity(img: torch.Tensor) -> float:
    """Skewness of the row and column brightness profiles (mean of the two), falloff removed:
    > 0 light joints between darker units, < 0 dark joints; near 0 (``|s| < POLARITY_MIN``) no
    lines that run across the frame. Each profile is the **median** along its rows (columns),
    not the mean: a joint runs along the whole row, the flash's specular highlight on a glossy
    surface is a compact bright blob a fraction of a row wide, smaller than the falloff's box,
    which a mean counts as a light line. Blender's glossy floor boards with dark joints read
    +0.48 by the mean (light joints), -1.38 by the median; on the 11 other brick and tile
    photos (shared and Blender-made) both give the same sign, the median a larger one on 10
    (session 47)."""
    x = _flattened(_prepare(img))
    lum = (0.2126 * x[0, 0] + 0.7152 * x[0, 1] + 0.0722 * x[0, 2])
    return 0.5 * (_skew(lum.median(1).values) + _skew(lum.median(0).values))


def polarity_sign(s: float) -> int:
    return 0 if abs(s) < POLARITY_MIN else (1 if s > 0 else -1)


def unit_spread(img: torch.Tensor, rows: float, per_row: float) -> float:
    """Spread of unit colours: windows of 60 % of a unit (``SIZE / rows`` by ``SIZE / per_row``
    px) at half-window steps, each window's median colour (falloff removed; the median ignores
    the joint that a window straddles), the root mean over channels of their variance, x 100."""
    if not (rows > 0 and per_row > 0):
        raise ValueError(f"rows and per_row must be positive, got {rows}, {per_row}")
    x = _flattened(_prepare(img))
    kh = max(1, round(0.6 * SIZE / rows))
    kw = max(1, round(0.6 * SIZE / per_row))
    win = F.unfold(x, (kh, kw), stride=(max(1, kh // 2), max(1, kw // 2)))  # (1, 3*kh*kw, L)
    med = win.view(3, kh * kw, -1).median(dim=1).values  # (3, L)
    return 100.0 * float(med.var(dim=1).mean().sqrt())


def relief_degrees(normal: torch.Tensor) -> float:
    """The angle (degrees) from the flat normal (0, 0, 1) that 10 % of the normal map's texels
    exceed, measured at :data:`SIZE` px (a slope's angle depends on the map's resolution)."""
    if not (isinstance(normal, torch.Tensor) and normal.dim() == 4 and normal.shape[:2] == (1, 3)):
        raise ValueError("normal must be a (1, 3, H, W) tensor encoded n * 0.5 + 0.5")
    n = F.interpolate(normal.detach().double().cpu(), size=(SIZE, SIZE), mode="area") * 2 - 1
    cos = n[:, 2] / n.norm(dim=1).clamp_min(1e-9)
    return float(torch.rad2deg(torch.acos(cos.clamp(-1, 1))).flatten().quantile(0.9))


SPECTRUM_OCTAVES = (2, 4, 8, 16, 32, 64)  # lower edges of the octave bands, cycles across the frame


def octave_power(img: torch.Tensor) -> torch.Tensor:
    """Luminance power of ``img`` in each octave band of spatial frequency (float64, one value
    per :data:`SPECTRUM_OCTAVES` edge: the band from it to twice it, in cycles across the
    frame), at :data:`SIZE` px with the flash's falloff divided out and the mean removed.
    Below 2 cycles the falloff's removal (a box half the frame wide) leaves too little of an
    image's own contrast to compare."""
    x = _flattened(_prepare(img))
    lum = (0.2126 * x[0, 0] + 0.7152 * x[0, 1] + 0.0722 * x[0, 2]).double()
    power = torch.fft.fft2(lum - lum.mean()).abs().pow(2) / lum.numel()
    f = torch.fft.fftfreq(SIZE, d=1.0 / SIZE, dtype=torch.float64)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return torch.stack([power[(radius >= lo) & (radius < 2 * lo)].sum() for lo in SPECTRUM_OCTAVES])


def octave_gap(photo: torch.Tensor, render: torch.Tensor) -> list[float]:
    """Per octave of :func:`octave_power`, the natural log of ``render``'s power over
    ``photo``'s: 0 where they hold the same contrast at that scale, +1.39 where the render's
    is twice the photo's (power x 4), negative where the render is smoother. Liu, Gousseau &
    Xia (2016) add a Fourier spectrum to the Gram loss because Gram matrices miss it."""
    a, b = octave_power(photo), octave_power(render)
    return [float(v) for v in torch.log(b.clamp_min(1e-12) / a.clamp_min(1e-12))]


def check(label: Mapping[str, Any], graph, params: Mapping[str, Any], photo: torch.Tensor,
          render: torch.Tensor, normal: torch.Tensor) -> dict[str, Any]:
    """Every check that the label allows, for one photo and the material fitted to it.

    ``graph``: the fitted :class:`~diffproxy.graphs.MaterialGraph`; ``params``: its JSON
    parameters. Returns ``{"family": {...}, "counts": {...}?, "polarity": {...}?, "spread":
    {...}?, "bond": {...}?, "regularity": {...}?, "relief": {...}?}``, each with ``ok``; counts,
    polarity, spread, bond and regularity only where the label counts rows and units per course
    (bond: and the photo shows one; regularity: and the photo reads a period).
    """
    out: dict[str, Any] = {}
    accept = list(label.get("accept") or [])
    out["family"] = {"ok": graph.name in accept, "graph": graph.name, "accept": accept}
    fitted = graph.layout_counts(params)
    if label.get("rows") and label.get("per_row"):
        counts: dict[str, Any] = {}
        for key in ("rows", "per_row"):
            want, got = float(label[key]), fitted.get(key)
            ratio = got / want if got else None
            counts[key] = {"label": want, "fitted": got, "ratio": ratio,
                           "ok": ratio is not None and abs(math.log(ratio)) <= math.log(COUNT_TOLERANCE)}
        counts["ok"] = all(counts[k]["ok"] for k in ("rows", "per_row"))
        out["counts"] = counts
        sp, sr = joint_polarity(photo), joint_polarity(render)
        out["polarity"] = {"photo": sp, "render": sr,
                           "ok": polarity_sign(sp) == polarity_sign(sr) != 0}
        photo_spread = unit_spread(photo, label["rows"], label["per_row"])
        units = fitted or label  # a graph without units: measured at the photo's unit size
        render_spread = unit_spread(render, units["rows"], units["per_row"])
        ratio = render_spread / photo_spread if photo_spread > 0 else None
        out["spread"] = {"photo": photo_spread, "render": render_spread, "ratio": ratio,
                         "ok": ratio is not None and abs(math.log(max(ratio, 1e-9))) <= math.log(SPREAD_TOLERANCE)}
        from .layout import measure_layout  # layout builds on this module's measurements

        lp, lr = measure_layout(photo), measure_layout(render)
        if lp.offset is not None:
            out["bond"] = {"photo": lp.offset, "render": lr.offset,
                           "ok": lr.offset is not None and abs(lr.offset - lp.offset) <= BOND_TOLERANCE}
        regular: dict[str, Any] = {}
        for key, across in (("rows", 0), ("per_row", 1)):
            if getattr(lp, key) is not None and not lp.lines[across]:  # a period the photo shows
                pc, rc = getattr(lp, f"{key}_confidence"), getattr(lr, f"{key}_confidence")
                regular[key] = {"photo": pc, "render": rc, "ratio": rc / pc,
                                "ok": rc >= pc / REGULARITY_TOLERANCE}
        if regular:
            regular["ok"] = all(v["ok"] for v in regular.values())
            out["regularity"] = regular
    if "relief" in label:
        deg = relief_degrees(normal)
        want = bool(label["relief"])
        out["relief"] = {"degrees": deg, "expected": want, "ok": (deg >= RELIEF_DEG) == want}
    return out


__all__ = ["check", "joint_polarity", "polarity_sign", "unit_spread", "relief_degrees", "octave_power",
           "octave_gap", "SPECTRUM_OCTAVES", "SIZE",
           "COUNT_TOLERANCE", "SPREAD_TOLERANCE", "BOND_TOLERANCE", "REGULARITY_TOLERANCE", "POLARITY_MIN",
           "RELIEF_DEG"]
