"""Running-bond brick wall: a height-like mask of bricks separated by mortar joints.

Layout: ``rows`` courses of ``bricks`` bricks each; every other course is shifted by
``offset`` brick lengths (0.5 = half bond). For the pattern to wrap vertically the shift must
alternate an even number of times, so an odd ``rows`` rounds up to the next even number.
Head joints are jittered per joint (``size_jitter``), which varies brick lengths while keeping
the mortar width constant. Widths (mortar, bevel) are fractions of the brick height, so a
pattern stays valid for any count.

Output: mortar 0; each brick rises over ``bevel`` (quarter-round profile) to a flat top at
``1 - height_random * r`` with ``r`` uniform per brick; edges antialiased to one pixel.
"""

from __future__ import annotations

import math

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import SUB, cell_table, col, lookup, prepare, render_rows, supersample, uv

_ROWS_LOW, _ROWS_HIGH = 2, 40
# Artists mostly use 8-20 courses per texture; odd counts are never drawn (they round up).
_ROWS_WEIGHTS = tuple(
    0.0 if r % 2 else math.exp(-0.5 * ((r - 12) / 4.0) ** 2) for r in range(_ROWS_LOW, _ROWS_HIGH + 1)
)
_SALT_LEVEL, _SALT_JOINT = 0xB01, 0xB02

SPEC = ParamSpec([
    int_param("rows", 12, _ROWS_LOW, _ROWS_HIGH, weights=_ROWS_WEIGHTS, group="Layout", role="generator", period="y",
              description="Brick courses per texture (odd values round up to even so the bond wraps)"),
    int_param("bricks", 4, 1, 16, prior=(4.0, 1.2), group="Layout", role="generator", period="x",
              description="Bricks per course"),
    float_param("offset", 0.5, 0.0, 1.0, prior=(0.5, 0.1), group="Layout", role="generator",
                description="Shift of every other course, in brick lengths (0.5 = half bond)"),
    float_param("mortar", 0.12, 0.0, 0.5, prior=(0.12, 0.06), group="Shape", role="generator",
                description="Mortar joint width, as a fraction of the brick height"),
    float_param("bevel", 0.15, 0.0, 0.5, prior=(0.15, 0.1), group="Shape", role="generator",
                description="Width of the rounded brick edge, as a fraction of the brick height"),
    float_param("height_random", 0.25, 0.0, 1.0, prior=(0.25, 0.15), group="Variation", role="generator",
                description="Per-brick random drop of height/brightness"),
    float_param("size_jitter", 0.15, 0.0, 1.0, prior=(0.15, 0.15), group="Variation", role="generator",
                description="Random shift of head joints (brick length variation)"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-brick variation"),
])


def brick(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Running-bond brick mask.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: bricks up to 1,
        mortar 0.

    Example:
        >>> brick(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    rows_t = torch.ceil(p["rows"] / 2) * 2
    n_rows, n_bricks = col(rows_t), col(p["bricks"])
    ny, nx = int(rows_t.max()), int(p["bricks"].max())
    brick_h = 1.0 / n_rows
    half_mortar = 0.5 * col(p["mortar"]) * brick_h
    bevel = col(p["bevel"]) * brick_h
    # Profiles are box-filtered by SUB sub-samples per pixel along each axis; each sub-sample
    # ramps over at least its own width (see bevel_profile), so hard edges stay smooth.
    sub_px = 1.0 / (res * SUB)
    width = bevel.clamp(min=sub_px)
    shift = 0.5 * (width - bevel) / width

    # Every pixel row of a course shares the same horizontal profile, so the x work is done
    # once per course: tables (B, 1, C, W) over the courses a window can touch.
    u, v = uv(res, dev, origin)
    c0 = int(torch.floor(float(origin[1]) * rows_t + 0.5).min()) - 1
    n_c = int(torch.floor((1.0 + float(origin[1])) * rows_t + 0.5).max()) + 2 - c0
    course = (torch.arange(n_c, device=dev, dtype=torch.float32) + c0).view(1, 1, n_c, 1)
    r_idx = (course - n_rows * torch.floor(course / n_rows)) * nx  # wrapped course, table row
    us = supersample(u, res)  # (1, 1, 1, W * SUB)
    x = us * n_bricks + 0.25 - col(p["offset"]) * torch.remainder(course, 2.0)  # brick lengths
    k = torch.floor(x)

    def wrapped(kk):  # table index of brick/joint kk of each course
        return (r_idx + kk - n_bricks * torch.floor(kk / n_bricks)).to(torch.int64)

    jitter = p["size_jitter"]
    if bool((jitter > 0).any()):
        # joint j of a course sits at j + J(course, j): a pixel may belong to a neighbour brick
        joint = 0.6 * jitter.view(-1, 1) * (cell_table(_SALT_JOINT, p["seed"], ny, nx) - 0.5)
        j0, j1 = lookup(joint, wrapped(k)), lookup(joint, wrapped(k + 1.0))
        k = k + (x >= k + 1.0 + j1).float() - (x < k + j0).float()
        left = k + lookup(joint, wrapped(k))
        right = k + 1.0 + lookup(joint, wrapped(k + 1.0))
    else:
        left, right = k, k + 1.0
    dx = torch.minimum(x - left, right - x) / n_bricks - half_mortar
    tx = (dx / width + shift).clamp_(0.0, 1.0)
    level_tab = 1.0 - p["height_random"].view(-1, 1) * cell_table(_SALT_LEVEL, p["seed"], ny, nx)
    level = lookup(level_tab, wrapped(k))
    # per course and pixel column: mean of level * profile, and mean level (B, 1, C, W)
    vx = (level * tx * (2.0 - tx)).view(b, 1, n_c, res, SUB).mean(-1)
    lx = level.view(b, 1, n_c, res, SUB).mean(-1)

    def band(vb: torch.Tensor, _u: torch.Tensor) -> torch.Tensor:
        y = vb * n_rows + 0.5  # (B,1,h,1); the texture edge runs through the middle of a course
        c = torch.floor(y)
        fy = supersample(vb, res) * n_rows + 0.5 - c  # (B,1,h,SUB), in the pixel centre's course
        dy = torch.minimum(fy, 1.0 - fy) * brick_h - half_mortar
        ty = (dy / width + shift).clamp_(0.0, 1.0)
        py = (ty * (2.0 - ty)).mean(-1, keepdim=True)  # (B,1,h,1)
        idx = (c - c0).to(torch.int64).expand(-1, -1, -1, res)
        # profile(min(dx, dy)) = min(profile(dx), profile(dy)); level factors out along rows
        return torch.minimum(torch.gather(vx, 2, idx), torch.gather(lx, 2, idx) * py)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="brick",
    spec=SPEC,
    fn=brick,
    description="Running-bond brick wall: courses of bricks with mortar joints, rounded edges, "
                "per-brick height and length variation",
    stochastic=False,
    version=1,
)
