"""Parameter specs: the one source of truth for every procedural parameter.

A :class:`Param` declares a parameter once (name, kind, range, default, artist prior, group,
description). Everything else derives from it: normalisation to [0, 1] and back, clamping,
rounding of discrete values, samplers, JSON (de)serialisation with validation, the add-on's
slider UI data, and the spec hash that proxy checkpoints are tied to.

Conventions
-----------
* Batched values travel as ``dict[str, Tensor]`` with one tensor of shape ``(B,)`` per parameter
  ("a parameter batch"). Discrete kinds (int, bool, choice) hold whole numbers stored as floats so
  a proxy can see them as continuous; :meth:`ParamSpec.round` snaps them.
* A choice is stored as its index into ``choices``; JSON files hold the choice's name.
* Normalised values live in [0, 1]: ``(v - low) / (high - low)``; bool -> {0, 1}; choice with n
  options -> index / (n - 1).
* The artist prior (paper, Sec. 4) says where artists actually work: ``prior=(mean, std)`` is a
  normal distribution in natural units, truncated to [low, high] by resampling; ``weights=[...]``
  is an explicit distribution over the discrete values ``low..high`` (int) or the choices;
  ``prior=None`` means uniform over the range.
"""

from __future__ import annotations

import hashlib
import json
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch

KINDS = ("float", "int", "bool", "choice")
PERIOD_AXES = ("", "x", "y", "xy")  # Param.period: which axes a count sets the period of
Batch = dict[str, torch.Tensor]


class ParamError(ValueError):
    """A parameter file or value the user can fix (message says what and how)."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 2, 60, 60, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks the cut), for error messages:
    a value from a file can be a 2-million-element array or nested 100 000 deep, and quoting it
    whole would put megabytes in a one-line message (or overflow the stack)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        # its digits say nothing a reader can use (and past 4300 of them repr() refuses)
        return f"about {'-' if value < 0 else ''}10^{int(value.bit_length() * math.log10(2))}"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError, MemoryError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class Param:
    """One procedural parameter.

    Args:
        name: unique within its spec; dotted names group (``"mortar.width"``).
        kind: ``"float" | "int" | "bool" | "choice"``.
        default: in natural units (choice: the choice's name).
        low, high: inclusive range (ignored for bool/choice, derived).
        prior: ``(mean, std)`` of the artist prior in natural units, or ``None`` (uniform).
        weights: explicit prior over discrete values (int: ``low..high``; choice: ``choices``).
        choices: option names for ``kind="choice"``.
        group: UI group ("Pattern", "Color", ...).
        description: one line, shown as the slider tooltip.
        role: ``"generator"`` (theta_g, reached through proxies) or ``"filter"`` (theta_f).
        soft: optional ``(soft_min, soft_max)`` for the slider.
        unit: optional Blender slider subtype hint (``"FACTOR"``, ``"ANGLE"``, ``"COLOR"``...).
        periodic: float only: ``low`` and ``high`` are the same value (a hue); optimisers wrap
            it around instead of clamping it at the ends of its range.
        seed: int only: a random seed, whose values have no order (neighbouring seeds give
            unrelated layouts); the optimiser tries every value instead of stepping.
        period: int only: the texture holds this many periods of its layout along ``"x"``
            (across), ``"y"`` (down) or ``"xy"`` (both: the count scales the whole pattern);
            ``""`` for a count that does not set a period (scratches, stones along an arc). A
            zoom of the pattern along that axis is then its in-between at a fractional count:
            what the proxies train on (``proxies.train.fractional_batch``).
    """

    name: str
    kind: str = "float"
    default: Any = 0.0
    low: float = 0.0
    high: float = 1.0
    prior: tuple[float, float] | None = None
    weights: tuple[float, ...] | None = None
    choices: tuple[str, ...] | None = None
    group: str = "General"
    description: str = ""
    role: str = "filter"
    soft: tuple[float, float] | None = None
    unit: str = ""
    periodic: bool = False
    seed: bool = False
    period: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.role not in ("generator", "filter"):
            raise ValueError(f"Param {self.name!r}: role must be 'generator' or 'filter'")
        if self.periodic and self.kind != "float":
            raise ValueError(f"Param {self.name!r}: only a float parameter can be periodic")
        if self.seed and self.kind != "int":
            raise ValueError(f"Param {self.name!r}: only an int parameter can be a seed")
        if self.period not in PERIOD_AXES:
            raise ValueError(f"Param {self.name!r}: period must be one of {PERIOD_AXES}, got {self.period!r}")
        if self.period and (self.kind != "int" or self.seed):
            raise ValueError(f"Param {self.name!r}: only an int count (not a seed) can set a period")
        if self.kind == "bool":
            object.__setattr__(self, "low", 0.0)
            object.__setattr__(self, "high", 1.0)
        if self.kind == "choice":
            if not self.choices or len(self.choices) < 2:
                raise ValueError(f"Param {self.name!r}: a choice needs at least two choices")
            object.__setattr__(self, "low", 0.0)
            object.__setattr__(self, "high", float(len(self.choices) - 1))
        if not self.high > self.low:
            raise ValueError(f"Param {self.name!r}: high ({self.high}) must exceed low ({self.low})")
        if self.weights is not None and len(self.weights) != self.n_values:
            raise ValueError(f"Param {self.name!r}: weights need {self.n_values} entries")
        d = self.to_value(self.default)
        if not self.low <= d <= self.high:
            raise ValueError(f"Param {self.name!r}: default {self.default!r} outside [{self.low}, {self.high}]")

    @property
    def discrete(self) -> bool:
        return self.kind != "float"

    @property
    def n_values(self) -> int:
        return int(round(self.high - self.low)) + 1 if self.discrete else 0

    @property
    def allowed_levels(self) -> list[int]:
        """Indices ``k`` (value ``low + k``) of the values the prior can draw: all of a discrete
        parameter's, less those its ``weights`` give 0 (brick courses go 2 at a time)."""
        return [k for k in range(self.n_values) if self.weights is None or self.weights[k] > 0]

    def prior_weights(self) -> torch.Tensor:
        """Unnormalised prior weight of each value ``low + k`` of a discrete parameter (float64,
        ``n_values`` long): its ``weights``, else its normal ``prior`` at each value, else 1.
        What :meth:`ParamSpec.sample` draws from with ``prior=True``."""
        if not self.discrete:
            raise ValueError(f"Param {self.name!r}: prior weights are for discrete parameters")
        if self.weights is not None:
            return torch.tensor(self.weights, dtype=torch.float64)
        if self.prior is not None:
            vals = self.low + torch.arange(self.n_values, dtype=torch.float64)
            return torch.exp(-0.5 * ((vals - self.prior[0]) / max(self.prior[1], 1e-6)) ** 2)
        return torch.ones(self.n_values, dtype=torch.float64)

    @property
    def default_value(self) -> float:
        return self.to_value(self.default)

    # --- natural value <-> JSON -------------------------------------------------------------
    def to_value(self, v: Any) -> float:
        """JSON/natural value -> float stored in a batch (choice name -> index)."""
        if self.kind == "choice":
            if isinstance(v, str):
                if v not in self.choices:  # type: ignore[operator]
                    raise ParamError(f"{self.name}: {v!r} is not one of {list(self.choices or ())}")
                return float(self.choices.index(v))  # type: ignore[union-attr]
            return float(v)
        if self.kind == "bool":
            return 1.0 if bool(v) else 0.0
        return float(v)

    def to_json(self, v: float) -> Any:
        if self.kind == "choice":
            return self.choices[int(round(v))]  # type: ignore[index]
        if self.kind == "bool":
            return bool(round(v))
        if self.kind == "int":
            return int(round(v))
        # batches are float32: 7 significant digits keep files readable and round-trip exactly
        return float(f"{float(v):.7g}")

    def describe(self) -> dict[str, Any]:
        """Plain-JSON description (what the add-on turns into a slider)."""
        d = {"name": self.name, "kind": self.kind, "default": self.default, "min": self.low,
             "max": self.high, "group": self.group, "description": self.description,
             "role": self.role}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.soft:
            d["soft_min"], d["soft_max"] = self.soft
        if self.unit:
            d["unit"] = self.unit
        return d


class ParamSpec:
    """An ordered, named collection of :class:`Param` with everything derived from it."""

    def __init__(self, params: Iterable[Param]):
        self.params: list[Param] = list(params)
        self.by_name: dict[str, Param] = {}
        for p in self.params:
            if p.name in self.by_name:
                raise ValueError(f"duplicate parameter name {p.name!r}")
            self.by_name[p.name] = p
        self._low = torch.tensor([p.low for p in self.params], dtype=torch.float64)
        self._high = torch.tensor([p.high for p in self.params], dtype=torch.float64)

    # --- basics -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Param:
        return self.by_name[name]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def subset(self, role: str) -> "ParamSpec":
        return ParamSpec(p for p in self.params if p.role == role)

    def prefixed(self, prefix: str, **overrides: Any) -> "ParamSpec":
        """Copy with every name prefixed (``prefix + "." + name``); overrides apply to all."""
        from dataclasses import replace
        return ParamSpec(replace(p, name=f"{prefix}.{p.name}", **overrides) for p in self.params)

    def __add__(self, other: "ParamSpec") -> "ParamSpec":
        return ParamSpec(self.params + other.params)

    def hash(self) -> str:
        """Stable hash of names, kinds, ranges, defaults and priors (ties proxies to a spec)."""
        blob = json.dumps([[p.name, p.kind, p.low, p.high, p.default, p.prior, p.weights, p.choices]
                           for p in self.params], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # --- batches ------------------------------------------------------------------------------
    def defaults(self, batch: int = 1, device: Any = None, dtype=torch.float32) -> Batch:
        return {p.name: torch.full((batch,), p.default_value, device=device, dtype=dtype)
                for p in self.params}

    def stack(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Batch dict -> ``(B, P)`` tensor in spec order."""
        return torch.stack([values[n] for n in self.names], dim=-1)

    def unstack(self, x: torch.Tensor) -> Batch:
        """``(B, P)`` tensor -> batch dict."""
        return {n: x[..., i] for i, n in enumerate(self.names)}

    def normalize(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Batch dict (natural units) -> ``(B, P)`` in [0, 1] (differentiable)."""
        x = self.stack(values)
        low, high = self._low.to(x), self._high.to(x)
        return (x - low) / (high - low)

    def denormalize(self, u: torch.Tensor) -> Batch:
        """``(B, P)`` in [0, 1] -> batch dict in natural units (differentiable, not rounded)."""
        low, high = self._low.to(u), self._high.to(u)
        return self.unstack(low + u * (high - low))

    def clamp(self, values: Mapping[str, torch.Tensor]) -> Batch:
        return {n: values[n].clamp(self.by_name[n].low, self.by_name[n].high) for n in self.names}

    def round(self, values: Mapping[str, torch.Tensor]) -> Batch:
        """Clamp, then snap discrete kinds to whole values (floats untouched)."""
        out = self.clamp(values)
        for p in self.params:
            if p.discrete:
                out[p.name] = torch.round(out[p.name])
        return out

    def sample(self, n: int, generator: torch.Generator | None = None, prior: bool = True,
               device: Any = None) -> Batch:
        """Draw ``n`` parameter sets from the artist prior (or uniformly with ``prior=False``).

        Sampling happens on CPU with ``generator`` (reproducible), then moves to ``device``.
        """
        out: Batch = {}
        for p in self.params:
            out[p.name] = _sample_one(p, n, generator, prior).to(device)
        return out

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self, values: Mapping[str, torch.Tensor], index: int = 0) -> dict[str, Any]:
        """One parameter set of a batch -> ``{name: JSON value}``."""
        return {p.name: p.to_json(float(values[p.name].reshape(-1)[index])) for p in self.params}

    def from_json(self, data: Mapping[str, Any], strict: bool = True, device: Any = None) -> Batch:
        """``{name: value}`` -> batch of one. Missing names take defaults.

        Raises :class:`ParamError` listing every unknown name and every out-of-range or
        mistyped value, so a user can fix the file in one go; values and names are quoted
        shortened. Any value JSON can hold (10^400, inf, NaN, deep nesting) gives a ParamError,
        never an OverflowError or TypeError: the server answers it as a bad request.
        """
        if not isinstance(data, Mapping):
            raise ParamError(f"parameters must be a JSON object {{name: value}}, got {type(data).__name__}")
        problems: list[str] = []
        unknown = [k for k in data if k not in self.by_name]
        if unknown and strict:
            names = ", ".join(short_repr(k, 40) for k in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            problems.append(f"unknown parameter(s) [{names}]{more}; known: {self.names}")
        out: Batch = {}
        for p in self.params:
            raw = data.get(p.name, p.default)
            try:
                v = _check_json_value(p, raw)
            except ParamError as e:
                problems.append(str(e))
                continue
            out[p.name] = torch.tensor([v], dtype=torch.float32, device=device)
        if problems:
            raise ParamError("invalid parameters:\n  - " + "\n  - ".join(problems))
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [p.describe() for p in self.params]


def _check_json_value(p: Param, raw: Any) -> float:
    """A JSON value -> the float a batch stores, or a ParamError naming the parameter, what it
    takes and the (shortened) value."""
    got = short_repr(raw)
    if p.kind == "bool":
        if not isinstance(raw, (bool, int)) or (isinstance(raw, int) and raw not in (0, 1)):
            raise ParamError(f"{p.name}: expected true/false, got {got}")
        return float(bool(raw))
    if p.kind == "choice":
        if isinstance(raw, str):
            if raw not in (p.choices or ()):
                raise ParamError(f"{p.name}: {got} is not one of {list(p.choices or ())}")
            return p.to_value(raw)
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < p.n_values:
            return float(raw)
        raise ParamError(f"{p.name}: expected one of {list(p.choices or ())}, got {got}")
    expected = f"a {'whole ' if p.kind == 'int' else ''}number in [{p.low:g}, {p.high:g}]"
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ParamError(f"{p.name}: expected {expected}, got {got}")
    try:
        v = float(raw)
    except OverflowError:  # an int past float's range (JSON 10^400): out of range, not a crash
        v = math.inf if raw > 0 else -math.inf
    if math.isnan(v) or (math.isinf(v) and isinstance(raw, float)):
        raise ParamError(f"{p.name}: expected {expected}, got {got} (not a finite number)")
    if not p.low <= v <= p.high:
        raise ParamError(f"{p.name}: {got} is outside [{p.low:g}, {p.high:g}]")
    if p.kind == "int" and v != round(v):
        raise ParamError(f"{p.name}: expected {expected}, got {got}")
    return v


def _sample_one(p: Param, n: int, gen: torch.Generator | None, prior: bool) -> torch.Tensor:
    if p.discrete:
        w = p.prior_weights() if prior else torch.ones(p.n_values, dtype=torch.float64)
        idx = torch.multinomial(w / w.sum(), n, replacement=True, generator=gen)
        return (p.low + idx.to(torch.float64)).float()
    if prior and p.prior is not None:
        mean, std = p.prior
        out = torch.empty(n, dtype=torch.float64)
        todo = torch.ones(n, dtype=torch.bool)
        for _ in range(64):  # truncated normal by resampling
            m = int(todo.sum())
            if m == 0:
                break
            draw = mean + std * torch.randn(m, generator=gen, dtype=torch.float64)
            out[todo] = draw
            ok = (out >= p.low) & (out <= p.high)
            todo = ~ok
        out[todo] = out[todo].clamp(p.low, p.high)
        return out.float()
    return (p.low + (p.high - p.low) * torch.rand(n, generator=gen, dtype=torch.float64)).float()


def float_param(name: str, default: float, low: float, high: float, prior=None, **kw) -> Param:
    return Param(name, "float", default, low, high, prior=prior, **kw)


def int_param(name: str, default: int, low: int, high: int, prior=None, weights=None, **kw) -> Param:
    return Param(name, "int", default, low, high, prior=prior, weights=weights, **kw)


def bool_param(name: str, default: bool, weights=None, **kw) -> Param:
    return Param(name, "bool", default, weights=weights, **kw)


def choice_param(name: str, default: str, choices: Sequence[str], weights=None, **kw) -> Param:
    return Param(name, "choice", default, choices=tuple(choices), weights=weights, **kw)
