"""Seeded, tileable noise inputs for material graphs: value fBm, Perlin fBm, Worley cells.

All three take a ``(B,)`` tensor of whole-number seeds and return ``(B, 1, res, res)`` float32
in [0, 1] on the seed's device. They share the generator conventions (``_common``): period 1
on the unit square, pixel centres at ``(i + 0.5) / res``, randomness only from integer hashing
of ``(seed, lattice cell)``, so the same seed gives the same field at every resolution.

Convention (fBm): octave ``o`` (0-based) has ``scale * 2**o`` lattice cells per side and weight
``persistence**o``. An octave whose cells are under 2 pixels wide is faded out (gone at 1 px):
this band-limits the field so a render downsampled from a larger one matches a small render
instead of aliasing (that threshold gave the smallest 64-vs-256 px difference). The normalisation uses the full weight sum, so the mean (0.5) and the
contrast do not depend on resolution.

Speed: a lattice field is separable (``rows @ lattice @ columns``); it is synthesised as a few
small matrix products per vertical strip of the image rather than per-pixel gathers, ~0.1 s for
5 octaves at 4096 px on 2 CPU cores.
"""

from __future__ import annotations

import math

import torch

from ._common import cell_table, pixel_centers, quintic, row_bands, uv, worley_band

_STRIP = 256  # output columns per matrix product (keeps the lattice slice per strip small)
_SALT_VALUE, _SALT_GRAD, _SALT_CELL_X, _SALT_CELL_Y = 0x51, 0x7A00, 0x3C1, 0x3C2
_PERLIN_GAIN = 1.15  # maps the fBm sum to std ~0.15 at 5 octaves; clamping is rare


def _check(seed, res: int, scale: int, octaves: int | None = None) -> None:
    if not (torch.is_tensor(seed) and seed.dim() == 1 and seed.shape[0] >= 1):
        raise ValueError(f"seed must be a (B,) tensor of whole numbers, got "
                         f"{tuple(seed.shape) if torch.is_tensor(seed) else type(seed).__name__}")
    if not (isinstance(res, int) and 1 <= res <= 16384):
        raise ValueError(f"res must be a whole number of pixels in [1, 16384], got {res!r}")
    if not (isinstance(scale, int) and 1 <= scale <= 4096):
        raise ValueError(f"scale must be a python int in [1, 4096] (cells per side), got {scale!r}")
    if octaves is not None and not (isinstance(octaves, int) and 1 <= octaves <= 16):
        raise ValueError(f"octaves must be a python int in [1, 16], got {octaves!r}")


def _per_sample(x, batch: int, device, name: str, low: float, high: float) -> torch.Tensor:
    """Python float or ``(B,)`` tensor -> ``(B, 1, 1)`` float32, range-checked."""
    t = torch.as_tensor(x, dtype=torch.float32, device=device).reshape(-1)
    if t.shape[0] not in (1, batch):
        raise ValueError(f"{name} must be a float or a ({batch},) tensor, got shape {tuple(t.shape)}")
    if not bool(((t >= low) & (t <= high)).all()):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {t.tolist()}")
    return t.expand(batch).reshape(batch, 1, 1)


def _axis(res: int, n: int, device, shift: float = 0.0):
    """Sample a period-``n`` lattice at pixel centres: (cell index, fraction, fade) each ``(res,)``.

    The cell index is not wrapped (callers take it modulo ``n``).
    """
    x = (pixel_centers(res, device).to(torch.float64) + shift) * n  # float64: exact cell index at 16k px
    i0 = torch.floor(x)
    f = (x - i0).to(torch.float32)
    return i0.to(torch.int64), f, quintic(f)


def _octaves(res: int, scale: int, octaves: int) -> list[tuple[int, int, float]]:
    """``(octave, cells per side, fade)`` for the octaves that are visible at ``res``."""
    out = []
    for o in range(octaves):
        n = scale * 2 ** o
        fade = min(1.0, max(0.0, (1.0 - n / res) / 0.5))
        if fade > 0.0:
            out.append((o, n, fade))
    return out


def _synthesize(terms, res: int, batch: int, device) -> torch.Tensor:
    """Sum of separable lattice terms, strip by strip.

    Each term is ``(M, rows, cols)``: ``M`` a ``(B, n, n)`` lattice (``[j, i]``, j along y),
    ``rows``/``cols`` = ``(i0, w0, w1)``: per pixel the lower lattice index (unwrapped, int64)
    and the weights of lattice nodes ``i0`` and ``i0 + 1`` (mod n). The field is
    ``sum_j sum_i rows[y, j] * M[j, i] * cols[x, i]``.
    """
    out = torch.empty(batch, 1, res, res, device=device, dtype=torch.float32)
    if not terms:
        return out.zero_()
    # rows @ M, once per term: (B, res, n)
    left = []
    for m, (ry, a0, a1), cols in terms:
        n = m.shape[1]
        top = m.index_select(1, ry % n) * a0.view(1, -1, 1)
        bot = m.index_select(1, (ry + 1) % n) * a1.view(1, -1, 1)
        left.append((top + bot, n, cols))
    for x0 in range(0, res, _STRIP):
        x1 = min(res, x0 + _STRIP)
        c = x1 - x0
        ps, cs = [], []
        for p, n, (ix, c0, c1) in left:
            lo, hi = int(ix[x0]), int(ix[x1 - 1]) + 1
            k = hi - lo + 1
            ps.append(p.index_select(2, (torch.arange(lo, hi + 1, device=device) % n)))
            rel = ix[x0:x1] - lo
            cm = torch.zeros(k, c, device=device, dtype=torch.float32)
            ar = torch.arange(c, device=device)
            cm[rel, ar] = c0[x0:x1]
            cm[rel + 1, ar] = c1[x0:x1]
            cs.append(cm)
        out[:, 0, :, x0:x1] = torch.cat(ps, dim=2) @ torch.cat(cs, dim=0)
    return out


def value_fbm(seed: torch.Tensor, res: int, scale: int = 8, octaves: int = 5,
              persistence=0.5, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Tileable value-noise fBm.

    Args:
        seed: ``(B,)`` whole numbers (any dtype); one independent field per entry.
        res: output size in pixels.
        scale: lattice cells per side of the first octave (python int >= 1).
        octaves: number of octaves (python int >= 1), each with twice the cells of the last.
        persistence: weight ratio between octaves, float or ``(B,)`` tensor in [0, 1].
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1], mean 0.5 (lattice values uniform, quintic
        interpolation, weighted average over octaves).

    Example:
        >>> value_fbm(torch.tensor([0., 1.]), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    _check(seed, res, scale, octaves)
    b, dev = seed.shape[0], seed.device
    pers = _per_sample(persistence, b, dev, "persistence", 0.0, 1.0)
    amps = [pers ** o for o in range(octaves)]
    total = sum(amps)
    terms = []
    for o, n, fade in _octaves(res, scale, octaves):
        lat = cell_table(_SALT_VALUE + o, seed, n, n).view(b, n, n) - 0.5
        ix, _, wx = _axis(res, n, dev, origin[0])
        iy, _, wy = _axis(res, n, dev, origin[1])
        terms.append((lat * (amps[o] * fade / total), (iy, 1.0 - wy, wy), (ix, 1.0 - wx, wx)))
    out = _synthesize(terms, res, b, dev)
    return (out + 0.5).clamp_(0.0, 1.0)


def perlin_fbm(seed: torch.Tensor, res: int, scale: int = 8, octaves: int = 5,
               persistence=0.5, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Tileable gradient (Perlin) noise fBm.

    Args: as :func:`value_fbm`.

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1]: ``0.5 + gain * sum / weights``, mean 0.5, std
        about 0.15 at 5 octaves; values past [0, 1] (rare) are clamped.

    Example:
        >>> perlin_fbm(torch.tensor([3.]), 32, scale=4, octaves=3).shape
        torch.Size([1, 1, 32, 32])
    """
    _check(seed, res, scale, octaves)
    b, dev = seed.shape[0], seed.device
    pers = _per_sample(persistence, b, dev, "persistence", 0.0, 1.0)
    amps = [pers ** o for o in range(octaves)]
    total = sum(amps)
    terms = []
    for o, n, fade in _octaves(res, scale, octaves):
        ang = cell_table(_SALT_GRAD + o, seed, n, n).view(b, n, n) * (2.0 * math.pi)
        k = amps[o] * (fade * _PERLIN_GAIN / total)
        ix, fx, wx = _axis(res, n, dev, origin[0])
        iy, fy, wy = _axis(res, n, dev, origin[1])
        # g . (p - node) splits into gx * dx + gy * dy, each separable in x and y: lattice-node
        # weights on one axis, weights times the offset to the node on the other
        terms.append((torch.cos(ang) * k, (iy, 1.0 - wy, wy), (ix, (1.0 - wx) * fx, wx * (fx - 1.0))))
        terms.append((torch.sin(ang) * k, (iy, (1.0 - wy) * fy, wy * (fy - 1.0)), (ix, 1.0 - wx, wx)))
    out = _synthesize(terms, res, b, dev)
    return (out + 0.5).clamp_(0.0, 1.0)


# Worley F1 for jitter 0 peaks at sqrt(2)/2 (a cell corner); fully jittered points leave holes
# up to ~1.1 cells, but 99.9 % of pixels stay under ~0.95.
_F1_NORM_0, _F1_NORM_1 = 0.7072, 0.95


def cells(seed: torch.Tensor, res: int, scale: int = 8, jitter=1.0,
          origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Tileable Worley (cellular) noise: distance to the nearest jittered lattice point.

    Args:
        seed: ``(B,)`` whole numbers.
        res: output size in pixels.
        scale: cells per side (python int >= 1).
        jitter: float or ``(B,)`` tensor in [0, 1]; 0 = regular grid, 1 = point anywhere in
            its cell.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1]: F1 in cell widths divided by its typical maximum
        (``0.707`` at jitter 0 to ``0.95`` at jitter 1), clamped; 0 at the points.

    Example:
        >>> cells(torch.tensor([0., 1.]), 32, scale=4).shape
        torch.Size([2, 1, 32, 32])
    """
    _check(seed, res, scale)
    b, dev = seed.shape[0], seed.device
    jit = _per_sample(jitter, b, dev, "jitter", 0.0, 1.0).view(b, 1, 1, 1)
    jx = cell_table(_SALT_CELL_X, seed, scale, scale)
    jy = cell_table(_SALT_CELL_Y, seed, scale, scale)
    norm = _F1_NORM_0 + (_F1_NORM_1 - _F1_NORM_0) * jit
    u, v = uv(res, dev, origin)
    out = torch.empty(b, 1, res, res, device=dev, dtype=torch.float32)
    rows = max(1, (1 << 18) // (res * b)) if dev.type == "cpu" else res
    for r0, r1 in row_bands(res, scale, rows, origin[1]):
        f1, _, _ = worley_band(v[:, :, r0:r1], u, scale, jx, jy, jit)
        out[:, :, r0:r1] = (f1.sqrt_() / norm).clamp_(0.0, 1.0)
    return out
