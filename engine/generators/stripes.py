"""Stripes: ``count`` parallel bands with per-stripe width and brightness variation.

Geometry: along ``t = across + slope * along`` (``across``/``along`` = y/x for horizontal
stripes, x/y for vertical), stripe ``k`` is centred at ``t = (k + 0.5) / count``. An integer
``slope`` tilts the stripes while keeping period 1 in both directions (slope 1 = 45 degrees for
a square texture). ``width`` is the stripe's share of its period; ``softness`` the share of the
stripe's half-width over which its edges ramp (smoothstep).

Speed: with an integer slope every pixel centre lands on one of ``res`` positions along ``t``
(``(across_px + slope * along_px)`` mod ``res``), so the profile is evaluated once per position,
box-filtered over the pixel's footprint, and the image is a single lookup per pixel.
"""

from __future__ import annotations

import torch

from ..params import ParamSpec, choice_param, float_param, int_param
from . import Generator
from ._common import SUB, cell_table, col, lookup, prepare, render_rows

_SALT_WIDTH, _SALT_LEVEL = 0x5701, 0x5702

SPEC = ParamSpec([
    int_param("count", 10, 1, 64, prior=(8.0, 5.0), group="Layout", role="generator", period="xy",
              description="Number of stripes across the texture"),
    choice_param("direction", "horizontal", ("horizontal", "vertical"), weights=(0.5, 0.5),
                 group="Layout", role="generator", description="Stripes run along x (horizontal) or y"),
    int_param("slope", 0, -3, 3, weights=(0.02, 0.04, 0.09, 0.7, 0.09, 0.04, 0.02), group="Layout",
              role="generator", description="Tilt: the stripe shifts this many periods per texture (0 = straight)"),
    float_param("width", 0.5, 0.02, 0.98, prior=(0.5, 0.15), group="Shape", role="generator",
                description="Stripe width as a fraction of its period (duty cycle)"),
    float_param("softness", 0.15, 0.0, 1.0, prior=(0.15, 0.15), group="Shape", role="generator",
                description="Edge ramp as a fraction of the stripe half-width (0 = hard edge)"),
    float_param("width_random", 0.2, 0.0, 1.0, prior=(0.2, 0.2), group="Variation", role="generator",
                description="Per-stripe random narrowing"),
    float_param("brightness_random", 0.25, 0.0, 1.0, prior=(0.25, 0.2), group="Variation", role="generator",
                description="Per-stripe random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-stripe variation"),
])


def stripes(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Tileable stripes.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: stripes up to 1
        (times their brightness), gaps 0.

    Example:
        >>> stripes(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    count, slope = col(p["count"]), col(p["slope"])
    vertical = col(p["direction"]) > 0.5
    n_max = int(p["count"].max())
    half_w = 0.5 * col(p["width"]) * (1.0 - col(p["width_random"])
                                      * cell_table(_SALT_WIDTH, p["seed"], 1, n_max).view(b, 1, 1, n_max))
    level = 1.0 - col(p["brightness_random"]) * cell_table(_SALT_LEVEL, p["seed"], 1, n_max).view(b, 1, 1, n_max)

    # Pixel (x, y) sits at t = (across_px + 0.5 + slope * (along_px + 0.5)) / res + t0: one of
    # res positions m / res (+ constant) modulo 1. Profile g(m) is averaged over SUB x SUB
    # sub-samples of the pixel footprint projected on t.
    ox, oy = float(origin[0]), float(origin[1])
    t0 = torch.where(vertical, ox + slope * oy, oy + slope * ox) + 0.5 * (1.0 + slope) / res
    sub = (torch.arange(SUB, device=dev, dtype=torch.float32) + 0.5) / SUB - 0.5
    foot = (sub.view(-1, 1) + slope.view(b, 1, 1) * sub.view(1, -1)).reshape(b, 1, 1, SUB * SUB) / res
    m = torch.arange(res, device=dev, dtype=torch.float32).view(1, 1, res, 1) / res
    tt = (m + t0 + foot) * count  # (B, 1, res, SUB*SUB) in stripe periods
    k = torch.floor(tt)
    f = tt - k
    ki = (k - count * torch.floor(k / count)).to(torch.int64)
    hw = lookup(half_w.view(b, n_max), ki)
    # signed distance to the stripe edge, in texture units (|grad t| = sqrt(1 + slope^2) / 1)
    norm = count * torch.sqrt(1.0 + slope * slope)
    d = (hw - (f - 0.5).abs()) / norm
    ramp = (col(p["softness"]) * hw / norm).clamp(min=1.0 / (res * SUB))
    s = (d / ramp).clamp(0.0, 1.0)
    g = (lookup(level.view(b, n_max), ki) * s * s * (3.0 - 2.0 * s)).mean(-1)  # (B, 1, res)
    g = g.view(b, res)

    # per pixel: g[(across + slope * along) mod res]; g tiled so the index needs no modulo
    s_max = int(p["slope"].abs().max())
    g_ext = g.repeat(1, 2 * s_max + 1)
    si = slope.to(torch.int64)
    off = s_max * res
    if bool(vertical.all()) or not bool(vertical.any()):
        vert = bool(vertical.all())

        def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            y = torch.round(v * res - 0.5 - oy * res).to(torch.int64)  # pixel row indices
            x = torch.arange(res, device=dev).view(1, 1, 1, res)
            across, along = (x, y) if vert else (y, x)
            if s_max == 0:
                idx = (across + off).expand(b, 1, y.shape[2], res)
            else:
                idx = across + si * along + off
            return lookup(g_ext, idx)
    else:
        def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            y = torch.round(v * res - 0.5 - oy * res).to(torch.int64)
            x = torch.arange(res, device=dev).view(1, 1, 1, res)
            a = torch.where(vertical, si, torch.ones_like(si))  # weight of y
            c = torch.where(vertical, torch.ones_like(si), si)  # weight of x
            return lookup(g_ext, y * a + x * c + off)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="stripes",
    spec=SPEC,
    fn=stripes,
    description="Parallel stripes (horizontal or vertical, optional integer tilt) with soft edges "
                "and per-stripe width and brightness variation",
    stochastic=False,
    version=1,
)
