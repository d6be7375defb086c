"""The outcome of a proceduralize run and its export.

``Result.write(out_dir)`` writes (nothing is overwritten unless ``overwrite=True``; every target
is checked before the first file is written):

* the maps ``basecolor.png normal.png roughness.png metallic.png height.png`` at ``res_out``
  synthesised by the *real* graph from the fitted parameters (``diffproxy.io.save_maps``), and
  ``render.png`` (their flash render);
* ``params.json``: graph, every parameter (JSON values, loadable by ``spec.from_json``), the
  descriptor (name + weights hash), losses per stage, timings per stage, device, method, preset,
  seed, graph ranking (with the graph classifier's probabilities, and which classifier: file,
  hash, validation accuracy), which parameter estimator proposed a start (file, hash,
  validation error; null when none did), proxy status, notes on the input photo, ``batches``
  (jobs per descent batch where the restarts descended together, ``--batch``; else null),
  ``photo.turn`` (``diffproxy.straighten``'s reading: ``degrees``, ``peak``, whether the photo
  was ``turned`` and the share of its side ``kept``; null with ``--no-straighten``),
  ``unusual`` (fitted roughness values far from the material's usual ones: sliders to check),
  ``other_graphs`` (the other graphs fitted: losses, parameters and their ``unusual``);
* ``comparison.png``: photo | render | basecolor | normal | roughness | metallic, 256 px tiles
  with labels;
* ``loss_curve.png``: each stage's objective per step (matplotlib; skipped with a note in the
  returned dict's absence when matplotlib is not installed).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..io import exists_message, refuse_inputs, save_json, save_maps, save_png
from ..jsonsafe import finite as _finite
from .fit import Fit
from .options import Options
from .descent import StageResult

TILE = 256
SHEET_LABELS = ("photo", "render", "basecolor", "normal", "roughness", "metallic")


@dataclass
class GraphRun:
    """Stages run on one graph: per-stage losses (real generators), curves, timings."""

    graph: str
    stages: dict[str, dict] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    u: torch.Tensor | None = None
    final: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    fit: Fit | None = None
    points: dict[str, tuple[torch.Tensor, dict[str, float]]] = field(default_factory=dict)
    final_from: str = ""
    settled: dict | None = None  # settle()'s comparison when a judge made it
    restarts: dict | None = None  # best_restart()'s comparison when the graph ran more than once
    joints: dict | None = None  # best_graph(): the photo's and the render's joint polarity, when compared
    shape: dict | None = None  # best_graph(): the photo's unit shape and the share of this graph's prior with it

    @property
    def look(self) -> float:
        """The style loss graphs and restarts are compared by: that of the export-size maps when
        Stage "detail" or step "relief" made them, else the settle's judge's (twice the fit's resolution) when it
        judged, else the fit's own."""
        if "maps_px" not in self.stages.get(self.final_from, {}) and self.settled \
                and self.final_from in self.settled["style"]:
            return float(self.settled["style"][self.final_from])
        return float(self.final["style"])

    def add(self, name: str, r: StageResult, fit: Fit) -> None:
        """Record a stage's output; its losses are the real graph's at the fit's resolution, or,
        for a stage that reports ``info["look"]`` (Stage "detail"), those of its maps' size."""
        ev = dict(r.info["look"]) if "look" in r.info else fit.evaluate(r.u)
        entry = {**ev}
        if name != "start":
            entry.update({"objective_start": r.start, "objective_end": r.end})
            entry.update({k: v for k, v in r.info.items() if k != "look"})
            self.curves[name] = [float(x) for x in r.curve]
            self.timings[name] = r.seconds
        self.stages[name] = entry
        self.u = r.u.detach().clone()
        self.final = ev
        self.points[name] = (self.u, ev)
        self.final_from = name

    def maps_px(self) -> int:
        """Size of the maps whose look ``final`` judges (Stage "detail": the export's; otherwise
        the fit's own, supersampled)."""
        assert self.fit is not None
        return int(self.stages.get(self.final_from, {}).get("maps_px", self.fit.render_res()))

    def settle(self, names: tuple[str, ...], judge: Fit | None = None) -> None:
        """Hand on the stage output among ``names`` with the lowest style loss (the criterion
        graphs are compared by), so later stages chasing other objectives (Stage II's feature
        loss) can never leave the result worse than an earlier stage had it. ``judge``: compare
        by that fit's style loss instead of the recorded (the fit's own) one."""
        have = [n for n in names if n in self.points]
        if not have:
            return
        if judge is not None:
            scores = {n: judge.evaluate(self.points[n][0])["style"] for n in have}
            best = min(have, key=lambda n: scores[n])
            self.settled = {"res": judge.res, "scales": list(judge.preset.scales), "style": scores, "kept": best}
        else:
            best = min(have, key=lambda n: self.points[n][1]["style"])
        self.u, self.final = self.points[best]
        self.final_from = best


def best_restart(runs: list[GraphRun]) -> GraphRun:
    """The run kept among one graph's restarts (``Preset.restarts_for``): where the photo shows
    joints and some restarts render them the photo's way round, the others are out
    (:func:`joints_agreeing`, the rule :func:`best_graph` applies between graphs); then the
    lowest :attr:`GraphRun.look`, the first on a tie. With more than one, it records every
    restart's look and which was kept (``restarts``), and its ``seconds`` become their sum.
    Why the joints here too: a restart whose search closed the joints (the red wall's mortar at
    width 0, its render's joints the bevel's dark shading against the photo's light mortar;
    docs/BENCHMARKS.md, session 40) is another material to a person, whatever its look."""
    best = min(joints_agreeing(runs), key=lambda r: r.look)
    if len(runs) > 1:
        best.restarts = {"style": [r.look for r in runs], "kept": next(i for i, r in enumerate(runs) if r is best)}
        if any(r.joints is not None for r in runs):
            best.restarts["joints"] = [r.joints for r in runs]
        best.seconds = sum(r.seconds for r in runs)
    return best


def joints_agreeing(runs: list[GraphRun]) -> list[GraphRun]:
    """``runs`` less those whose render has the joints the other way round from the photo's
    (:func:`joint_signs`; recorded on each as ``joints``, read once: a graph's kept restart
    comes to :func:`best_graph` with them), where some render them the photo's way; all of them
    where none does or the photo shows no joints."""
    if len(runs) < 2:
        return runs
    for r in runs:
        if r.joints is None:  # None again where the photo shows none: joint_signs renders nothing then
            signs = joint_signs(r)
            r.joints = None if signs is None else {"photo": signs[0], "render": signs[1],
                                                   "agree": signs[0] == signs[1]}
    agree = [r for r in runs if r.joints is not None and r.joints["agree"]]
    if agree and any(r.joints is not None and not r.joints["agree"] for r in runs):
        return [r for r in runs if r.joints is None or r.joints["agree"]]
    return runs


# looks within this fraction of each other are the same look. Measured: the same photo
# mirrored or turned half round (the same material, `bench --variants`) moves one graph's fitted
# look by 9.8 % (pooled sd of the log look, 18 photo x graph groups at fast; a new noise seed
# alone 2-13 %, session 25), so the difference of two graphs' looks has an sd of ~14 %: within
# it the look cannot tell them apart and the classifier's order decides (docs/BENCHMARKS.md,
# session 35: with a 2 % tie the 13 photos and their 39 variants got an accepted graph 39 of 52
# times, 42 with 15 %)
LOOK_TIE = 0.15


def look_tie(runs: list[GraphRun]) -> float:
    """The fraction within which ``runs``' looks tie: :data:`LOOK_TIE`, widened by step
    "relief"'s tolerance where a look is the one after it. Why: the step raises each graph's
    look by up to its tolerance, as far as that graph's prior asks for relief the photo cannot
    show, so two fits that tied before it can stand that much further apart after it (the
    stucco at balanced: stone 0.0472 against aggregate 0.0467 after the relief, a tie; once
    the relief's refit spent more of stone's 2 %, 0.0477 against 0.0466; docs/BENCHMARKS.md,
    session 32). At ``fast`` the step's tolerance holds on twice the fit's resolution
    (``Relief.sharp``) while the looks compared are the fit's, so there it bounds the rise only
    roughly."""
    tol = max((float(r.stages.get("relief", {}).get("tolerance", 0.0)) for r in runs if r.final_from == "relief"),
              default=0.0)
    return (1.0 + LOOK_TIE) * (1.0 + tol) - 1.0


@torch.no_grad()
def joint_signs(run: GraphRun) -> tuple[int, int] | None:
    """``(photo, render)``: the joint polarity sign (:func:`diffproxy.judge.joint_polarity`; 1
    lighter joints, -1 darker, 0 unclear) of the photo and of the render of ``run``'s maps at
    their size (:meth:`GraphRun.maps_px`), where the photo shows joints (its Stage "layout" read
    a polarity and at least one count); else ``None``."""
    lay = run.stages.get("layout")
    if run.fit is None or run.u is None or not lay or not lay.get("polarity") \
            or not (lay.get("rows") or lay.get("per_row")):
        return None
    from ..judge import joint_polarity, polarity_sign
    from ..render import render

    image = render(run.fit.graph.maps(run.fit.natural(run.u[:1]), run.maps_px()))
    return int(lay["polarity"]), polarity_sign(joint_polarity(image))


# a graph whose artist prior gives the photo's unit shape less than this share is not that
# family (layout.shape_share): fewer than 1 in 20 of its draws, each count allowed the judge's 30 %
SHAPE_SHARE = 0.05


def unit_shape(run: GraphRun) -> dict | None:
    """``{"aspect": rows / per_row, "share": ...}``: the unit shape of the photo (its Stage
    "layout" read both counts) and the share of ``run``'s graph's prior with that shape
    (:func:`diffproxy.layout.shape_share`); ``None`` where the photo gave no shape or the graph
    has no units in rows."""
    lay = run.stages.get("layout")
    if not lay or not lay.get("rows") or not lay.get("per_row"):
        return None
    from ..graphs import get_graph
    from ..layout import shape_share

    graph = run.fit.graph if run.fit is not None else get_graph(run.graph)
    share = shape_share(graph, float(lay["rows"]), float(lay["per_row"]))
    return None if share is None else {"aspect": float(lay["rows"]) / float(lay["per_row"]), "share": share}


def best_graph(runs: list[GraphRun]) -> GraphRun:
    """The graph kept among the optimised ones (each its best restart), ``runs`` in the ranking's
    order (the graph classifier's, where it ordered it). Where the photo shows its units' shape
    (:func:`unit_shape`) and some fitted graphs' priors hold it, those whose priors give it less
    than :data:`SHAPE_SHARE` are out; then, where the photo shows joints (:func:`joint_signs`)
    and some fitted graphs render them the photo's way round (darker or lighter than the units),
    the others are out. Then the lowest :attr:`GraphRun.look`, except that a look within
    :func:`look_tie` of the lowest is a tie, and a tie goes to the graph ranked first.

    Why the shape: square units are tiles, not planks, whatever the looks say; the count windows
    hold every graph to the photo's counts, so a family whose units are never that shape is fitted
    as a stranger of itself (wood planks at 2 x 2: square boards), and on a frame of a few units
    the Gram loss does not see the difference (docs/BENCHMARKS.md, session 40). Why the joints:
    light joints for the photo's dark ones is a different material to a person at first sight,
    and the style loss misses it (the 2 x 2 floor tiles with thin dark grout: wood planks with
    wide light gaps, 0.0847, against ceramic tiles with dark grout, 0.1043; docs/BENCHMARKS.md,
    session 31). Why the tie: a difference the fit's own noise makes cannot tell two graphs
    apart, while the classifier was trained to (held-out renders 0.986; it put the right graph
    first for 11 of 13 shared photos where the looks' choice between two fitted graphs went
    wrong twice: the stucco as aggregate, 1.1 % lower than stone; session 30)."""
    if len(runs) > 1:
        for r in runs:
            r.shape = unit_shape(r)
        held = [r for r in runs if r.shape is None or r.shape["share"] >= SHAPE_SHARE]
        if held and len(held) < len(runs):
            runs = held
    runs = joints_agreeing(runs)
    highest = min(r.look for r in runs) * (1.0 + look_tie(runs))
    return next(r for r in runs if r.look <= highest)


def other_fit(run: GraphRun) -> dict:
    """A graph fitted beside the kept one, as the result lists it: its final losses and its
    parameters (every step run, as complete as the kept fit's), so that a user who judges the
    family differently gets that material without fitting again (``diffproxy render --params
    params.json --graph G``, the add-on's "Also fitted" buttons)."""
    from ..graphs import get_graph

    assert run.fit is not None and run.u is not None
    params = run.fit.to_json(run.u)
    return {"graph": run.graph, "final": {**run.final, "maps_px": run.maps_px()},
            "seconds": round(run.seconds, 3), "joints": run.joints, "shape": run.shape,
            "recoloured": run.stages.get("recolour", {}).get("kept"), "params": params,
            "unusual": get_graph(run.graph).unusual_params(params)}


@dataclass
class Result:
    """What ``proceduralize`` returns (JSON-friendly fields, plus the photo for the sheet)."""

    graph: str
    params: dict[str, Any]
    losses: dict[str, dict]
    timings: dict[str, float]
    descriptor: dict
    device: str
    ranking: list[dict]
    method: str
    preset: str
    seed: int
    options: dict
    curves: dict[str, list[float]]
    proxies: dict[str, str]
    photo_notes: list[str]
    photo_source: str
    others: list[dict]
    graph_classifier: dict | None = None  # classifier.describe() when it ordered the ranking
    joints: dict | None = None  # best_graph()'s joint polarities of the photo and this render, when compared
    shape: dict | None = None  # best_graph()'s unit shape of the photo and the share of this graph's prior with it
    param_estimator: dict | None = None  # estimator.describe() when it guessed a start
    batches: list[int] | None = None  # jobs per descent batch, where the runs descended together (batching)
    photo_turn: dict | None = None  # straighten's reading: degrees, peak, turned, kept (share of the side); None: not read
    photo: torch.Tensor = field(repr=False, default=None)  # type: ignore[assignment]

    @classmethod
    def from_run(cls, best: GraphRun, runs: list[GraphRun], o: Options, photo, descriptor, device,
                 ranking: list[dict], timings: dict[str, float],
                 graph_classifier: dict | None = None, param_estimator: dict | None = None,
                 batches: list[int] | None = None, photo_turn: dict | None = None) -> "Result":
        assert best.fit is not None and best.u is not None
        losses = dict(best.stages)
        losses["final"] = {**best.final, "from_stage": best.final_from, "maps_px": best.maps_px()}
        if best.settled:
            losses["settled"] = best.settled
        if best.restarts:
            losses["restarts"] = best.restarts
        proxies = losses.get("stage2", {}).get("proxies", {})
        return cls(graph=best.graph, params=best.fit.to_json(best.u), losses=_finite(losses),
                   timings={k: round(float(v), 3) for k, v in timings.items()},
                   descriptor=best.fit.loss.info, device=str(device), ranking=ranking,
                   method=o.method, preset=o.preset.name, seed=o.seed, options=o.as_dict(),
                   curves=best.curves, proxies=proxies, photo_notes=list(photo.notes),
                   photo_source=photo.source,
                   others=[other_fit(r) for r in runs if r is not best],
                   graph_classifier=graph_classifier, param_estimator=param_estimator, joints=best.joints,
                   shape=best.shape,
                   batches=batches, photo_turn=photo_turn, photo=photo.image.detach().cpu())

    def unusual(self) -> list[dict]:
        """The fitted roughness values far from what the material usually has
        (:meth:`~diffproxy.graphs.MaterialGraph.unusual_params`): sliders to check."""
        from ..graphs import get_graph

        return get_graph(self.graph).unusual_params(self.params)

    def unusual_notes(self) -> list[str]:
        """:meth:`unusual` as sentences for the user."""
        return [f"{u['param']} came out {u['value']:.2f}, where this material usually has "
                f"{u['usual']:.2f} +- {u['sd']:.2f}: a single flash photo hardly tells roughness, "
                f"and fits often make light joints glossy; check the slider" for u in self.unusual()]

    def summary(self) -> dict:
        """Everything but the curves and the photo, JSON-safe (what ``--json`` prints)."""
        return _finite({"graph": self.graph, "params": self.params, "losses": self.losses,
                        "timings": self.timings, "descriptor": self.descriptor, "device": self.device,
                        "ranking": self.ranking, "method": self.method, "preset": self.preset,
                        "seed": self.seed, "options": self.options, "proxies": self.proxies,
                        "photo": {"source": self.photo_source, "notes": self.photo_notes,
                                  "turn": self.photo_turn},
                        "other_graphs": self.others, "joints": self.joints, "shape": self.shape,
                        "unusual": self.unusual(),
                        "graph_classifier": self.graph_classifier,
                        "param_estimator": self.param_estimator, "batches": self.batches,
                        "engine_version": __version__})

    # --- export -------------------------------------------------------------------------------
    def maps(self, res: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """The fitted material's maps at ``res`` from the real graph."""
        from ..graphs import get_graph

        g = get_graph(self.graph)
        with torch.no_grad():
            return g.maps(g.spec.from_json(self.params, device=device), res)

    def write(self, out_dir: str | os.PathLike, res_out: int | None = None,
              overwrite: bool = False) -> dict[str, Path]:
        """Write maps, render, params.json, comparison.png, loss_curve.png into ``out_dir``.

        Returns ``{name: path}``. Raises FileExistsError (naming the file) if any target
        exists and ``overwrite`` is false, before writing anything; and, whatever ``overwrite``
        says, :class:`~diffproxy.io.InputWouldBeOverwritten` if a target is the input photo.
        """
        from ..io import MAP_FORMATS
        from ..render import render

        res = int(res_out if res_out is not None else self.options.get("res_out", 2048))
        if not 8 <= res <= 16384:
            raise ValueError(f"res_out must be in [8, 16384], got {res}")
        out = Path(out_dir)
        own = output_paths(out)
        targets = list(own.values())
        refuse_inputs(targets, [self.photo_source])
        if not overwrite:
            for p in targets:
                if p.exists():
                    raise FileExistsError(exists_message(p))
        device = self.device if (self.device == "cpu" or torch.device(self.device).type != "cuda"
                                 or torch.cuda.is_available()) else "cpu"
        # the plot (Python-bound) in a thread beside the maps and render (torch, which lets
        # go of the GIL): about 2 s of a `fast` command's wall time on a 2-core CPU
        with ThreadPoolExecutor(1) as pool:
            curve = pool.submit(loss_curve_png, self.curves, own["loss_curve"], overwrite,
                                title=f"{self.graph} ({self.method})")
            maps = self.maps(res, device)
            with torch.no_grad():
                img = render(maps)
            paths = dict(save_maps({k: v for k, v in maps.items() if k in MAP_FORMATS}, out,
                                   overwrite=overwrite, extra={"render": img}))
            save_png(comparison_sheet(self.photo, img, maps), own["comparison"], 8, overwrite=overwrite)
            paths["comparison"] = own["comparison"]
            if curve.result():
                paths["loss_curve"] = own["loss_curve"]
        data = self.summary()
        data["res_out"] = res
        data["curves"] = _finite(self.curves)
        save_json(own["params"], data, overwrite=overwrite)
        paths["params"] = own["params"]
        return paths


def output_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """``{name: path}`` of every file :meth:`Result.write` writes into ``out_dir``."""
    from ..io import MAP_FORMATS

    out = Path(out_dir)
    names = ["params", "comparison", "loss_curve", "render", *MAP_FORMATS]
    return {n: out / (f"{n}.json" if n == "params" else f"{n}.png") for n in names}


def _tile(x: torch.Tensor, size: int = TILE) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(3, size, size)`` (gray repeated; area/bilinear resize)."""
    from ..descriptor import resize

    x = x[:1].detach().float().cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return resize(x, size)[0].clamp(0, 1)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    box = d.textbbox((4, 2), text)
    d.rectangle((0, 0, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    d.text((4, 2), text, fill=(255, 255, 255))
    return np.asarray(im)


def comparison_sheet(photo: torch.Tensor, render: torch.Tensor, maps: dict[str, torch.Tensor],
                     size: int = TILE) -> torch.Tensor:
    """photo | render | basecolor | normal | roughness | metallic as one labelled
    ``(3, size, 6 * size)`` image in [0, 1]."""
    tiles = [_tile(photo, size), _tile(render, size)] + [_tile(maps[k], size) for k in SHEET_LABELS[2:]]
    labelled = []
    for t, name in zip(tiles, SHEET_LABELS):
        a = (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        labelled.append(_label(a, name))
    sheet = np.concatenate(labelled, axis=1)
    return torch.from_numpy(sheet).permute(2, 0, 1).float() / 255.0


def loss_curve_png(curves: dict[str, list[float]], path: Path, overwrite: bool, title: str = "") -> bool:
    """Plot each stage's objective against a running step count; False if matplotlib is absent.
    Uses matplotlib's object API (no pyplot state), so it may run in a thread beside the maps."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    if path.exists() and not overwrite:
        raise FileExistsError(exists_message(path))
    fig = Figure(figsize=(7, 3.5), dpi=100)
    ax = fig.subplots()
    x0 = 0
    for name, c in curves.items():
        if not c:
            continue
        xs = np.arange(x0, x0 + len(c))
        ax.plot(xs, c, label=name)
        x0 += len(c)
    ax.set_yscale("log")
    ax.set_xlabel("step (search: candidates/generations)")
    ax.set_ylabel("stage objective")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return True
