"""One graph's DiffProxy run as a plan: :data:`STEPS`, in order, each a small function with its
own budget. A preset maps every step to a budget or ``None`` (off); ``Options.disabled`` turns
off any step that is not one of the paper's. The command line's ``--no-<step>`` flags, the
benchmark's ``diffproxy-no<step>`` ablations and the presets' validation come from this list:
adding a step means a budget class, a function and one line in :data:`STEPS`.

The plan, read top to bottom (the paper's three stages marked *)::

    start (the ranking's sample, its counts set to those measured on the photo, bounding the
           searches: ``searches.layout_start``; or the parameter estimator's guess:
           ``searches.estimate_start``)
    * stage1   filters only, style loss                          paper.stage1
      search   random search of the structure, grey features    searches.random_search
    * stage2   everything through the proxies                    paper.stage2
      scan     every value of one structure parameter at a time  searches.coordinate_scan
      local    one-value compass steps of the structure          searches.local_search
      seeds    every value of every random seed                  searches.seed_search
      exchange unit/joint colours swapped if the wrong way round    exchange.exchange
      recolour a colour still grey, again from the photo's hue     recolour.recolour
    * stage3a  filters on the rounded structure, style loss      paper.stage1 (+ Stage I's result alongside)
      polish   the structure searched again by the style loss    searches.polish
      stage3b  Stage III going on (optionally at twice the res)  paper.stage3b
    settle: Stage I's or III's result, whichever looks better
      detail   filters tuned to the look of export-size maps     detail.detail (every method; graph_run)
      relief   relief parameters towards the prior while the photo relief.relief (every method; graph_run)
               does not object

Stage III's parts are one record, ``stage3``, as they are one descent: IIIb goes on with IIIa's
Adam moments. With nothing between them (no polish, the same resolution) they are run as one
descent of both parts' steps, which is the same thing without the split.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch

from .control import Reporter, Span
from .descent import StageResult
from .exchange import exchange
from .fit import Fit
from .recolour import recolour
from .paper import snap, stage1, stage2, stage3b
from .searches import (coordinate_scan, estimate_start, layout_start, local_search, polish, random_search,
                       seed_search)

if TYPE_CHECKING:
    from .options import Options
    from .result import GraphRun


# --- budgets: one per step ---------------------------------------------------------------------
@dataclass(frozen=True)
class Stage1:
    steps: int
    lr: float  # the paper's 0.002; shorter schedules move further per step


@dataclass(frozen=True)
class Recolour:
    steps: int  # Stage I's descent from each grey colour set to the photo's hue, side by side
    lr: float


@dataclass(frozen=True)
class RandomSearch:
    samples: int  # prior samples of the generator parameters
    keep: int = 1  # the best few, Stage II's starts side by side


@dataclass(frozen=True)
class Stage2:
    steps: int
    lr: float
    halve_every: int


@dataclass(frozen=True)
class Scan:
    sweeps: int


@dataclass(frozen=True)
class LocalSearch:
    sweeps: int


@dataclass(frozen=True)
class Seeds:
    pass


@dataclass(frozen=True)
class Exchange:
    steps: int  # Stage I's descent of both points (as they are, colours swapped), side by side
    lr: float


@dataclass(frozen=True)
class Stage3a:
    steps: int
    lr: float  # IIIb goes on at this rate
    also_start: bool = False  # Stage I's result fine-tuned side by side, the better end kept
    sharp: bool = False  # on the fit at twice the resolution (Fit.sharper)


@dataclass(frozen=True)
class Polish:
    sweeps: int


@dataclass(frozen=True)
class Stage3b:
    steps: int
    sharp: bool = False


@dataclass(frozen=True)
class Detail:
    steps: int
    lr: float
    res: int = 1024  # maps of min(res, res_out) px
    refresh: int = 25  # steps between renders at that size
    # the look descended at twice the fit's resolution (Fit.sharper; graph_run.finish_graph), the
    # graphs still compared at the fit's: for a preset whose Stage III stays at the fit's
    sharp: bool = False


@dataclass(frozen=True)
class Relief:
    tolerance: float = 0.02  # the look may grow by this fraction (a new noise seed: 2-13 %)
    res: int = 1024  # judged on the look of maps of min(res, res_out) px
    bisections: int = 3  # per line (all together, then each alone): halvings after the whole way is refused
    refit: int = 25  # where the photo refused: Adam steps of the other filters with the relief held further on
    refit_lr: float = 0.01
    # judged at twice the fit's resolution (Fit.sharper), as Detail.sharp: the two should agree
    sharp: bool = False


# --- the state a plan runs on --------------------------------------------------------------------
@dataclass
class _Stage3:
    """Stage III so far (IIIa, the polish, IIIb), made one record when the plan ends."""

    u_in: torch.Tensor  # the rounded start
    total: int  # steps of both parts
    lr: float
    sharper: Fit  # where the sharp parts run (the fit itself when none does)
    parts: list[StageResult]  # the descents, in order
    info: dict
    start: float
    end: float
    t0: float
    first_sharp: bool = False
    sharp_steps: int = 0
    joined: bool = False  # IIIb's steps ran in IIIa's descent
    whole: StageResult | None = None  # all of Stage III was Stage I's descent: the record itself


@dataclass
class GraphState:
    """One graph's run in progress: what the steps read and hand on."""

    fit: Fit
    budgets: dict[str, Any]  # step -> budget for this run (None: off), ``Options.budget``
    reporter: Reporter
    gen: torch.Generator
    run: GraphRun | None
    u: torch.Tensor  # (1, P) the point handed on
    filter_samples: int = 0  # the filter search before Stage I's and III's descents
    proxy_mode: str = "anchored"
    proxy_weights: str | None = None
    guess: torch.Tensor | None = None  # the estimator's guess, a random search candidate
    starts: torch.Tensor | None = None  # (K, P) Stage II's starts
    u_stage1: torch.Tensor | None = None
    stage3: _Stage3 | None = None

    def budget(self, step: str) -> Any:
        return self.budgets[step]

    def record(self, name: str, r: StageResult) -> None:
        self.run.add(name, r, self.fit)
        self.u = r.u


# --- the steps -------------------------------------------------------------------------------------
def run_stage1(s: GraphState, b: Stage1) -> None:
    r = stage1(s.fit, s.u, s.reporter, b.steps, b.lr, search=s.filter_samples, generator=s.gen)
    s.record("stage1", r)
    s.u_stage1 = r.u


def run_recolour(s: GraphState, b: Recolour) -> None:
    r = recolour(s.fit, s.u, s.reporter, b.steps, b.lr)
    if r.info["grey"]:  # otherwise nothing ran: no record, the run as it was
        s.record("recolour", r)


def run_search(s: GraphState, b: RandomSearch) -> None:
    r = random_search(s.fit, s.u, b.samples, s.reporter, s.gen, keep=b.keep, extra=s.guess)
    s.record("search", r)
    s.starts = r.alternatives


def run_stage2(s: GraphState, b: Stage2) -> None:
    s.record("stage2", stage2(s.fit, s.starts, s.reporter, b.steps, b.lr, b.halve_every,
                              mode=s.proxy_mode, weights_dir=s.proxy_weights))


def run_scan(s: GraphState, b: Scan) -> None:
    s.record("scan", coordinate_scan(s.fit, s.u, s.reporter, b.sweeps))


def run_local(s: GraphState, b: LocalSearch) -> None:
    s.record("local", local_search(s.fit, s.u, s.reporter, b.sweeps))


def run_seeds(s: GraphState, b: Seeds) -> None:
    s.record("seeds", seed_search(s.fit, s.u, s.reporter))


def run_exchange(s: GraphState, b: Exchange) -> None:
    s.record("exchange", exchange(s.fit, s.u, s.reporter, b.steps, b.lr))


def run_stage3a(s: GraphState, b: Stage3a) -> None:
    """Stage III's first part, or all of it in one descent when nothing separates the parts (no
    polish between them, the same resolution)."""
    fit = s.fit
    u = snap(fit, s.u)
    also = snap(fit, s.u_stage1[:1]) if b.also_start else None
    pol, rest = s.budget("polish"), s.budget("stage3b")
    joined = rest is not None and pol is None and rest.sharp == b.sharp
    steps = b.steps + (rest.steps if joined else 0)
    total = b.steps + (rest.steps if rest is not None else 0)
    search = s.filter_samples
    if pol is None and not b.sharp and (joined or rest is None):  # Stage I's descent, as in the paper
        r = stage1(fit, u, s.reporter, steps, b.lr, stage="stage3", search=search, generator=s.gen, also=also)
        s.stage3 = _Stage3(u, total, b.lr, fit, [r], r.info, r.start, r.end, 0.0, joined=joined, whole=r)
        s.u = r.u
        return
    t0 = time.perf_counter()
    sharper = fit.sharper() if b.sharp or (rest is not None and rest.sharp) else fit
    a = stage1(sharper if b.sharp else fit, u, Span(s.reporter, 0, total), steps, b.lr,  # type: ignore[arg-type]
               stage="stage3", search=search, generator=s.gen, also=also)
    s.stage3 = _Stage3(u, total, b.lr, sharper, [a], {**a.info, "steps": total}, a.start, a.end, t0,
                       first_sharp=b.sharp, sharp_steps=steps if b.sharp else 0, joined=joined)
    s.u = a.u


def run_polish(s: GraphState, b: Polish) -> None:
    st = s.stage3
    pol = polish(s.fit, s.u, s.reporter, b.sweeps)
    st.info["polish"] = {"start": pol.start, "end": pol.end, **pol.info}
    s.u, st.end = pol.u, pol.end


def run_stage3b(s: GraphState, b: Stage3b) -> None:
    st = s.stage3
    if st.joined:
        return
    f = st.sharper if b.sharp else s.fit
    r = stage3b(f, s.u, Span(s.reporter, st.total - b.steps, st.total), b.steps, st.lr,  # type: ignore[arg-type]
                st.parts[-1].moments)
    st.parts.append(r)
    s.u, st.end = r.u, r.end
    st.sharp_steps += b.steps if b.sharp else 0


def stage3_result(s: GraphState) -> StageResult:
    """Stage III's parts as one result; its ``start``/``end`` are the fit's own losses (the
    sharp parts' end is in ``info["sharp"]``), comparable with the other stages'."""
    st, fit = s.stage3, s.fit
    if st.whole is not None:
        return st.whole
    start, end = st.start, st.end
    if st.sharp_steps:
        st.info["sharp"] = {"steps": st.sharp_steps, "res": st.sharper.res, "end": end}
        with torch.no_grad():
            end = float(fit.style(fit.render(s.u))[0])
            if st.first_sharp:
                start = float(fit.style(fit.render(st.u_in))[0])
    return StageResult(s.u, start, end, [c for r in st.parts for c in r.curve], st.info,
                       time.perf_counter() - st.t0, moments=st.parts[-1].moments)


def stage3(fit: Fit, u: torch.Tensor, reporter: Reporter, a: Stage3a, polish: Polish | None = None,
           b: Stage3b | None = None, *, also: torch.Tensor | None = None, search: int = 0,
           generator: torch.Generator | None = None) -> StageResult:
    """Stage III alone from ``u`` (1, P), as the plan runs it: IIIa, the polish, IIIb with these
    budgets; ``also``: a point fine-tuned alongside (the plan's: Stage I's result)."""
    a = dataclasses.replace(a, also_start=also is not None)
    s = GraphState(fit, plan(stage3a=a, polish=polish, stage3b=b), reporter,
                   generator or torch.Generator().manual_seed(0), None, u, search, u_stage1=also)
    for step in STEPS:
        if step.name in ("stage3a", "polish", "stage3b") and s.budget(step.name) is not None:
            step.run(s, s.budget(step.name))  # type: ignore[misc]
    return stage3_result(s)


@dataclass(frozen=True)
class Step:
    """A step of the plan: ``name`` keys its budget in ``Preset.steps``, ``Options.disabled``,
    the ``--no-<flag>`` switch (``flag`` defaults to the name) and the bench's
    ``diffproxy-no<name>``; ``paper``: one of the paper's stages (every preset has it, no switch);
    ``run``: ``None`` for a step run outside the plan (``detail``, ``relief``: ``graph_run.finish_graph``)."""

    name: str
    budget: type
    run: Callable[[GraphState, Any], None] | None
    help: str
    paper: bool = False
    flag: str = ""

    @property
    def switch(self) -> str:
        return self.flag or self.name


STEPS: tuple[Step, ...] = (
    Step("stage1", Stage1, run_stage1, "Stage I: the filters, by the style loss", paper=True),
    Step("search", RandomSearch, run_search, "random search of the generator parameters", paper=True),
    Step("stage2", Stage2, run_stage2, "Stage II: every parameter through the proxies", paper=True),
    Step("scan", Scan, run_scan, "coordinate scan of the generator parameters on the real generators"),
    Step("local", LocalSearch, run_local, "compass search of the generator parameters on the real "
                                          "generators", flag="local-search"),
    Step("seeds", Seeds, run_seeds, "every value of every random seed", flag="seed-search"),
    Step("exchange", Exchange, run_exchange, "unit and joint colours swapped where the fit has the joints "
                                             "lighter/darker the other way round than the photo"),
    Step("recolour", Recolour, run_recolour, "a colour still grey before Stage III (saturation 0, where its "
                                             "hue has no gradient) descended again from the photo's hue"),
    Step("stage3a", Stage3a, run_stage3a, "Stage III: the filters on the real generators", paper=True),
    Step("polish", Polish, run_polish, "halfway through Stage III, the structure searched again by the "
                                       "style loss"),
    Step("stage3b", Stage3b, run_stage3b, "Stage III's second part (balanced: at twice the resolution)"),
    Step("detail", Detail, None, "after the graph is chosen, the filters tuned to the look of "
                                 "export-size maps"),
    Step("relief", Relief, None, "at the end, the relief a flash photo cannot show (normal strength, "
                                 "height) moved towards the graph's prior as far as the look allows"),
)
STEP_NAMES = tuple(s.name for s in STEPS)
# the steps a run may leave out (Options.disabled, --no-<flag>, the bench's ablations)
OPTIONAL = tuple(s.name for s in STEPS if not s.paper)


def plan(**budgets: Any) -> dict[str, Any]:
    """Every step's budget in :data:`STEPS`' order, ``None`` for the ones not given."""
    unknown = [k for k in budgets if k not in STEP_NAMES]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps: {list(STEP_NAMES)}")
    return {name: budgets.get(name) for name in STEP_NAMES}


def check_plan(steps: dict[str, Any]) -> None:
    """Every step present, with a budget of its own type, or ``None`` where it is not a paper stage."""
    if tuple(steps) != STEP_NAMES:
        raise ValueError(f"a preset's steps must be {list(STEP_NAMES)} in that order, got {list(steps)}")
    for step in STEPS:
        b = steps[step.name]
        if b is None and step.paper:
            raise ValueError(f"step {step.name!r} is one of the paper's stages: it needs a budget")
        if b is not None and not isinstance(b, step.budget):
            raise ValueError(f"step {step.name!r} needs a {step.budget.__name__}, got {type(b).__name__}")


def run_diffproxy(fit: Fit, u: torch.Tensor, o: Options, rep: Reporter, gen: torch.Generator,
                  run: GraphRun) -> GraphRun:
    """The plan on one graph from ``u`` (1, P): the start, every step with a budget, then Stage
    I's and III's results settled by their look (at twice the fit's resolution when Stage III
    ended there)."""
    run.add("start", StageResult(u, 0.0, 0.0), fit)
    s = GraphState(fit, {name: o.budget(name) for name in STEP_NAMES}, rep, gen, run, u,
                   o.preset.filter_samples, o.proxy_mode, o.proxy_weights)
    if o.layout:
        s.record("layout", layout_start(fit, u, rep))
        u = s.u
    if o.estimator:
        r = estimate_start(fit, u, rep, window=o.count_window)
        s.record("estimate", r)
        s.guess = r.alternatives
    for step in STEPS:
        b = s.budget(step.name)
        if b is not None and step.run is not None:
            step.run(s, b)
    run.add("stage3", stage3_result(s), fit)
    sharp = s.stage3.first_sharp or s.stage3.sharp_steps > 0
    run.settle(("stage1", "stage3"), judge=fit.sharper() if sharp else None)
    if run.final_from != "stage3":
        at = f" at {run.settled['res']} px" if run.settled else ""
        rep.message("stage3", f"the result after {run.final_from} has the lower style loss{at}; keeping it")
    return run


