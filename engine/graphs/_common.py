"""Small helpers shared by the material graphs: colour parameters, per-sample broadcasting,
constant images and resolution-capped noise.

Conventions follow the graphs' contract (``graphs/__init__.py``): parameter batches are
``dict[str, Tensor(B,)]`` in natural units, images ``(B, C, H, W)`` in [0, 1], tileable.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from ..params import Batch, Param, ParamSpec, float_param, int_param
from . import MaterialGraph

def color_params(key: str, hsv: tuple[float, float, float], std: tuple[float | None, float, float],
                 description: str, group: str = "Color") -> tuple[Param, Param, Param]:
    """A colour as three float params ``key.hue``, ``key.saturation``, ``key.value`` in [0, 1]
    (HSV of the sRGB-encoded colour), each with the artist prior ``(hsv[i], std[i])`` (a
    ``None`` std: uniform over [0, 1]).

    HSV rather than RGB so that independent priors stay plausible: a brick's hue is narrow
    while its brightness varies widely; independent R, G, B draws wander into purple bricks.
    The hue is ``periodic`` (0 and 1 are both red): an optimiser reaching a red from the
    magenta side wraps around instead of stopping at 1 (a clamp left a balanced-preset ceramic
    tiles fit stuck at hue 1.0 for a 0.07 target: style 0.076 where MATch reached 0.006).
    """
    names = (("hue", "hue, in turns: 0 red, 0.08 orange, 0.17 yellow, 0.33 green, 0.67 blue"),
             ("saturation", "saturation"), ("value", "brightness"))
    return tuple(float_param(f"{key}.{n}", v, 0.0, 1.0, prior=None if s is None else (v, s), group=group,
                             unit="FACTOR", description=f"{description}: {d}", periodic=n == "hue")
                 for (n, d), v, s in zip(names, hsv, std))  # type: ignore[return-value]


def rgb(p: Batch, key: str) -> torch.Tensor:
    """The colour ``key.hue/.saturation/.value`` of a batch -> sRGB ``(B, 3, 1, 1)`` in [0, 1]
    (differentiable; hue wraps around)."""
    h, s, v = (p[f"{key}.{n}"].reshape(-1, 1) for n in ("hue", "saturation", "value"))
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device, dtype=h.dtype)
    k = torch.remainder(n + 6.0 * h, 6.0)
    c = v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return c[:, :, None, None]


def seed_param(description: str = "Seed of the graph's noise (grain, dirt, variation)") -> Param:
    """The graph-side integer seed of its noise inputs (not differentiable; uniform prior)."""
    return int_param("noise.seed", 0, 0, 63, seed=True, group="Noise", description=description)


def col(t: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, 1, 1)`` so a per-sample value broadcasts over images."""
    return t.reshape(-1, 1, 1, 1)


def full(v: torch.Tensor, res: int, channels: int = 1) -> torch.Tensor:
    """A per-sample constant (``(B,)`` or ``(B, C, 1, 1)``) as a ``(B, C, res, res)`` image."""
    v = col(v) if v.dim() == 1 else v
    return v.expand(v.shape[0], channels if v.shape[1] == 1 else v.shape[1], res, res)


def seeds(p: Batch, k: int) -> torch.Tensor:
    """The ``k``-th independent noise seed derived from the graph's ``noise.seed``."""
    return torch.round(p["noise.seed"].detach()) * 16 + k


def upsample(x: torch.Tensor, res: int) -> torch.Tensor:
    """Tileable bilinear upsampling of ``(B, C, r, r)`` to ``res`` (pixel centres kept aligned,
    wrapping around the borders)."""
    r = x.shape[-1]
    if r == res:
        return x
    k = res // r
    if k * r != res:
        raise ValueError(f"upsample needs res ({res}) to be a multiple of the input size ({r})")
    y = F.interpolate(F.pad(x, (1, 1, 1, 1), mode="circular"), scale_factor=k, mode="bilinear",
                      align_corners=False)
    return y[..., k:k + res, k:k + res]


def noise(fn: Callable[..., torch.Tensor], seed: torch.Tensor, res: int, scale: int, octaves: int = 0,
          cap: int | None = None, then: Callable[[torch.Tensor], torch.Tensor] | None = None,
          **kw) -> torch.Tensor:
    """Evaluate a ``generators.noise`` field, at a capped resolution when that loses nothing.

    The noise fades out octaves whose cells are under 4 pixels, and its finest octave has the
    least weight, so at ``4 * finest cells per side`` pixels the field is resolved; above that
    it is computed there and upsampled (bilinear, tileable), which keeps 4096 px renders fast.
    ``octaves=0`` means a field without octaves (``cells``, whose creases need ``32`` pixels
    per cell); ``cap`` overrides the resolution;
    ``then`` is applied before upsampling (a cheap place for per-pixel work on the field).
    The field is seed-balanced (:func:`balanced`): every seed gives the same level and contrast.
    """
    finest = scale * 2 ** max(octaves - 1, 0)
    need = cap or (4 * finest if octaves else 32 * scale)
    r = res
    while r > need and r % 2 == 0:
        r //= 2
    args = {"scale": scale, **kw}
    if octaves:
        args["octaves"] = octaves
    x = FIELDS.get(balanced(fn), seed, r, args)
    return upsample(then(x) if then else x, res)


# seeds whose fields set a noise's reference level and contrast (:func:`balanced`)
REFERENCE_SEEDS = 16
_REFERENCES: dict[tuple, tuple[float, float]] = {}
_REFERENCES_LOCK = threading.Lock()


def reference(fn: Callable[..., torch.Tensor], res: int, args: Mapping[str, Any]) -> tuple[float, float]:
    """Mean and contrast (per-field standard deviation, averaged) of ``fn``'s fields at ``res``
    px with ``args`` over seeds ``0 .. REFERENCE_SEEDS - 1``, computed once on the CPU."""
    if any(isinstance(v, torch.Tensor) for v in args.values()):
        raise ValueError("a balanced noise takes plain numbers as arguments (its reference level is "
                         f"per argument set), got {args!r}")
    key = (fn.__module__, fn.__qualname__, res, tuple(sorted(args.items())))
    ref = _REFERENCES.get(key)
    if ref is None:
        with torch.no_grad():
            mean, std = field_stats(fn(torch.arange(REFERENCE_SEEDS, dtype=torch.float32), res, **args))
        ref = (float(mean.mean()), float(std.mean()))
        with _REFERENCES_LOCK:
            _REFERENCES[key] = ref
    return ref


def field_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean and standard deviation of ``(B, C, H, W)`` fields, ``(B, C, 1, 1)`` each,
    summed in float64 one row at a time and then over the rows: torch splits a long reduction
    between threads, which changes the summation order and with it the last bits, so a plain
    ``x.mean(dim=(2, 3))`` made a run's result depend on the thread count (the pipeline's
    promise: the same bits on any, ``Options.seed``); reductions this short it does not split."""
    d = x.double()
    n = x.shape[-1] * x.shape[-2]
    mean = d.sum(dim=3, keepdim=True).sum(dim=2, keepdim=True) / n
    var = (d - mean).square().sum(dim=3, keepdim=True).sum(dim=2, keepdim=True) / max(n - 1, 1)
    return mean.to(x.dtype), var.sqrt().to(x.dtype)


@functools.cache
def balanced(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``fn`` with every field moved to its reference mean and contrast (:func:`reference`):
    the graphs' noise is *seed-balanced*, a seed changes where the blotches, grain and dirt
    lie, not how much of them there is.

    Why: a low-frequency fBm has only a few cells per tile, so one seed's field is on average
    brighter or flatter than another's, and every threshold, ramp and blend downstream turned
    that into a different look: the same ``rust.amount`` covered a different share of the
    metal with each seed. The fitted filters then leaned on the seed they were tuned with (on a
    synthetic metal target the true seed scored 0.111 against the kept seed's 0.023 under the
    fitted filters, and 0.005 once the filters were tuned to it), so the seed search could not
    find it, and a user's slider meant different amounts with different seeds. With the
    balanced noise, ``bench --synthetic 30 --preset balanced`` (every target re-rendered, both
    methods re-run): mean style ratio to MATch 0.315 -> 0.286, mean style 0.0173 -> 0.0155,
    feature ratio 0.448 -> 0.410 (docs/BENCHMARKS.md, session 19). Per field, so a row's field
    does not depend on the batch; clamped to [0, 1] like the noise itself."""
    def field(seed: torch.Tensor, res: int, **args: Any) -> torch.Tensor:
        x = fn(seed, res, **args)
        mean, contrast = reference(fn, res, args)
        m, s = field_stats(x)
        return (mean + (x - m) * (contrast / s.clamp_min(1e-6))).clamp(0.0, 1.0)

    field.__module__ = __name__
    field.__qualname__ = f"balanced[{fn.__module__}.{fn.__qualname__}]"
    return field


class FieldCache:
    """Noise fields already computed, one per (function, size, arguments, seed), least
    recently used dropped past ``max_bytes``.

    Why: a graph's noise depends on its seed alone, yet every render computed it again; in the
    filter-only steps (Stages I and III, Stage "detail", MATch) and the searches that keep the
    seeds, that was 15-20 % of a step (bricks at the balanced preset: 26 of 150 ms). Rows are
    cached one seed at a time, so a batch of candidates sharing a seed computes it once. The
    noise functions give each row exactly what they give it alone (``tests/test_graphs``), so a
    cached field equals a fresh one. Fields with a tensor argument (a per-sample persistence)
    or a seed that needs a gradient are not cached. The cached tensors are shared: callers
    must not modify them in place (``noise``'s callers build new tensors from them)."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes, self.bytes = max_bytes, 0
        self.entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0

    def get(self, fn: Callable[..., torch.Tensor], seed: torch.Tensor, res: int, args: dict) -> torch.Tensor:
        if seed.requires_grad or any(isinstance(v, torch.Tensor) for v in args.values()):
            return fn(seed, res, **args)
        base = (fn.__module__, fn.__qualname__, res, tuple(sorted(args.items())), str(seed.device))
        values = [float(v) for v in seed.detach().reshape(-1).tolist()]
        with self.lock:
            rows = [self._take(base + (v,)) for v in values]
        missing = sorted({v for v, row in zip(values, rows) if row is None})
        if missing:
            fresh = fn(torch.tensor(missing, dtype=seed.dtype, device=seed.device), res, **args)
            made = {v: fresh[i:i + 1].clone() if len(missing) > 1 else fresh for i, v in enumerate(missing)}
            with self.lock:
                for v, row in made.items():
                    self._put(base + (v,), row)
            rows = [made[v] if row is None else row for v, row in zip(values, rows)]
        return rows[0] if len(rows) == 1 else torch.cat(rows)

    def _take(self, key: tuple) -> torch.Tensor | None:
        row = self.entries.get(key)
        if row is not None:
            self.entries.move_to_end(key)
        return row

    def _put(self, key: tuple, row: torch.Tensor) -> None:
        size = row.numel() * row.element_size()
        if size > self.max_bytes or key in self.entries:
            return
        self.entries[key] = row
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()


FIELDS = FieldCache()


def streak(x: torch.Tensor, length: float, vertical: torch.Tensor | bool) -> torch.Tensor:
    """Tileable box blur along one axis (x, or y where ``vertical``): fibres out of noise.

    ``length`` is the box length as a fraction of the width (fixed per graph, not a parameter);
    ``vertical`` a bool or a ``(B,)`` bool tensor choosing the axis per sample.
    """
    k = max(1, int(round(length * x.shape[-1])) // 2)
    along_x = _box_x(x, k)
    along_y = _box_x(x.transpose(-1, -2), k).transpose(-1, -2)
    if isinstance(vertical, bool):
        return along_y if vertical else along_x
    return torch.where(col(vertical), along_y, along_x)


def _box_x(x: torch.Tensor, k: int) -> torch.Tensor:
    # mean over 2k+1 wrapped neighbours along x, via a cumulative sum (cost independent of k)
    w = x.shape[-1]
    pad = torch.cat([x[..., w - k - 1:], x, x[..., :k]], dim=-1).cumsum(-1)
    return (pad[..., 2 * k + 1:] - pad[..., :w]) / (2 * k + 1)


def retune(spec: ParamSpec, changes: Mapping[str, Mapping[str, Any]]) -> ParamSpec:
    """Copy of ``spec`` with some params' fields replaced (e.g. a graph's own artist prior for a
    slot parameter: a fabric wants 40 threads where generic stripes want 8)."""
    unknown = [n for n in changes if n not in spec]
    if unknown:
        raise KeyError(f"retune: {unknown} not in the spec")
    return ParamSpec(replace(p, **changes[p.name]) if p.name in changes else p for p in spec)


class RetunedGraph(MaterialGraph):
    """A graph whose ``slot_priors`` (``{"slot.param": {field: value}}``) replace fields of its
    generator parameters (prior, weights, default) in ``self.spec``; the generators' own specs,
    which proxies are tied to, are untouched."""

    slot_priors: dict[str, dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.spec = retune(self.spec, self.slot_priors)
