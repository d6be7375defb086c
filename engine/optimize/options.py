"""Options of a proceduralize run and the speed/quality presets.

Presets (all numbers in one place):

* ``full``: ``balanced``'s schedule, each graph optimised from four independent random starts
  (``restarts``; the best look kept, so never worse than ``balanced``'s run, which is the first)
  and up to three graphs; MATch gets the paper's 1000 steps. Until session 20 ``full`` was the
  paper's budget (256 px renders, losses at 256/128/64, 500 random search samples, Stage I 200
  steps at lr 0.002, Stage II 600 steps at lr 0.02 halved every 200, ~1050 steps in all): about
  twice ``balanced``'s time and *worse* than it on the synthetic targets measured (session 18:
  mean style 0.0216 against 0.0185 on 9 targets), so a user picking "Full" got less for more.
  Restarts are the surest use of more time: on 16 synthetic targets (two per graph) balanced's
  mean style 0.0164 became 0.0125 / 0.0114 / 0.0111 with the best of 2 / 3 / 4 restarts (mean
  per-target ratio 0.82 / 0.77 / 0.72, better on 7 / 8 / 9 targets and worse on none), feature
  0.190 -> 0.120 with 4. Against MATch's 1000 steps on all 30 bench targets: style ratio 0.206,
  feature 0.278, 30 of 30 won. On a 2-core CPU four restarts of one graph take two rounds of
  two worker processes (docs/BENCHMARKS.md, session 20).
* ``paper``: that old ``full``, kept for comparison with the paper (the command line and the
  benchmark take it; the add-on offers the other three).
* ``balanced``: target <= 120 s for a 512 px photo on a 2-core CPU: 128 px renders, losses at
  128/64, best 2 graphs. Measured 71.3 s (77.4 s wall for the whole command, 2048 px maps
  written) on the dev CPU with another job on the second core.
* ``fast``: target <= 30 s on the same CPU: 96 px renders, losses at 96/48, one graph.
  Measured 13.6 s (18.7 s for the whole command), same conditions.

(Measured 2026-11-21 with ``engine/assets/default_photo.png``, 512 px, graph auto, random
descriptor, the session-2 proxies, local search included; every preset renders 2x
supersampled, see ``Fit.render``. With Stage III's filter search added and a test suite
running alongside: balanced 82.1 s (90.1 s wall), fast 17.7 s (25.0 s wall). With Stage
"detail" (1024 px maps; 100 / 50 steps) and a benchmark alongside: balanced 90.2 s, of it
7.8 s detail (95.9 s wall); fast 17.1 s, 3.2 s detail (22.2 s wall). Session 7, alone on a
slower day, balanced's two graphs side by side in worker processes (``workers``) and Stage
"detail" on both: 64.9-73.4 s (71-80 s wall; one after another 110.6 s); fast 22.1-24.5 s
(28-31 s wall). Session 8, with the seed search (every preset) and Stage III's second branch
(balanced, full): balanced 73.2-74.5 s (79-81 s wall), fast 23.3-24.2 s (29.6-30.4 s wall).
Session 9, on a day the machine ran ~15 % slower (session 8's code: 86.6 s / 93.1 s wall
balanced, 26.9 s / 33.7 s fast), with the coordinate scan (balanced, full) and the halved Stage
II: balanced 83.0 s (89.3 s wall), fast 21.8 s (27.9 s wall). Session 10, with the graph
classifier, which finds only bricks likely on that photo, so balanced fits one graph: balanced
72.6 s (79.7 s wall), fast 21.9-24.5 s (28.3-31.4 s wall over three runs; session 9's code the
same hour 30.7 s). Session 11, with the parameter estimator, on a day the machine ran ~1.3x
slower: balanced 99.9 s (106.9 s wall), fast 28.1-32.3 s (34.7-39.5 s wall; without the
estimator the same hour 28.9 s, 36.2 s wall). Session 12, with the count window, alone:
balanced 90.0 s (97.3 s wall), fast 30.0-30.3 s (36.8-37.2 s wall; 28.1 s, 35.5 s wall
with ``threads=2``). Session 13, with the noise cache, ``descriptor.pool2`` and
``descent.Adam`` (speed only), alone: balanced 70.8 s (77.8 s wall), fast 19.5-21.9 s
(25.3-28.4 s wall over three runs; session 12's code the same hour 29.6 s, 36.2 s wall); then
with balanced's Stage III at 250 steps: balanced 77.6 s (82.8 s wall), fast 15.5-19.4 s
(20.0-24.9 s wall). Session 14, with balanced's polish (whose Stage III second half runs one
branch, not two) and ``MKL_CBWR``: balanced 60.4 s (65.2 s wall; session 13's code the same
hour 78.8 s, 83.9 s wall), fast 19.0-19.1 s (24.8-25.8 s wall; session 13's code 17.6-18.4 s,
22.5-23.5 s wall); ten minutes earlier the machine ran slower: fast 24.2-27.0 s (30.7-34.4 s
wall), balanced 101.4 s (108.5 s wall). Session 15, with balanced's sharp Stage III steps, on
a day the machine ran ~1.6x slower than session 14's (20-30 % of its CPU time stolen by the
host): balanced 115.4 s (124.0 s wall; a first run 148.7 s, its random search stalled 16 s),
the same code without them 97.6-97.8 s (107.9-109.4 s wall), run alternately; Stage III 62-65 s
against 46-50 s.)

Stage III got 3x its first share of steps in ``fast`` (25 -> 75) and 2.5x in ``balanced``
(60 -> 150): the final style loss is mostly the filters' colour match, and the short Stage III
left diffproxy behind MATch on style on 5 of 8 synthetic targets; with 75 steps it won all 8
(mean style ratio 0.62, feature 0.75; 150 steps: 0.61 for 4 s more; lr 0.02: 0.64), measured
with ``bench --synthetic 8 --preset fast`` against MATch's 110-step rows (before supersampling).

Balanced's Stage III got 250 steps (was 150) in session 13, paid for by that session's faster
steps: ``bench --synthetic 30 --preset balanced``, mean style ratio to MATch 0.392 -> 0.360,
style wins 90 % -> 93 %, mean style 0.0209 -> 0.0198, for ~20 s more per target (59 -> 80 s,
two benchmarks side by side). A doubled Stage III rate (0.01) instead did worse on the first 8
targets (style ratio 0.340 -> 0.393) and was dropped. Fast keeps 75 steps and no second
branch: the branch lowered fast's style ratio 0.703 -> 0.650 (wins 80 -> 83 %) for 3.6 s per
target, which would take the fast command past 30 s on a slow day.

Balanced and full polish the structure halfway through Stage III (``polish_sweeps`` 8, session
14): the structure searched again by the style loss under the filters tuned so far, kept only
if it also wins at twice the fit's resolution. ``bench --synthetic 30 --preset balanced``: mean
style ratio to MATch 0.360 -> 0.350, style wins 93 % -> 100 %, feature ratio 0.458 -> 0.442,
discrete accuracy 0.47 -> 0.51. In ``fast`` it did harm (style ratio 0.755 -> 0.804 on the first
20 targets, for ~8 s more each: at 96 px it chases detail the judge at 256 px does not
see), so fast has none.

Balanced runs Stage III's second half (125 steps, after the polish) on the fit at twice its
resolution (``stage3_sharp_steps``, session 15; ``stages.stage3``) and keeps Stage I's or Stage
III's result by the look at that resolution: the fit's 128 px objective and the 256 px look had
parted (the judged loss was 1.15x the fitted one, median over 30 targets; now 1.02x).
``bench --synthetic 30 --preset balanced``: mean style ratio to MATch 0.358 -> 0.335, mean
style 0.0195 -> 0.0177, 26 targets better and 2 worse, for ~5 s more per target. All 250 steps
sharp: 0.328, 30 of 30 won, for ~19 s per target: within the run-to-run spread, not taken. A
learning rate halved every 50 steps on top: no better (first 10 targets 0.336 -> 0.340).

Shorter schedules use proportionally larger learning rates in Stages I and III (0.002 moves a
normalised parameter by at most 0.002 per step: 40 steps could not move it by 0.1) and halve
Stage II's rate more often, so each preset covers the same ground in fewer steps.

Stage II got half its steps in ``fast`` (60 -> 30, halving every 12) and ``balanced`` (150 ->
75, every 30) in session 9: with the searches on the real generators after it (local search,
seed search, balanced's coordinate scan) a longer joint descent through the proxies left a
worse start for Stage III. ``bench --synthetic 30``, mean style ratio to MATch: fast 0.843 ->
0.738 (15 steps: 0.757), balanced with the scan 0.628 -> 0.550; both faster. MATch keeps its
step count (``match_steps``: the three stages' steps before the change). ``full`` kept the
paper's 600 until session 20 and now has balanced's 75 (per restart).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

METHODS = ("diffproxy", "match", "search")
# How Stage II uses the proxies (see stages.stage2): "anchored" (default) forward pass with the
# real generators, backward pass through the proxies; "paper" the proxies' own patterns in both
# passes (Hu et al. 2022); "off" no proxies (Stage II tunes filters only: an ablation).
PROXY_MODES = ("anchored", "paper", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Preset:
    """Budget of one run (see the module docstring)."""

    name: str
    res: int  # optimisation render resolution (px)
    scales: tuple[int, ...]  # loss scales (px)
    rank_samples: int  # prior samples per graph for the graph ranking / start point
    rank_res: int
    top_k: int  # graphs optimised when graph="auto"
    filter_samples: int  # Stage I's filter search before the descent (not in the paper)
    stage1_steps: int
    stage1_lr: float
    search_samples: int  # Stage II random search size
    search_res: int
    stage2_steps: int
    stage2_lr: float
    stage2_halve_every: int
    stage3_steps: int
    stage3_lr: float
    search_seconds: float  # method="search": wall time when Options.time_limit is None
    # method="match": Adam steps of MATch's filter fitting; 0: Stage I + II + III's steps. Set
    # apart so that shortening diffproxy's Stage II (session 9) does not shorten the baseline
    match_steps: int = 0
    supersample: int = 1  # maps and renders made this many times larger, then averaged down (Fit.render)
    # Stage II optimises the random search's best few side by side. 1 in every preset: 3 starts
    # in fast gave mean style ratio vs MATch 0.567 (1 start: 0.527), feature 0.714 (0.717),
    # discrete accuracy 0.40 (0.37), for 45 % more time (bench --synthetic 8, judged at 256 px).
    stage2_starts: int = 1
    # sweeps of the compass search on the real generators after Stage II (stages.local_search;
    # not in the paper); 0: none. 16 instead of 8 in fast: mean style 0.0911 vs 0.0917, feature
    # 0.3437 vs 0.3434 on bench --synthetic 30, for ~2 s more: not worth it
    local_sweeps: int = 0
    # sweeps of the coordinate scan on the real generators after Stage II, before the local
    # search (stages.coordinate_scan; not in the paper); 0: none. On bench --synthetic 30, 2 in
    # balanced: mean style ratio to MATch 0.683 -> 0.628, feature 0.630 -> 0.566, for ~8 s per
    # graph; 1 in fast: style 0.843 -> 0.838, feature 0.587 -> 0.558, mean style loss 0.0862 ->
    # 0.0900, for ~4.4 s that fast lacks: off there
    scan_sweeps: int = 0
    # Stage "detail" (stages.detail; not in the paper): filter fine-tuning towards the look of
    # maps at min(detail_res, res_out) px, after the graph is chosen; no steps: no such stage
    detail_res: int = 1024
    detail_steps: int = 0
    detail_refresh: int = 25
    # Stage III also fine-tunes Stage I's result (the start's structure) side by side and keeps
    # the better (stages.stage3's ``also``; not in the paper). Off in fast: on bench --synthetic
    # 30 it lowered the mean style 0.0883 -> 0.0839 there, for ~3 s per graph that fast lacks
    # (balanced: 0.0562 -> 0.0518, ~9 s)
    stage3_also_start: bool = False
    # halfway through Stage III, stages.polish (the structure searched again by the style loss
    # under the filters tuned so far, this many compass sweeps; not in the paper), then Stage
    # III's second half; 0: none (see the module docstring)
    polish_sweeps: int = 0
    # the last this many of Stage III's steps on the fit at twice the resolution (Fit.sharper:
    # losses at three scales, no supersampling; stages.stage3), Stage I's and III's results then
    # compared there; 0: all at the fit's own (see the module docstring)
    stage3_sharp_steps: int = 0
    # after the local search, every value of every random seed (stages.seed_search; not in the
    # paper). On bench --synthetic 30 it lowered the mean feature ratio to MATch 0.816 -> 0.587
    # (fast) and 0.814 -> 0.630 (balanced), for ~1.5 s (fast) - 3 s (balanced) per graph
    seed_search: bool = False
    # method "diffproxy": each graph optimised this many times, from independent random streams
    # (the first the run's own, so 1 is the run it always was), the lowest look kept
    # (result.best_restart; not in the paper). The searches' draws decide much of a fit (the
    # structure they find), and a second or third draw is the surest use of more time (session 20)
    restarts: int = 1

    @property
    def match_budget(self) -> int:
        """MATch's Adam steps (``match_steps``, else the three stages' together)."""
        return self.match_steps or self.stage1_steps + self.stage2_steps + self.stage3_steps

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "fast": Preset("fast", res=96, scales=(96, 48), rank_samples=12, rank_res=64, top_k=1,
                   filter_samples=32,
                   stage1_steps=25, stage1_lr=0.01, search_samples=48, search_res=64,
                   stage2_steps=30, stage2_lr=0.02, stage2_halve_every=12,
                   stage3_steps=75, stage3_lr=0.01, search_seconds=20.0, match_steps=160, supersample=2,
                   local_sweeps=8, detail_res=1024, detail_steps=50, detail_refresh=25,
                   seed_search=True),
    "balanced": Preset("balanced", res=128, scales=(128, 64), rank_samples=24, rank_res=64, top_k=2,
                       filter_samples=64,
                       stage1_steps=60, stage1_lr=0.005, search_samples=128, search_res=96,
                       stage2_steps=75, stage2_lr=0.02, stage2_halve_every=30,
                       stage3_steps=250, stage3_lr=0.005, search_seconds=60.0, match_steps=360,
                       supersample=2,
                       local_sweeps=16, scan_sweeps=2, detail_res=1024, detail_steps=100,
                       detail_refresh=25, stage3_also_start=True, seed_search=True, polish_sweeps=8,
                       stage3_sharp_steps=125),
}

# full: balanced's schedule, each graph from four independent starts (the best kept) and up to
# three graphs; MATch in full gets the paper's 1000 steps (see the module docstring)
PRESETS["full"] = dataclasses.replace(PRESETS["balanced"], name="full", top_k=3, restarts=4,
                                      search_seconds=240.0, match_steps=1000)
# paper: the paper's budget (Sec. 3.3), ``full`` until session 20; for comparison, not for artists
PRESETS["paper"] = Preset("paper", res=256, scales=(256, 128, 64), rank_samples=48, rank_res=96, top_k=3,
                          filter_samples=128,
                          stage1_steps=200, stage1_lr=0.002, search_samples=500, search_res=128,
                          stage2_steps=600, stage2_lr=0.02, stage2_halve_every=200,
                          stage3_steps=250, stage3_lr=0.005, search_seconds=600.0, match_steps=1000,
                          supersample=2,
                          local_sweeps=40, scan_sweeps=2, detail_res=2048, detail_steps=200,
                          detail_refresh=50, stage3_also_start=True, seed_search=True, polish_sweeps=8)


@dataclass
class Options:
    """What to run (the add-on's server builds this from its request's ``options`` object).

    Args:
        graph: ``"auto"`` (rank every graph, optimise the best ``top_k``) or a graph name.
        preset: ``"fast" | "balanced" | "full" | "paper"``.
        method: ``"diffproxy"`` (three stages through the proxies), ``"match"`` (MATch baseline:
            Stage I only, filters only, generators fixed at the start point), ``"search"``
            (gradient-free: random search then a (1+lambda)-ES over every parameter on the real
            generators, for ``time_limit`` seconds).
        device: ``"auto" | "cpu" | "cuda" | "mps"``.
        res_out: side of the written maps (px), 64..8192.
        seed: seeds every random choice (same seed, same inputs, same device and ``threads``
            -> the same result to the last bit; on a CPU with more than one thread this rests
            on ``MKL_CBWR``, which ``diffproxy`` sets at import).
        descriptor: ``"auto"`` (VGG19 if its weights are on this machine, else the seeded random
            CNN), ``"vgg19"`` or ``"random"``.
        allow_download: let ``descriptor`` download VGG19's weights (never by default).
        vgg19_path: explicit VGG19 weight file (else ``$DIFFPROXY_VGG19``, else the hub cache).
        time_limit: wall time (s) of ``method="search"``; ``None``: the preset's.
        top_k: graphs optimised when ``graph="auto"``: exactly that many; ``None``: up to the
            preset's, leaving out those the graph classifier finds less than half as likely as
            its first choice (``choose.keep_likely``).
        classifier: order the graph ranking by the graph classifier's probabilities
            (``diffproxy.classifier``; falls back to the descriptor score, with a message, when
            its weights are missing or out of date); ``False``: the descriptor score alone.
        estimator: method ``"diffproxy"``: try the parameter estimator's guess
            (``diffproxy.estimator``) as the start point and as a candidate of Stage II's random
            search (``stages.estimate_start``; reported and skipped when its weights are missing
            or out of date); ``False``: the ranking's prior sample and the random search alone.
        count_window: with ``estimator``: the guess's counts (courses, tiles, threads, cells)
            bound the structure searches, each to the guess times or divided by the larger of
            1.25 and the estimator's measured spread for it (``estimator.count_windows``);
            ``False``: the searches range over the whole prior.
        proxy_mode: how Stage II uses the proxies, one of :data:`PROXY_MODES`.
        local_search: after Stage II, the compass search over the generator parameters on the
            real generators (``stages.local_search``, the preset's ``local_sweeps``); ``False``
            to skip it (with ``scan`` and ``seed_search`` off too: the paper's three stages).
        scan: after Stage II, the coordinate scan over the generator parameters on the real
            generators (``stages.coordinate_scan``, the preset's ``scan_sweeps``); ``False`` to
            skip it.
        seed_search: after the local search, every value of every random seed
            (``stages.seed_search``, where the preset has ``seed_search``); ``False`` to skip it.
        polish: halfway through Stage III, the structure searched again by the style loss under
            the filters tuned so far (``stages.polish``, where the preset has ``polish_sweeps``);
            ``False`` to skip it.
        detail: after the graph is chosen (every method), tune the filters towards the look of
            the maps at the export's size (``stages.detail``: ``min(res_out, detail_res)`` px,
            the preset's ``detail_steps``); ``False``: the result matches the photo at the fit's
            own map size only.
        threads: torch CPU threads during the run (restored afterwards); 0 = auto: on a CPU
            device half the logical cores, at most 4 (1 on a 2-core machine), because the
            optimisation's tensors are small (96-256 px) and extra threads mostly wait on each
            other: measured on a shared 2-core CPU, one step took 0.05 s with 1 thread and
            0.39 s with 2 (fast preset; 0.21 s vs 1.15 s at 256 px, the old full preset). On a
            GPU the setting only affects the few CPU-side operations and is left alone.
        workers: processes that optimise the graph candidates (and their restarts) side by
            side on a CPU (``optimize.workers``); 0 = auto: as many as the cores hold at
            ``threads`` threads each (2 on a 2-core machine), at most the number of graph runs; 1 = one after another in
            this process. Either way the result is the same. GPUs use one process.
    """

    graph: str = "auto"
    preset: str = "balanced"
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
    proxy_mode: str = "anchored"
    local_search: bool = True
    scan: bool = True
    seed_search: bool = True
    polish: bool = True
    detail: bool = True
    threads: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.graph, str) or not self.graph:
            raise ValueError(f"graph must be 'auto' or a graph name, got {self.graph!r}")
        if self.preset not in PRESETS:
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
        if not isinstance(self.classifier, bool):
            raise ValueError(f"classifier must be true or false, got {self.classifier!r}")
        if not isinstance(self.estimator, bool):
            raise ValueError(f"estimator must be true or false, got {self.estimator!r}")
        if not isinstance(self.count_window, bool):
            raise ValueError(f"count_window must be true or false, got {self.count_window!r}")
        if self.proxy_mode not in PROXY_MODES:
            raise ValueError(f"proxy_mode must be one of {list(PROXY_MODES)}, got {self.proxy_mode!r}")
        if not isinstance(self.local_search, bool):
            raise ValueError(f"local_search must be true or false, got {self.local_search!r}")
        if not isinstance(self.scan, bool):
            raise ValueError(f"scan must be true or false, got {self.scan!r}")
        if not isinstance(self.seed_search, bool):
            raise ValueError(f"seed_search must be true or false, got {self.seed_search!r}")
        if not isinstance(self.detail, bool):
            raise ValueError(f"detail must be true or false, got {self.detail!r}")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0, got {self.threads!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be an integer >= 0 (0: auto), got {self.workers!r}")

    @property
    def budget(self) -> Preset:
        return PRESETS[self.preset]

    def as_dict(self) -> dict:
        return asdict(self)
