"""Shared helpers for the pattern generators and noise inputs.

Conventions
-----------
* The pattern lives on the unit square with period 1. Pixel ``i`` of a ``res``-pixel image has
  its centre at ``(i + 0.5) / res``; ``u`` runs along x (columns), ``v`` along y (rows, row 0 is
  the top of the image).
* Randomness comes only from :func:`hash_uniform`: an integer hash of ``(salt, seed, cell
  indices)``, computed in int64 with every product kept below 2**63, so it is exact, identical on
  every device and independent of resolution, batch size and table layout. Never torch's RNG.
* Per-cell random values are computed once into a small table (:func:`cell_table`) and looked
  up per pixel (:func:`lookup`); hashing per pixel would cost ~10 int64 passes over the image.
* Edges are antialiased with :func:`coverage`: a linear ramp one pixel wide centred on the
  edge, the box-filtered coverage of a straight edge, so renders at different resolutions agree
  after downsampling.
* Large images are evaluated in bands of rows (:func:`render_rows`) so temporaries stay a few MB
  (cache-sized, and no page faults for fresh 64 MB buffers on every elementwise op).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..params import Batch, ParamSpec

_M32 = 0xFFFFFFFF


# --- parameters -------------------------------------------------------------------------------
def prepare(params: Mapping[str, torch.Tensor], spec: ParamSpec, res: int,
            origin: tuple[float, float] = (0.0, 0.0)) -> tuple[Batch, int, torch.device]:
    """Check a generator call and return ``(params rounded and clamped, B, device)``.

    Every parameter of ``spec`` must be present as a ``(B,)`` tensor; discrete kinds are
    rounded (optimisers hand in unrounded values) and everything is clamped to its range.
    """
    if not (isinstance(res, int) and 1 <= res <= 16384):
        raise ValueError(f"res must be a whole number of pixels in [1, 16384], got {res!r}")
    if not (len(origin) == 2 and all(isinstance(o, (int, float)) for o in origin)):
        raise ValueError(f"origin must be a pair of floats (x, y), got {origin!r}")
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict name -> (B,) tensor, got {type(params).__name__}")
    missing = [n for n in spec.names if n not in params]
    if missing:
        raise KeyError(f"params is missing {missing}; expected {spec.names}")
    first = params[spec.names[0]]
    batch, device = first.reshape(-1).shape[0], first.device
    vals: Batch = {}
    for n in spec.names:
        t = params[n]
        if not torch.is_tensor(t) or t.dim() != 1 or t.shape[0] != batch:
            raise ValueError(f"params[{n!r}] must be a ({batch},) tensor, got "
                             f"{tuple(t.shape) if torch.is_tensor(t) else type(t).__name__}")
        vals[n] = t.detach().to(device=device, dtype=torch.float32)
    return spec.round(vals), batch, device


def col(t: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, 1, 1)`` so a per-sample value broadcasts over an image batch."""
    return t.reshape(-1, 1, 1, 1)


# --- coordinates ------------------------------------------------------------------------------
def pixel_centers(res: int, device=None) -> torch.Tensor:
    """``(res,)`` float32: ``(i + 0.5) / res``, the pixel centres on [0, 1]."""
    return (torch.arange(res, device=device, dtype=torch.float32) + 0.5) / res


def uv(res: int, device=None, origin: tuple[float, float] = (0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``u`` of shape ``(1, 1, 1, res)`` and ``v`` of ``(1, 1, res, 1)``.

    ``origin`` = ``(x, y)`` shifts the sampled window (texture units); a period-1 pattern
    rendered with ``origin=(k / res, l / res)`` equals the default render rolled by ``(-l, -k)``.
    """
    c = pixel_centers(res, device)
    return (c + float(origin[0])).view(1, 1, 1, res), (c + float(origin[1])).view(1, 1, res, 1)


SUB = 4  # sub-samples per pixel along an axis for profiles computed on 1-D tables


def supersample(t: torch.Tensor, res: int, n: int = SUB) -> torch.Tensor:
    """Replace pixel centres by ``n`` evenly spread sub-sample positions per pixel.

    ``t``: coordinates ``(..., L)`` of pixel centres (texture units) -> ``(..., L * n)``,
    sub-samples of one pixel adjacent; average groups of ``n`` to box-filter over the pixel.
    """
    offs = ((torch.arange(n, device=t.device, dtype=t.dtype) + 0.5) / n - 0.5) / res
    return (t.unsqueeze(-1) + offs).flatten(-2)


def render_rows(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], res: int, batch: int,
                device, target: int | None = None,
                origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Evaluate a per-pixel pattern band by band.

    Args:
        fn: ``fn(v, u) -> (B, 1, h, res)`` for ``v`` of shape ``(1, 1, h, 1)`` (a band of rows)
            and ``u`` of shape ``(1, 1, 1, res)``.
        res, batch, device: output size, batch size and device.
        target: elements per band (default 2**18 on CPU, i.e. cache-sized; whole image elsewhere).
        origin: ``(x, y)`` shift of the sampled window, see :func:`uv`.

    Returns:
        ``(B, 1, res, res)`` float32.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if target is None:
        target = 1 << 18 if device.type == "cpu" else 1 << 26
    u, v = uv(res, device, origin)
    rows = max(1, min(res, target // max(1, res * batch)))
    if rows >= res:
        return fn(v, u).expand(batch, 1, res, res).to(torch.float32).contiguous()
    out = torch.empty(batch, 1, res, res, device=device, dtype=torch.float32)
    for r0 in range(0, res, rows):
        out[:, :, r0:r0 + rows] = fn(v[:, :, r0:r0 + rows], u)
    return out


def supersample_small(fn: Callable[..., torch.Tensor], params, res: int, origin, min_res: int = 256):
    """Render ``fn`` at a multiple of ``res`` of at least ``min_res`` and box-filter down.

    For patterns whose features are only a few pixels wide at small sizes (one-pixel edge
    ramps stop being a good pixel average there). Returns None when ``res >= min_res``.
    """
    if res >= min_res:
        return None
    f = -(-min_res // res)
    return torch.nn.functional.avg_pool2d(fn(params, res * f, origin), f)


# --- hashing ----------------------------------------------------------------------------------
def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Avalanche a 32-bit value held in int64 (multipliers < 2**31 so nothing overflows)."""
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x5BD1E995) & _M32
    x = x ^ (x >> 13)
    x = (x * 0x27D4EB2F) & _M32
    return x ^ (x >> 16)


def hash_uniform(salt: int, seed: torch.Tensor, *idx: torch.Tensor) -> torch.Tensor:
    """Uniform random numbers in [0, 1) from integers: deterministic, device-independent.

    Args:
        salt: python int that tells independent random quantities apart (jitter x, height...).
        seed: integer-valued tensor (any float/int dtype; rounded), broadcastable with ``idx``.
        idx: integer-valued tensors (cell indices, may be negative), broadcast together.

    Returns:
        float32 tensor of the broadcast shape, values ``k / 2**24`` in [0, 1).
    """
    h = _mix32(torch.round(seed.to(torch.float64)).to(torch.int64) + (salt * 0x9E3779B1 & _M32))
    for i in idx:
        h = _mix32(h ^ _mix32(i.to(torch.int64) & _M32))
    return (h >> 8).to(torch.float32) * (1.0 / 16777216.0)


def hash_table(salt: int, seed: torch.Tensor, *sizes: int) -> torch.Tensor:
    """Random value per multi-index: ``(B, prod(sizes))`` float32 in [0, 1).

    Entry at multi-index ``(a, b, ...)`` (row-major) is ``hash_uniform(salt, seed, a, b, ...)``:
    it depends on the index only, not on the table size, so batches with different counts see
    the same values as single calls.
    """
    dev, n = seed.device, len(sizes)
    idx = [torch.arange(s, device=dev).view([1] * (k + 1) + [s] + [1] * (n - k - 1))
           for k, s in enumerate(sizes)]
    return hash_uniform(salt, seed.view([-1] + [1] * n), *idx).reshape(seed.shape[0], -1)


def cell_table(salt: int, seed: torch.Tensor, ny: int, nx: int) -> torch.Tensor:
    """Random value per cell ``(j, i)``, ``j < ny``, ``i < nx``: ``(B, ny * nx)`` float32 in [0, 1).

    Entry ``j * nx + i`` is ``hash_uniform(salt, seed, j, i)`` (see :func:`hash_table`).
    """
    return hash_table(salt, seed, ny, nx)


def lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-pixel table lookup: ``table (B, N)``, ``index (B or 1, 1, h, w)`` int64 -> ``(B, 1, h, w)``."""
    b = table.shape[0]
    idx = index.expand(b, *index.shape[1:])
    return torch.gather(table, 1, idx.reshape(b, -1)).view(idx.shape)


# --- jittered point lattices (Worley / cellular) ------------------------------------------------
def row_bands(res: int, n: int, target_rows: int, shift: float = 0.0):
    """Split pixel rows ``0..res`` into bands of at most ``target_rows`` rows that never straddle
    a lattice row of ``n`` cells per side (window shifted by ``shift`` texture units)."""
    v = (pixel_centers(res).to(torch.float64) + shift) * n
    cj = torch.floor(v).to(torch.int64).tolist()
    start = 0
    for r in range(1, res + 1):
        if r == res or cj[r] != cj[start] or r - start >= target_rows:
            yield start, r
            start = r


def worley_band(v: torch.Tensor, u: torch.Tensor, n: int, jx: torch.Tensor, jy: torch.Tensor,
                jitter: torch.Tensor, carry: torch.Tensor | None = None, want_f2: bool = False):
    """Nearest jittered lattice points for a band of rows (squared distances in cell widths).

    Args:
        v: ``(1, 1, h, 1)`` row coordinates; every row of the band must lie in the same lattice
            row (``floor(v * n)`` constant, see :func:`row_bands`). u: ``(1, 1, 1, W)``.
        n: cells per side (python int); the point of cell ``(j, i)`` sits at
            ``(i + 0.5 + jitter * (jx - 0.5), j + 0.5 + jitter * (jy - 0.5))``.
        jx, jy: ``(B, n * n)`` per-cell uniforms in [0, 1) (index ``j * n + i``).
        jitter: ``(B, 1, 1, 1)`` in [0, 1].
        carry: optional ``(B, n * n)`` per-cell value to return for the nearest point.
        want_f2: also track the second-nearest distance.

    Returns:
        ``(f1sq, f2sq, carried)``: squared F1 ``(B, 1, h, W)``, squared F2 (or None), the
        nearest cell's ``carry`` value (or None). Checks the 3 x 3 neighbourhood.

    Cost: a band lies in one lattice row, so candidate points are ``(B, 1, 1, W)`` vectors and
    ``|p - c|^2 = v^2 + (dx^2 + cy^2) - 2 v cy`` is one pass per candidate (``v^2`` is common
    to all candidates and added at the end). Distances are held scaled by 2**60 so that
    ``clamp(f1 - d, 0, 1)`` is an exact 0/1 "closer" mask (torch.where and bool tensors cost
    an order of magnitude more on CPU).
    """
    b, w = jx.shape[0], u.shape[-1]
    big_u, big_v = u * n, v * n
    ci = torch.floor(big_u)  # (1,1,1,W)
    cj = int(torch.floor(big_v[0, 0, 0, 0]))
    big_v = big_v - cj  # rows relative to the band's lattice row: small numbers, exact squares
    scale = 2.0 ** 60
    f1: torch.Tensor | None = None
    f2: torch.Tensor | None = None
    got: torch.Tensor | None = None
    for dj in (-1, 0, 1):
        row = (cj + dj) % n
        for di in (-1, 0, 1):
            cols = ci + di
            flat = (row * n + cols - n * torch.floor(cols / n)).to(torch.int64).view(1, w).expand(b, w)
            gx = torch.gather(jx, 1, flat).view(b, 1, 1, w)
            gy = torch.gather(jy, 1, flat).view(b, 1, 1, w)
            dx = big_u - cols - 0.5 - jitter * (gx - 0.5)  # (B,1,1,W)
            cy = (dj + 0.5) + jitter * (gy - 0.5)  # (B,1,1,W), relative to row cj
            d = torch.addcmul((dx * dx + cy * cy) * scale, big_v, cy, value=-2.0 * scale)  # minus v^2
            val = torch.gather(carry, 1, flat).view(b, 1, 1, w) if carry is not None else None
            if f1 is None:
                f1 = d
                f2 = torch.full_like(d, 1e9 * scale) if want_f2 else None
                got = val.expand_as(d) if val is not None else None
                continue
            if val is not None and got is not None:
                got = torch.lerp(got, val, torch.sub(f1, d).clamp_(0.0, 1.0))
            if f2 is not None:
                f2 = torch.minimum(f2, torch.maximum(f1, d))
            f1 = torch.minimum(f1, d)
    assert f1 is not None  # the 3 x 3 loop always runs
    v2 = big_v * big_v
    f1 = torch.addcmul(v2, f1, torch.tensor(1.0 / scale, device=f1.device)).clamp_(min=0.0)
    if f2 is not None:
        f2 = torch.addcmul(v2, f2, torch.tensor(1.0 / scale, device=f2.device)).clamp_(min=0.0)
    return f1, f2, got


# --- shaping ----------------------------------------------------------------------------------
def wrap(x: torch.Tensor) -> torch.Tensor:
    """Fractional part, in [0, 1): wraps coordinates onto the unit square."""
    return x - torch.floor(x)


def wrap_index(k: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Cell index ``k`` (float, any integer value) wrapped into ``[0, n)``: ``k mod n``, for
    lattices whose cells repeat every ``n`` (the period of the texture)."""
    return k - n * torch.floor(k / n)


def smoothstep(e0, e1, x: torch.Tensor) -> torch.Tensor:
    """Cubic Hermite step from 0 at ``e0`` to 1 at ``e1`` (``e1 > e0``), clamped."""
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def quintic(t: torch.Tensor) -> torch.Tensor:
    """Perlin's fade ``6t^5 - 15t^4 + 10t^3`` for ``t`` in [0, 1] (C2 lattice interpolation)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def coverage(d: torch.Tensor, px: float) -> torch.Tensor:
    """Antialiased inside test: signed distance ``d`` (> 0 inside, texture units) -> [0, 1].

    A linear ramp one pixel (``px``) wide centred on the edge: the box-filtered coverage of a
    straight edge.
    """
    return (d * (1.0 / px) + 0.5).clamp(0.0, 1.0)


def bevel_profile(d: torch.Tensor, bevel, px: float, rounded: bool = True) -> torch.Tensor:
    """Height of a shape with an edge ramp: 0 outside, rising over ``bevel`` to 1 inside.

    A ramp wider than a pixel is sampled at pixel centres as is (unbiased: its pixel average
    differs only to second order); a ramp narrower than a pixel widens to one pixel and shifts
    outwards until, at ``bevel = 0``, it is :func:`coverage`. So edges stay antialiased and the
    mean height does not drift with the resolution.

    Args:
        d: signed distance to the shape's edge (> 0 inside), texture units.
        bevel: ramp width, texture units, >= 0: float or tensor broadcastable to ``d`` (e.g.
            ``(B, 1, 1, 1)``); 0 = hard edge.
        px: pixel size in texture units.
        rounded: ease-out ``t (2 - t)`` (quarter-round bevel) if True, linear chamfer if False.
    """
    b = torch.as_tensor(bevel, dtype=d.dtype, device=d.device)
    width = b.clamp(min=px)
    t = torch.addcmul((0.5 * (width - b)) / width, d, 1.0 / width).clamp_(0.0, 1.0)
    return t * (2.0 - t) if rounded else t
