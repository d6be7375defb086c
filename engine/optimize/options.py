"""Options of a proceduralize run and the speed/quality presets.

A :class:`Preset` is the budget of a run: resolutions, the graph ranking, and one budget per step
of the plan (``steps.STEPS``; ``None``: the step is off in that preset). The four presets:

* ``fast``: <= 30 s for a 512 px photo on a 2-core CPU: 96 px renders, losses at 96/48, one
  graph, Stage III in one part, no scan and no polish.
* ``balanced``: <= 120 s on the same CPU: 128 px renders, losses at 128/64, up to 2 graphs,
  or one graph from two random streams (:meth:`Preset.restarts_for`); Stage III with Stage I's
  result alongside, the polish halfway, its second half at twice the fit's resolution.
* ``full``: ``balanced``'s schedule from four independent random streams per graph (the best
  look kept, so never worse than ``balanced``), up to 3 graphs (fewer graphs: more streams
  each, 12 fits in all); MATch gets the paper's 1000 steps.
* ``paper``: the paper's budget (Sec. 3.3; ``full`` until session 20), for comparison.

Shorter schedules use larger rates (0.002 moves a normalised parameter by at most 0.002 a step)
and halve Stage II's rate more often, so each preset covers the same ground in fewer steps.
Every number's measurement, dated: docs/BENCHMARKS.md, "Presets: the measurements behind the
numbers".
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from .steps import (OPTIONAL, STEP_NAMES, Detail, Exchange, LocalSearch, Polish, RandomSearch, Relief, Scan, Seeds,
                    Recolour, Stage1, Stage2, Stage3a, Stage3b, check_plan, plan)

METHODS = ("diffproxy", "match", "search")
# How Stage II uses the proxies (see paper.stage2): "anchored" (default) forward pass with the
# real generators, backward pass through the proxies; "paper" the proxies' own patterns in both
# passes (Hu et al. 2022); "off" no proxies (Stage II tunes filters only: an ablation).
PROXY_MODES = ("anchored", "paper", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Options.batch: the restarts' descents as one batch ("auto": on a GPU; optimize.batching)
BATCH_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Preset:
    """Budget of one run: the fit's resolutions, the ranking, and a budget per step (``steps``,
    in ``steps.STEPS``' order, ``None``: off; make it with ``steps.plan``)."""

    name: str
    res: int  # optimisation render resolution (px)
    scales: tuple[int, ...]  # loss scales (px)
    rank_samples: int  # prior samples per graph for the graph ranking / start point
    rank_res: int
    top_k: int  # graphs optimised when graph="auto"
    filter_samples: int  # the filter search before every filter descent (Stage I, III, MATch)
    search_res: int  # the searches' renders (filter search, random search)
    search_seconds: float  # method="search": wall time when Options.time_limit is None
    steps: dict[str, Any]
    # method="match": Adam steps of MATch's filter fitting; 0: Stage I + II + III's steps. Set
    # apart so that a shorter Stage II does not shorten the baseline
    match_steps: int = 0
    supersample: int = 1  # maps and renders made this many times larger, then averaged down (Fit.render)
    # method "diffproxy": each graph optimised at least this many times from independent random
    # streams (the first the run's own, so 1 is the run it always was), the lowest look kept
    # (result.best_restart; not in the paper); more where fewer than top_k graphs are fitted
    # (restarts_for)
    restarts: int = 1

    def __post_init__(self) -> None:
        check_plan(self.steps)

    def restarts_for(self, graphs: int, top_k: int | None = None) -> int:
        """Restarts of each graph when ``graphs`` graphs are optimised (method "diffproxy"): the
        preset's fits, ``top_k`` (default the preset's) graphs x :attr:`restarts`, shared among
        them, at least :attr:`restarts`. So ``balanced`` fits the two likeliest graphs once each,
        or the one graph the classifier is sure of (or the one asked for) twice, the lower look
        kept: the same budget, spent where it helps. Why: another random stream is the surest use
        of a fit's time (best of 2 restarts: 16 synthetic targets' balanced style 0.0164 ->
        0.0125, session 20), and a second graph with under half the first's probability is not
        worth a fit (``choose.keep_likely``); docs/BENCHMARKS.md, session 40."""
        if graphs < 1:
            raise ValueError(f"graphs must be >= 1, got {graphs}")
        return max(self.restarts, (top_k or self.top_k) * self.restarts // graphs)

    def budget(self, step: str) -> Any:
        """The budget of ``step``, ``None`` where this preset leaves it out."""
        return self.steps[step]

    def with_steps(self, **budgets: Any) -> "Preset":
        """This preset with some steps' budgets replaced (``None``: off)."""
        plan(**budgets)  # unknown names refused
        return dataclasses.replace(self, steps={**self.steps, **budgets})

    @property
    def match_budget(self) -> int:
        """MATch's Adam steps (``match_steps``, else the three stages' together)."""
        return self.match_steps or sum(self.steps[k].steps for k in ("stage1", "stage2", "stage3a", "stage3b")
                                       if self.steps[k] is not None)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    "fast": Preset("fast", res=96, scales=(96, 48), rank_samples=12, rank_res=64, top_k=1, filter_samples=32,
                   search_res=64, search_seconds=20.0, match_steps=160, supersample=2, steps=plan(
                       stage1=Stage1(25, 0.01), search=RandomSearch(48), stage2=Stage2(30, 0.02, halve_every=12),
                       local=LocalSearch(8), seeds=Seeds(), exchange=Exchange(25, 0.01), recolour=Recolour(25, 0.01),
                       stage3a=Stage3a(75, 0.01),
                       detail=Detail(50, 0.01, res=1024, refresh=25, sharp=True), relief=Relief(sharp=True))),
    "balanced": Preset("balanced", res=128, scales=(128, 64), rank_samples=24, rank_res=64, top_k=2,
                       filter_samples=64, search_res=96, search_seconds=60.0, match_steps=360, supersample=2,
                       steps=plan(
                           stage1=Stage1(60, 0.005), search=RandomSearch(128), stage2=Stage2(75, 0.02, halve_every=30),
                           scan=Scan(2), local=LocalSearch(16), seeds=Seeds(), exchange=Exchange(60, 0.005),
                           recolour=Recolour(60, 0.005), stage3a=Stage3a(125, 0.005, also_start=True), polish=Polish(8),
                           stage3b=Stage3b(125, sharp=True), detail=Detail(100, 0.005, res=1024, refresh=25),
                           relief=Relief())),
}
PRESETS["full"] = dataclasses.replace(PRESETS["balanced"], name="full", top_k=3, restarts=4,
                                      search_seconds=240.0, match_steps=1000)
PRESETS["paper"] = Preset("paper", res=256, scales=(256, 128, 64), rank_samples=48, rank_res=96, top_k=3,
                          filter_samples=128, search_res=128, search_seconds=600.0, match_steps=1000, supersample=2,
                          steps=plan(
                              stage1=Stage1(200, 0.002), search=RandomSearch(500),
                              stage2=Stage2(600, 0.02, halve_every=200), scan=Scan(2), local=LocalSearch(40),
                              seeds=Seeds(), exchange=Exchange(100, 0.005), recolour=Recolour(200, 0.002),
                              stage3a=Stage3a(125, 0.005, also_start=True), polish=Polish(8),
                              stage3b=Stage3b(125), detail=Detail(200, 0.005, res=2048, refresh=50),
                              relief=Relief(res=2048)))

# the switches of five steps before the plan had names: still accepted (old requests, scripts)
LEGACY_SWITCHES = {"local_search": "local", "scan": "scan", "seed_search": "seeds", "polish": "polish",
                   "detail": "detail"}


@dataclass
class Options:
    """What to run (the add-on's server builds this from its request's ``options`` object).

    Args:
        graph: ``"auto"`` (rank every graph, optimise the best ``top_k``) or a graph name.
        preset: a name in :data:`PRESETS` or a :class:`Preset`; held as the Preset itself (a
            worker process gets the budget, not a name to look up).
        method: ``"diffproxy"`` (the plan of ``steps``), ``"match"`` (MATch baseline: filters
            only, generators fixed at the start point), ``"search"`` (gradient-free: random
            search then a (1+lambda)-ES over every parameter, for ``time_limit`` seconds).
        device: ``"auto" | "cpu" | "cuda" | "mps"``.
        res_out: side of the written maps (px), 64..8192.
        seed: seeds every random choice (same seed, inputs, device and ``threads`` -> the same
            result to the last bit; on a CPU with more than one thread this rests on
            ``MKL_CBWR``, which ``diffproxy`` sets at import).
        descriptor: ``"auto"`` (VGG19 if its weights are on this machine, else the seeded random
            CNN), ``"vgg19"`` or ``"random"``.
        allow_download: let ``descriptor`` download VGG19's weights (never by default).
        vgg19_path: explicit VGG19 weight file (else ``$DIFFPROXY_VGG19``, else the hub cache).
        time_limit: wall time (s) of ``method="search"``; ``None``: the preset's.
        top_k: graphs optimised when ``graph="auto"``: exactly that many; ``None``: up to the
            preset's, leaving out those the classifier finds less than half as likely as its
            first choice, and one more when its first choice is under 0.5 (``choose.keep_likely``).
        classifier: order the graph ranking by the graph classifier's probabilities (falls back
            to the descriptor score, with a message, without usable weights).
        estimator: start from the parameter estimator's guess where it scores lower, and try it
            in the random search (``searches.estimate_start``).
        count_window: with ``estimator``: the guess's counts bound the structure searches
            (``estimator.count_windows``) where the photo's own layout does not; ``False``: not
            the guess's.
        layout: the courses and units per course measured on the photo (``layout.measure_layout``)
            set the start's counts and bound the structure searches (``searches.layout_start``);
            counts without a clear period on the photo are left to the estimator's window.
        proxy_mode: how Stage II uses the proxies, one of :data:`PROXY_MODES`.
        proxy_weights: a folder of ``<generator>.safetensors`` proxies (``proxy-train
            --export``) that Stage II uses instead of the shipped ones; a generator without a
            file there has no proxy in the run (reported). ``None``: the shipped proxies.
        disabled: steps left out of the plan (names in ``steps.OPTIONAL``; a JSON list is
            accepted); the paper's stages cannot be.
        local_search, scan, seed_search, polish, detail: the old switches; ``False`` adds the
            step (``local``, ``scan``, ``seeds``, ``polish``, ``detail``) to ``disabled``, then
            reads ``True`` again (``disabled`` is the one record).
        threads: torch CPU threads during the run (restored afterwards); 0 = auto
            (``device.auto_threads``: 1 on a 2-core CPU, where more mostly wait on each other).
        workers: processes that optimise the graphs (and their restarts) side by side on a CPU
            (``optimize.workers``); 0 = auto, 1 = one after another in this process. Either way
            the result is the same. GPUs use one process.
        batch: ``"auto"`` (on a GPU), ``"on"`` or ``"off"``: the graphs and restarts of the run
            in threads of this process, the descents of a graph's restarts run as one batch
            (``optimize.batching``; same result as one after another, up to a batched
            convolution's last bits). ``"on"`` on a CPU replaces the worker processes.
        exif_orientation: turn the photo upright by its EXIF orientation tag, as image viewers
            show it (``photo.load_photo``). ``False``: the pixels as the file stores them, as
            Blender shows every image: the add-on sends ``False``, so that the material's
            pattern (a wood's grain, a wall's courses) runs the way the image does on the
            artist's UVs; a phone photo stored sideways is otherwise fitted turned by 90 degrees.
        straighten: turn a photo whose lines (joints, planks, threads) run a little off the
            frame's axes square to them, the largest square inside kept (``diffproxy.straighten``:
            2-10 degrees, where the lines stand out); ``False``: the photo as it is.
    """

    graph: str = "auto"
    preset: str | Preset = "balanced"
    method: str = "diffproxy"
    device: str = "auto"
    res_out: int = 2048
    seed: int = 0
    descriptor: str = "auto"
    allow_download: bool = False
    vgg19_path: str | None = None
    time_limit: float | None = None
    top_k: int | None = None
    classifier: bool = True
    estimator: bool = True
    count_window: bool = True
    layout: bool = True
    proxy_mode: str = "anchored"
    proxy_weights: str | None = None
    disabled: frozenset[str] = frozenset()
    local_search: bool = True
    scan: bool = True
    seed_search: bool = True
    polish: bool = True
    detail: bool = True
    threads: int = 0
    workers: int = 0
    batch: str = "auto"
    exif_orientation: bool = True
    straighten: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.graph, str) or not self.graph:
            raise ValueError(f"graph must be 'auto' or a graph name, got {self.graph!r}")
        if isinstance(self.preset, str) and self.preset in PRESETS:
            self.preset = PRESETS[self.preset]
        if not isinstance(self.preset, Preset):
            raise ValueError(f"preset must be one of {list(PRESETS)}, got {self.preset!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {list(DEVICES)}, got {self.device!r}")
        if isinstance(self.res_out, bool) or not isinstance(self.res_out, int) or not 64 <= self.res_out <= 8192:
            raise ValueError(f"res_out must be a whole number of pixels in [64, 8192], got {self.res_out!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.descriptor not in ("auto", "vgg19", "random"):
            raise ValueError(f"descriptor must be 'auto', 'vgg19' or 'random', got {self.descriptor!r}")
        if self.time_limit is not None and not (isinstance(self.time_limit, (int, float)) and self.time_limit > 0):
            raise ValueError(f"time_limit must be a positive number of seconds or None, got {self.time_limit!r}")
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")
        for name in ("classifier", "estimator", "count_window", "layout", *LEGACY_SWITCHES):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.proxy_mode not in PROXY_MODES:
            raise ValueError(f"proxy_mode must be one of {list(PROXY_MODES)}, got {self.proxy_mode!r}")
        if self.proxy_weights is not None and not (isinstance(self.proxy_weights, str)
                                                   and os.path.isdir(self.proxy_weights)):
            raise ValueError(f"proxy_weights: {self.proxy_weights!r} is not a folder; give the folder that "
                             "holds <generator>.safetensors (proxy-train --export), or leave it out for the "
                             "shipped proxies")
        if isinstance(self.disabled, str) or not isinstance(self.disabled, (list, tuple, set, frozenset)):
            raise ValueError(f"disabled must be a list of step names, got {self.disabled!r}")
        unknown = [s for s in self.disabled if s not in OPTIONAL]
        if unknown:
            raise ValueError(f"disabled: {unknown} cannot be left out; steps that can: {list(OPTIONAL)}")
        off = {step for name, step in LEGACY_SWITCHES.items() if not getattr(self, name)}
        self.disabled = frozenset(self.disabled) | off
        for name in LEGACY_SWITCHES:
            setattr(self, name, True)
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0, got {self.threads!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be an integer >= 0 (0: auto), got {self.workers!r}")
        if self.batch not in BATCH_MODES:
            raise ValueError(f"batch must be one of {list(BATCH_MODES)}, got {self.batch!r}")

    def budget(self, step: str) -> Any:
        """The budget of plan step ``step`` for this run: the preset's, ``None`` where the preset
        or ``disabled`` leaves it out."""
        return None if step in self.disabled else self.preset.budget(step)

    def as_dict(self) -> dict:
        """JSON-ready: the preset by name, the disabled steps in plan order, no old switches."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in LEGACY_SWITCHES}
        d["preset"] = self.preset.name
        d["disabled"] = [s for s in STEP_NAMES if s in self.disabled]
        return d
