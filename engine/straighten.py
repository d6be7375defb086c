"""A photo turned a little: its lines put square to the frame before the fit.

The graphs draw courses, tiles, planks and threads along the frame's axes, and a hand-held
photo of a wall is rarely square to it: at 3 degrees a course drifts by 5 % of the frame from one
side to the other, so no count, bond or joint of a generator can line up with the photo's, and
the layout reading (``diffproxy.layout``) blurs. :func:`measure_tilt` finds the turn that puts
the photo's lines on the axes; :func:`straighten` turns the photo back by it and keeps the
largest axis-aligned square inside (the flash, at the centre, stays there).

**The reading.** The photo's log luminance at 256 px, less its 31 px local mean (the flash's
falloff and slow shading out), lightly blurred (sigma 1 px: the resampling of a turned image
otherwise beats with the pixel grid and favours some angles on any fine grain). For each turn
from -12 to +12 degrees in 1/4 degree steps the central 68 % of the turned image is taken, and
its line score is the variance along the frame of the row means of the vertical gradient
magnitude plus that of the column means of the horizontal one, over the squared mean gradient:
straight joints along an axis make those profiles peaky; turned, the profiles flatten. The best
turn's score over the median score of all turns (``peak``) says whether the photo has lines at
all: measured (``tests/test_straighten.py``; docs/BENCHMARKS.md, session 50) on 13 shared photos
and 13 Blender-made ones, each also turned by +3, -6 and +9 degrees, the brick, tile, plank and weave
photos score 2.9-84; stone, stucco, leather, concrete, painted and scratched metal and denim
1.0-1.7, wood grain up to 2.6 (then squared: the wood graph draws its grain along an axis); the
turns the Blender photos were made with (0.7-2.0 degrees) are read to the quarter degree.

**When it acts.** Where ``peak`` >= :data:`MIN_PEAK`, and the turn is at least :data:`MIN_DEG`
(below, the layout reading holds, ``diffproxy.layout``, and squaring the photo gained no check
of the judge while its crop and resampling moved the fits: docs/BENCHMARKS.md, session 50) and at most
:data:`MAX_DEG` (a 45 degree twill or a herringbone is a pattern of its own, not a turned one;
the reading stops at :data:`SEARCH_DEG`, and a best turn at the end of the search is no
reading). Otherwise the photo is used as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .photo import DEFAULT_MIN_SIZE, Photo

SEARCH_DEG = 12.0  # turns tried: -SEARCH_DEG .. +SEARCH_DEG
STEP_DEG = 0.25
MAX_DEG = 10.0  # the largest turn corrected
MIN_DEG = 2.0  # the smallest turn corrected (below, the layout reading holds and squaring gained nothing)
MIN_PEAK = 2.5  # best line score over the median score, for a photo to have lines at all
READ_PX = 256  # the reading's size
LOCAL_PX = 31  # the local mean taken out (flash falloff, slow shading)
SHARE = 0.68  # central share of the turned frame scored (inside the frame at 12 degrees)


@dataclass(frozen=True)
class Tilt:
    """A photo's turn: ``degrees``, the turn (counter-clockwise as the image is shown where
    positive) that squares its lines, ``turn(image, degrees, ...)``: a photo taken turned 3
    degrees counter-clockwise reads -3; and ``peak``, how much the best turn's line score stands
    out of the median of all turns tried (about 1 for a photo without lines)."""

    degrees: float
    peak: float

    @property
    def acts(self) -> bool:
        """Whether :func:`straighten` turns the photo: lines clear enough, a turn in range."""
        return self.peak >= MIN_PEAK and MIN_DEG <= abs(self.degrees) <= MAX_DEG


def kept_share(degrees: float) -> float:
    """Side of the largest axis-aligned square inside a square turned by ``degrees``, as a share
    of the square's side."""
    a = math.radians(abs(degrees))
    return 1.0 / (math.cos(a) + math.sin(a))


def turn(image: torch.Tensor, degrees: float | list[float], share: float, size: int | None = None) -> torch.Tensor:
    """``image`` (1, C, S, S) turned by each of ``degrees`` about its centre, the central
    ``share`` of the side kept, sampled bilinearly at ``size`` px (default ``share`` x S):
    (N, C, size, size). The frame a turn of ``d`` degrees shows is that of the photo turned by
    ``-d`` (:class:`Tilt`)."""
    degs = [float(degrees)] if isinstance(degrees, (int, float)) else [float(d) for d in degrees]
    s_in = image.shape[-1]
    size = size or max(1, round(s_in * share))
    a = torch.tensor(degs, dtype=torch.float32, device=image.device) * (math.pi / 180)
    c, s = torch.cos(a) * share, torch.sin(a) * share
    theta = torch.stack([torch.stack([c, -s, torch.zeros_like(c)], -1),
                         torch.stack([s, c, torch.zeros_like(c)], -1)], 1)
    grid = F.affine_grid(theta, [len(degs), image.shape[1], size, size], align_corners=False)
    return F.grid_sample(image.expand(len(degs), -1, -1, -1), grid.to(image.dtype), mode="bilinear",
                         padding_mode="reflection", align_corners=False)


def _lines_image(image: torch.Tensor) -> torch.Tensor:
    lum = F.interpolate(image.float().mean(1, keepdim=True), size=(READ_PX, READ_PX), mode="area")
    log = torch.log(lum.clamp_min(1e-3))
    k = LOCAL_PX
    out = log - F.avg_pool2d(F.pad(log, (k // 2,) * 4, mode="reflect"), k, 1)
    r = torch.arange(-3, 4, dtype=out.dtype, device=out.device)
    g = torch.exp(-r ** 2 / 2)
    g = g / g.sum()
    out = F.conv2d(F.pad(out, (3, 3, 0, 0), mode="reflect"), g.view(1, 1, 1, 7))
    return F.conv2d(F.pad(out, (0, 0, 3, 3), mode="reflect"), g.view(1, 1, 7, 1))


def line_scores(image: torch.Tensor, degrees: list[float]) -> torch.Tensor:
    """The line score (module docstring) of ``image`` (1, 3, S, S) seen turned by each of
    ``degrees``: (N,)."""
    r = turn(_lines_image(image), degrees, SHARE)
    gy = (r[..., 1:, :] - r[..., :-1, :]).abs()
    gx = (r[..., :, 1:] - r[..., :, :-1]).abs()
    rows, cols = gy.mean(-1).flatten(1), gx.mean(-2).flatten(1)
    norm = (gy.mean((-1, -2)) + gx.mean((-1, -2))).flatten() / 2
    return (rows.var(-1) + cols.var(-1)) / norm.clamp_min(1e-12) ** 2


@torch.no_grad()
def measure_tilt(image: torch.Tensor) -> Tilt:
    """The turn that puts ``image``'s (1, 3, S, S) lines on the frame's axes (module docstring)."""
    n = round(SEARCH_DEG / STEP_DEG)
    degrees = [i * STEP_DEG for i in range(-n, n + 1)]
    scores = line_scores(image.cpu(), degrees)
    best = int(scores.argmax())
    peak = float(scores[best] / scores.median().clamp_min(1e-12))
    if best in (0, len(degrees) - 1):  # still rising at the end of the search: no reading
        return Tilt(0.0, 1.0)
    return Tilt(degrees[best], peak)


def straighten(photo: Photo, tilt: Tilt | None = None) -> tuple[Photo, Tilt]:
    """``photo`` turned back by its :func:`measure_tilt` where :attr:`Tilt.acts`, the largest
    axis-aligned square inside kept (a note says so); else ``photo`` itself."""
    tilt = tilt or measure_tilt(photo.image)
    if not tilt.acts:
        return photo, tilt
    share = kept_share(tilt.degrees)
    side = photo.size
    # the square kept, at its own size; a small photo no smaller than the loader's floor
    size = max(round(side * share), min(side, DEFAULT_MIN_SIZE))
    with torch.no_grad():
        image = turn(photo.image.float(), tilt.degrees, share, size).clamp(0, 1).contiguous()
    way = "counter-clockwise" if tilt.degrees > 0 else "clockwise"
    note = (f"photo turned {abs(tilt.degrees):.2f} degrees {way} so that its lines run along the frame "
            f"(they stand out {tilt.peak:.1f}x); the largest square inside kept, "
            f"{100 * share:.0f} % of the side (--no-straighten: the photo as it is)")
    return dataclasses.replace(photo, image=image, notes=[*photo.notes, note]), tilt


__all__ = ["Tilt", "measure_tilt", "straighten", "turn", "kept_share", "line_scores", "MIN_PEAK",
           "MIN_DEG", "MAX_DEG", "SEARCH_DEG"]
