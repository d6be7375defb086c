"""Material graphs: generators wired into differentiable filters -> material maps.

A graph declares which generator feeds each of its slots and its own filter parameters
(theta_f); its full spec is the generator specs (prefixed with the slot name, role
``"generator"``: theta_g) followed by the filter parameters (role ``"filter"``).

Maps (all ``(B, C, H, W)`` float32 in [0, 1], tileable):

* ``basecolor`` C=3, sRGB-encoded (as a texture file stores it);
* ``normal``    C=3, tangent-space, OpenGL convention (+Y up), encoded ``n * 0.5 + 0.5``;
* ``roughness`` C=1, ``metallic`` C=1, ``height`` C=1 (linear data).

Any generator slot can be swapped for another callable with the generator signature
``(params, res) -> (B, 1, res, res)`` (a proxy plugs in there) through ``maps(generators=...)``.
Adding a graph = one module defining a :class:`MaterialGraph` subclass + one registry line.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..generators import get_generator
from ..params import Batch, Param, ParamSpec
from ..registry import Registry

MAP_NAMES = ("basecolor", "normal", "roughness", "metallic", "height")
# a fitted roughness this many of its prior's standard deviations from the prior's mean is
# reported to the user (:meth:`MaterialGraph.unusual_params`)
UNUSUAL_SD = 4.0
PatternFn = Callable[[Batch, int], torch.Tensor]


class MaterialGraph:
    """Base class. Subclasses set ``name``, ``description``, ``slots`` and ``filter_params`` and
    implement :meth:`compose`."""

    name: str = ""
    description: str = ""
    slots: dict[str, str] = {}  # slot name -> generator name
    filter_params: tuple[Param, ...] = ()

    def __init__(self) -> None:
        spec = ParamSpec([])
        for slot, gen in self.slots.items():
            spec = spec + get_generator(gen).spec.prefixed(slot, role="generator")
        self.spec: ParamSpec = spec + ParamSpec(self.filter_params)

    @property
    def generator_spec(self) -> ParamSpec:
        return self.spec.subset("generator")

    @property
    def filter_spec(self) -> ParamSpec:
        return self.spec.subset("filter")

    def slot_params(self, params: Batch, slot: str) -> Batch:
        pre = slot + "."
        return {k[len(pre):]: v for k, v in params.items() if k.startswith(pre)}

    def patterns(self, params: Batch, res: int,
                 generators: Mapping[str, PatternFn] | None = None) -> dict[str, torch.Tensor]:
        """Evaluate every slot (real generator unless swapped) at ``res``."""
        generators = generators or {}
        out = {}
        for slot, gen in self.slots.items():
            fn = generators.get(slot) or get_generator(gen)
            out[slot] = fn(self.slot_params(params, slot), res)
        return out

    def maps(self, params: Batch, res: int,
             generators: Mapping[str, PatternFn] | None = None,
             patterns: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Parameters (natural units, batch dict) -> material maps at ``res``.

        ``patterns`` lets a caller pass precomputed slot outputs (e.g. to reuse them while only
        filter parameters change).
        """
        if not (isinstance(res, int) and 8 <= res <= 16384):
            raise ValueError(f"resolution must be a whole number of pixels in [8, 16384], got {res!r}")
        pats = dict(patterns) if patterns is not None else self.patterns(params, res, generators)
        maps = self.compose(params, pats, res)
        missing = [m for m in MAP_NAMES if m not in maps]
        if missing:
            raise RuntimeError(f"graph {self.name} did not produce {missing}")
        return maps

    def compose(self, p: Batch, patterns: dict[str, torch.Tensor], res: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # the count parameter that sets each of :meth:`layout_counts`' counts, the others held:
    # the fit keeps it near the count measured on the photo (``layout.layout_windows``);
    # empty where no single parameter does (paving: arcs x stones)
    layout_params: Mapping[str, str] = {}
    # the parameter that shifts every other course along its length, in units (a brick or tile
    # ``offset``: 0 stack bond, 0.5 half bond): the fit keeps it near the bond measured on the
    # photo (``layout.layout_windows``); None where the graph has none
    bond_param: str | None = None
    # (unit colour, joint colour): the prefixes of two ``color_params`` triples, the colour of
    # the bricks/tiles/stones and of the joints between them; the fit swaps them when it has
    # them the wrong way round (``optimize.exchange``); None for a graph without joints
    joint_colors: tuple[str, str] | None = None
    # the parameter that sets the width of those joints (a brick's mortar, a tile's gap; larger
    # is wider): where the fit closed joints that the photo shows, step "exchange" tries them
    # open again (``optimize.exchange``); None where no single parameter does
    joint_width: str | None = None
    # generator parameters that shape the units' edges in the height alone (a brick's bevel:
    # how far its rounded arris reaches in), which a flash photo hardly sees while the relief is
    # shallow: step "relief" takes them from the prior as well, right after the normal strength
    # (``optimize.relief``).
    # Empty where the photo sees the bevel itself: ceramic tiles' colour darkens over their
    # chamfer and their glaze's highlight draws it (the Blender-made large floor tiles' flat
    # fit: 0.032 -> 0.042 style from bevel 0.025 to 0.06; docs/BENCHMARKS.md, "Session 48")
    relief_shape_params: tuple[str, ...] = ()
    # the parameter that varies the units' lengths along a course (a brick's head-joint jitter),
    # and how regular that leaves the prior's renders: ``(value, median comb score)`` pairs,
    # value rising, the comb score being ``layout.measure_layout``'s ``per_row_confidence``,
    # measured by ``layout.regularity_curve``. The fit keeps it as regular as the photo reads
    # (``layout.layout_windows``); None / () where no single parameter does
    jitter_param: str | None = None
    jitter_regularity: tuple[tuple[float, float], ...] = ()

    def layout_counts(self, params: Mapping[str, float]) -> dict[str, float]:
        """The units a person counts in the frame, from JSON parameters: ``{"rows": courses top
        to bottom, "per_row": units along one course}``; ``{}`` for a graph without units
        (wood, fabric, metal...). Used by :mod:`diffproxy.judge` and, through
        :attr:`layout_params`, by the fit's count windows. By default each count is its
        :attr:`layout_params` parameter's value; a graph whose counts differ from its
        parameters (odd brick courses round up) says so by overriding this."""
        return {count: float(params[name]) for count, name in self.layout_params.items()}

    @property
    def relief_params(self) -> tuple[str, ...]:
        """The continuous filter parameters that set the relief: ``normal.intensity`` and every
        ``height.*`` (the naming every graph follows). Step "relief" (:mod:`diffproxy.optimize.relief`)
        takes what the photo cannot tell of them from their prior."""
        return tuple(p.name for p in self.spec if p.role == "filter" and not p.discrete
                     and (p.name == "normal.intensity" or p.name.startswith("height.")))

    def unusual_params(self, params: Mapping[str, float], limit: float = UNUSUAL_SD) -> list[dict]:
        """The fitted roughness parameters far from what this material usually has: more than
        ``limit`` standard deviations of their artist prior from its mean, as ``[{"param",
        "value", "usual": prior mean, "sd", "limit"}]``, the farthest first (the add-on marks a
        slider while it stays over ``limit`` x ``sd`` from ``usual``). Why roughness: a single
        flash photo of unknown exposure hardly tells it, and the look fits lower prefers light
        joints glossy (mortar and grout at 0.3-0.4 where the prior and every real mortar say 0.9:
        docs/BENCHMARKS.md, "Session 49"); the user is told to check those sliders instead of
        finding out under a scene's lights. Colours, counts and relief are not judged here (a
        photo legitimately moves them far; step "relief" takes the relief from the prior)."""
        out = []
        for p in self.spec:
            if not p.name.startswith("roughness.") or p.prior is None or p.name not in params:
                continue
            mean, sd = (float(v) for v in p.prior)
            value = float(params[p.name])
            if abs(value - mean) > limit * max(sd, 1e-9):
                out.append({"param": p.name, "value": round(value, 4), "usual": mean, "sd": sd, "limit": limit})
        return sorted(out, key=lambda u: -abs(u["value"] - u["usual"]) / max(u["sd"], 1e-9))

    def describe(self) -> dict:
        return {"name": self.name, "description": self.description,
                "slots": dict(self.slots), "params": self.spec.describe(),
                "spec_hash": self.spec.hash()}


# Adding a graph: one module with a MaterialGraph subclass, and one line here.
GRAPHS = Registry(__name__, "graph", {
    "bricks": "bricks:Bricks",
    "paving": "paving:Paving",
    "ceramic_tiles": "ceramic_tiles:CeramicTiles",
    "wood": "wood:Wood",
    "fabric": "fabric:Fabric",
    "metal": "metal:ScratchedMetal",
    "leather": "leather:Leather",
    "stone": "stone:Stone",
    "brushed_metal": "brushed_metal:BrushedMetal",
    "perforated_metal": "perforated_metal:PerforatedMetal",
    "marble": "marble:Marble",
    "wood_planks": "wood_planks:WoodPlanks",
    "aggregate": "aggregate:Aggregate",
    "plaster": "plaster:Plaster",
    "carpet": "carpet:Carpet",
    "mosaic": "mosaic:Mosaic",
    "hexagonal_tiles": "hexagonal_tiles:HexagonalTiles",
    "parquet": "parquet:Parquet",
    "knit": "knit:Knit",
    "diamond_plate": "diamond_plate:DiamondPlate",
}, hint=" (list them with `diffproxy graphs`)")


def get_graph(name: str) -> MaterialGraph:
    return GRAPHS[name]
