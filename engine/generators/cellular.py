"""Cellular pattern in the spirit of PPTBF: point process x window function x feature function.

* Point process: a jittered grid of ``cells x cells`` points (``jitter`` 0 = regular grid).
* Window: each point owns a region, from a round spot around the point (``window`` = 0,
  radius ``size`` x 0.75 cell) to its whole Voronoi cell minus a border (``window`` = 1, border
  half-width ``(1 - size)`` x 0.25 cell); in between, the signed distances to the two edges
  are blended, so there is always a single edge.
* Feature: the value inside the window, from a flat plateau (``profile`` = 0) to a cone that
  peaks at the point and falls to 0 at the window's edge (``profile`` = 1), times a per-cell
  shade ``1 - luminance_random * r``.

Window edges have a soft ramp (``softness``, at least about a pixel, so they stay antialiased).
Distances are in cell widths, so the look does not depend on the resolution.

Speed: pixel bands are aligned to lattice rows, so the 9 candidate points of a band are
``(B, W)`` vectors and every candidate costs a few elementwise passes (see
``_common.worley_band``); samples with different ``cells`` run as separate groups.
"""

from __future__ import annotations

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import (cell_table, col, prepare, row_bands, smoothstep,
                      supersample_small, uv, worley_band)

_SALT_X, _SALT_Y, _SALT_LEVEL = 0xCE1, 0xCE2, 0xCE3

SPEC = ParamSpec([
    int_param("cells", 8, 2, 32, prior=(8.0, 3.0), group="Layout", role="generator", period="xy",
              description="Points (cells) per side of the texture"),
    float_param("jitter", 0.7, 0.0, 1.0, prior=(0.7, 0.2), group="Layout", role="generator",
                description="Random displacement of the points (0 = regular grid)"),
    float_param("window", 0.6, 0.0, 1.0, prior=(0.6, 0.3), group="Shape", role="generator",
                description="Window from round spots around the points (0) to whole cells (1)"),
    float_param("size", 0.6, 0.05, 1.0, prior=(0.6, 0.15), group="Shape", role="generator",
                description="Window size: spot radius / how much of the cell is kept"),
    float_param("softness", 0.1, 0.0, 1.0, prior=(0.1, 0.1), group="Shape", role="generator",
                description="Width of the window's edge ramp"),
    float_param("profile", 0.4, 0.0, 1.0, prior=(0.4, 0.3), group="Feature", role="generator",
                description="Feature from a flat plateau (0) to a cone peaking at the point (1)"),
    float_param("luminance_random", 0.3, 0.0, 1.0, prior=(0.3, 0.2), group="Feature", role="generator",
                description="Per-cell random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Feature", role="generator",
              description="Random seed for point positions and shades"),
])


def cellular(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Cellular / PPTBF-like pattern.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 outside the
        windows, features up to their cell's shade inside.

    Example:
        >>> cellular(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    small = supersample_small(cellular, p, res, origin, min_res=128)  # cells of 2-4 px at 64 px
    if small is not None:
        return small
    groups = sorted({int(c) for c in p["cells"].tolist()})
    if len(groups) == 1:
        return _render_group(p, groups[0], res, origin)
    out = torch.empty(b, 1, res, res, device=dev, dtype=torch.float32)
    for n in groups:
        idx = (p["cells"] == n).nonzero().view(-1)
        out[idx] = _render_group({k: t[idx] for k, t in p.items()}, n, res, origin)
    return out


def _render_group(p: dict[str, torch.Tensor], n: int, res: int, origin) -> torch.Tensor:
    """All samples of ``p`` have ``n`` cells per side: ``(Bg, 1, res, res)``."""
    b, dev = p["seed"].shape[0], p["seed"].device
    jx = cell_table(_SALT_X, p["seed"], n, n)
    jy = cell_table(_SALT_Y, p["seed"], n, n)
    level = 1.0 - p["luminance_random"].view(b, 1) * cell_table(_SALT_LEVEL, p["seed"], n, n)
    jitter = col(p["jitter"])
    window, profile, size = col(p["window"]), col(p["profile"]), col(p["size"])
    px = n / res  # a pixel in cell widths
    soft = 0.25 * col(p["softness"])  # edge ramp, cell widths
    radius = 0.75 * size  # round window
    border = 0.25 * (1.0 - size)  # cell window: half-width of the border between cells

    # half-cell phase: with little jitter the cell borders (where the pattern has its edges)
    # fall between, not on, the texture's edges
    phase = 0.5 / n
    u, v = uv(res, dev, (float(origin[0]) + phase, float(origin[1]) + phase))
    out = torch.empty(b, 1, res, res, device=dev, dtype=torch.float32)
    rows = max(1, (1 << 18) // (res * b)) if dev.type == "cpu" else res
    for r0, r1 in row_bands(res, n, rows, float(origin[1]) + phase):
        f1sq, f2sq, lum = worley_band(v[:, :, r0:r1], u, n, jx, jy, jitter, carry=level, want_f2=True)
        f1, f2 = f1sq.sqrt_(), f2sq.sqrt_()
        # signed distance to the window's edge (> 0 inside), blended between a round spot of
        # `radius` and the Voronoi cell minus a border ((f2 - f1) / 2: distance to the cell edge)
        inside = torch.lerp(radius - f1, torch.sub(f2, f1).mul_(0.5).sub_(border), window)
        # the pixel-wide antialiasing ramp is centred on the edge so windows keep their size
        # at every resolution
        win = smoothstep(-soft - 0.5 * px, 0.5 * px, inside)
        # feature: cone from the point (1) to the window's edge (0), blended with a plateau
        cone = inside.clamp(min=0.0)
        cone = cone.div_(cone + f1 + 1e-6)
        feature = cone.sub_(1.0).mul_(profile).add_(1.0)  # lerp(1, cone, profile)
        out[:, :, r0:r1] = win.mul_(feature).mul_(lum).clamp_(0.0, 1.0)
    return out


GENERATOR = Generator(
    name="cellular",
    spec=SPEC,
    fn=cellular,
    description="Cellular point-process pattern (PPTBF-like): jittered points, round-to-cell "
                "window, flat-to-cone feature, per-cell shade",
    stochastic=True,
    version=1,
)
