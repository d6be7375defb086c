"""Graphs and restarts side by side in worker processes: same bits as one after another, cancel, orphans.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from diffproxy.optimize import Cancelled, Options, proceduralize
from diffproxy.optimize.control import Reporter
from optimize_common import TINY, tiny, _setup, _auto_two_graphs  # noqa: F401 (tiny: a fixture)


def test_graphs_side_by_side_give_the_one_after_another_result(tiny):
    photo, serial = _auto_two_graphs(workers=1)
    a = proceduralize(photo, serial)
    events = []
    b = proceduralize(photo, _auto_two_graphs(workers=2)[1], progress=events.append)
    assert len(a.others) == len(b.others) == 1
    assert (b.graph, b.params, b.losses) == (a.graph, a.params, a.losses)
    assert b.others[0]["graph"] == a.others[0]["graph"]
    assert b.others[0]["final"] == a.others[0]["final"]
    # the graph not kept comes with its fitted parameters, complete and valid for its graph
    from diffproxy.graphs import get_graph
    spec = get_graph(a.others[0]["graph"]).spec
    assert b.others[0]["params"] == a.others[0]["params"] and set(a.others[0]["params"]) == set(spec.names)
    assert spec.to_json(spec.from_json(a.others[0]["params"])) == a.others[0]["params"]
    assert isinstance(a.others[0]["unusual"], list)
    assert a.summary()["other_graphs"][0]["params"] == a.others[0]["params"]
    # the workers' progress reaches the caller, each event tagged with its graph
    graphs = {a.graph, a.others[0]["graph"]}
    assert {g for g in graphs for e in events if e["message"].startswith(f"[{g}] ")} == graphs
    # steps of one graph at a time: a progress bar never goes back to a graph it left
    steps = [e["message"] for e in events if e["message"] in {f"[{g}]" for g in graphs}]
    runs = [m for i, m in enumerate(steps) if i == 0 or m != steps[i - 1]]
    assert steps and len(runs) == len(set(runs)), runs
    assert any("2 processes side by side" in e["message"] for e in events)
    # the caller's tensors are the caller's: sending them to the workers did not move their memory
    # (torch's queue pickling moved it to shared memory in place, from a background thread, while
    # the next run read the cached descriptor's weights: a segfault in CI)
    from diffproxy import descriptor

    assert not photo.is_shared()
    assert descriptor._CACHE and not any(p.is_shared() for d in descriptor._CACHE.values()
                                         for p in list(d.parameters()) + list(d.buffers()))


@pytest.mark.parametrize("workers", [1, 2])
def test_restarts_keep_each_graphs_best_run(tiny, workers):
    """With the preset's ``restarts``, each graph is optimised that many times from its own
    streams: the first is the one-restart run exactly; the kept one has the lowest look, and the
    result says which, with every restart's look; side by side or one after another alike."""
    import dataclasses

    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, graph="bricks", top_k=None)
    single = proceduralize(photo, o)
    o = dataclasses.replace(o, preset=dataclasses.replace(TINY, restarts=3))  # Options hold the preset itself
    events = []
    r = proceduralize(photo, dataclasses.replace(o, workers=workers), progress=events.append)
    rs = r.losses["restarts"]
    assert len(rs["style"]) == 3 and r.others == []
    assert rs["style"][0] == single.losses["final"]["style"]  # restart 1 is the run it always was
    assert len(set(rs["style"])) > 1  # the other streams searched elsewhere
    assert rs["kept"] == rs["style"].index(min(rs["style"])) and r.losses["final"]["style"] == min(rs["style"])
    assert rs["kept"] != 0 or r.params == single.params
    assert {e["message"].split("]")[0] + "]" for e in events if e["message"].startswith("[bricks")} == \
        {"[bricks]", "[bricks #2]", "[bricks #3]"}
    if workers == 2:
        serial = proceduralize(photo, dataclasses.replace(o, workers=1))
        assert (serial.params, serial.losses) == (r.params, r.losses)


@pytest.mark.parametrize("when", ["start", "stage1"])
def test_graphs_side_by_side_cancel(tiny, when):
    """A cancel reaches side-by-side graphs too, also while their workers are still starting:
    the parent raises at once (not one more event reaches the caller) and the workers, told to
    stop, exit. No wall-time bound: a garbage-collection pause of a long test process once took
    1.6 s here, which says nothing about the cancel."""
    import multiprocessing

    photo, o = _auto_two_graphs(workers=2)
    stop = threading.Event()
    after = []

    def progress(ev):
        if stop.is_set():
            after.append(ev)
        elif ("side by side" in ev["message"]) if when == "start" else (ev["stage"] == "stage1" and ev["step"] >= 2):
            stop.set()

    with pytest.raises(Cancelled):
        proceduralize(photo, o, progress=progress, should_cancel=stop.is_set)
    assert stop.is_set() and after == []
    deadline = time.monotonic() + 60
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


_CANCEL_SCRIPT = """
import threading, torch
from diffproxy.graphs import get_graph
from diffproxy.optimize import Cancelled, Options, proceduralize
from diffproxy.render import render

g = get_graph("bricks")
with torch.no_grad():
    photo = render(g.maps(g.spec.defaults(), 64))
stop = threading.Event()
for _ in range(2):
    stop.clear()
    try:
        proceduralize(photo, Options(graph="auto", preset="fast", top_k=2, workers=2, res_out=64, threads=1),
                      progress=lambda ev: "side by side" in ev["message"] and stop.set(),
                      should_cancel=stop.is_set)
    except Cancelled:
        print("cancelled", flush=True)
"""


def test_cancel_while_workers_start_prints_nothing(tmp_path):
    """Workers still starting when the run is cancelled must not print tracebacks (they did: the
    parent dropped the queue they were about to open) into Blender's console or a TD's log."""
    import subprocess

    script = tmp_path / "cancel_early.py"
    script.write_text(_CANCEL_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cancelled", "cancelled"]
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


_ORPHAN_SCRIPT = """
import multiprocessing, sys, torch
from diffproxy.graphs import get_graph
from diffproxy.optimize import Options, proceduralize
from diffproxy.render import render

g = get_graph("bricks")
with torch.no_grad():
    photo = render(g.maps(g.spec.defaults(), 64))
told = []

def progress(ev):
    if ev["stage"] == "stage1" and not told:
        told.append(1)
        print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)

if sys.argv[1] == "starting":  # the parent dies as soon as both workers are spawned
    import os, signal
    from diffproxy.optimize import workers

    class Pool(workers.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            if len(multiprocessing.active_children()) == 2:
                progress({"stage": "stage1"})
                os.kill(os.getpid(), signal.SIGKILL)
            return future

    workers.ProcessPoolExecutor = Pool

proceduralize(photo, Options(graph="auto", preset="fast", top_k=2, workers=2, res_out=64, threads=1),
              progress=progress)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("when", ["stage1", "starting"])
def test_workers_stop_when_their_parent_dies(tmp_path, when):
    """Blender quitting (or killing) the engine mid-run must not leave workers optimising, also
    when it happens while they are still starting (CI, session 18: such a worker went on alone);
    and a script without a main guard can start them."""
    import os
    import signal
    import subprocess

    script = tmp_path / "unguarded.py"  # no `if __name__ == "__main__"`: workers must start anyway
    script.write_text(_ORPHAN_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), when], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the workers' pids, once a graph has started Stage I (or spawned)
        pids = [int(x) for x in line.split()]
        assert len(pids) == 2, line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    deadline = time.monotonic() + 20
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    assert not alive, f"workers {alive} still running after their parent was killed"


def test_worker_started_after_its_parent_died_exits():
    """A worker that finishes starting after its parent was killed (CI, session 18: it took
    init for its parent and optimised a whole graph alone) exits at once."""
    import subprocess

    code = ("import os, time\n"
            "from diffproxy.optimize.workers import _init\n"
            "_init(None, None, os.getppid() + 1)  # not our parent: as if it had died\n"
            "time.sleep(60)\n")
    t = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert time.monotonic() - t < 50  # well before the sleep's end (no tighter: imports vary)


def test_worker_plan():
    from diffproxy.optimize.workers import plan

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert plan(Options(), 1, cpu, 1) == 1 and plan(Options(), 3, gpu, 1) == 1
    assert plan(Options(workers=4), 3, cpu, 1) == 3 and plan(Options(workers=1), 3, cpu, 1) == 1
    assert 1 <= plan(Options(), 2, cpu, 1) <= 2
    with pytest.raises(ValueError, match="workers"):
        Options(workers=-1)


def test_best_restart_keeps_the_lowest_look_and_says_so():
    from diffproxy.optimize.result import GraphRun, best_restart

    def run(style, seconds, settled=None, final_from="stage3"):
        r = GraphRun("bricks", final={"style": style, "feature": 1.0}, seconds=seconds, final_from=final_from)
        r.settled = settled
        return r

    # the look: Stage "detail"'s when it ran, else the settle's judge's, else the fit's own
    assert run(0.5, 1, {"style": {"stage1": 0.2, "stage3": 0.3}}).look == 0.3
    assert run(0.5, 1, {"style": {"stage1": 0.2, "stage3": 0.3}}, "detail").look == 0.5
    assert run(0.5, 1).look == 0.5
    one = run(0.4, 2.0)
    assert best_restart([one]) is one and one.restarts is None and one.seconds == 2.0
    runs = [run(0.4, 2.0), run(0.5, 1.0, {"style": {"stage3": 0.1}}), run(0.1, 3.0), run(0.1, 4.0)]
    best = best_restart(runs)
    assert best is runs[1]  # judged by its settled look (0.1), the first of the ties
    assert best.restarts == {"style": [0.4, 0.1, 0.1, 0.1], "kept": 1}
    assert best.seconds == 10.0


def test_restart_generators_keep_the_first_stream_and_part_the_others():
    from diffproxy.optimize.workers import restart_generators

    g = torch.Generator().manual_seed(5)
    gens = restart_generators(g, 11, 3)
    assert gens[0] is g and len(gens) == 3
    draws = [float(torch.rand(1, generator=x)) for x in gens[1:]]
    again = [float(torch.rand(1, generator=x)) for x in restart_generators(g, 11, 3)[1:]]
    assert draws == again and draws[0] != draws[1]
    assert restart_generators(g, 11, 1) == [g]


def test_same_run_same_bits_on_two_threads():
    """Same seed, same inputs, same device and threads: the same result to the last bit. On two
    threads MKL's matrix products varied with their inputs' memory alignment (from the 2nd of
    repeated runs in one process, ~1e-7 relative, which the searches amplified) until
    ``diffproxy`` set ``MKL_CBWR``."""
    import os

    from diffproxy.optimize.baselines import match
    from diffproxy.optimize.paper import filter_search

    assert os.environ.get("MKL_CBWR")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fit, _, u_s, _ = _setup("bricks", seed=0)
        curves = []
        for _ in range(4):
            fs = filter_search(fit, u_s, 4, Reporter(), torch.Generator().manual_seed(0), stage="match")
            curves.append(match(fit, fs.u, Reporter(), 30, 0.01).curve)
    finally:
        torch.set_num_threads(threads)
    assert all(c == curves[0] for c in curves[1:])


def test_best_graph_keeps_the_lowest_look_unless_the_graph_ranked_first_ties_with_it():
    from diffproxy.optimize.result import LOOK_TIE, GraphRun, best_graph

    def run(graph, style):
        return GraphRun(graph, final={"style": style, "feature": 1.0}, seconds=1.0, final_from="detail")

    # runs come in the ranking's order; a clearly better look wins whatever the rank
    ranked = [run("ceramic_tiles", 0.0912), run("wood_planks", 0.0597)]
    assert best_graph(ranked) is ranked[1]
    # within LOOK_TIE of the lowest: the same look, so the graph ranked first stays
    tie = [run("stone", 0.0472), run("aggregate", 0.0467)]
    assert 0.0472 <= 0.0467 * (1 + LOOK_TIE) and best_graph(tie) is tie[0]
    # the first of several tied graphs by rank, not the lowest of them
    three = [run("a", 0.200), run("b", 0.1000), run("c", 0.1010)]
    assert best_graph(three) is three[1]
    assert best_graph([run("b", 0.1010), run("c", 0.1000)]).graph == "b"
    # looks after step "relief": the tie widened by its tolerance (it spent up to that per graph)
    from diffproxy.optimize.result import look_tie

    def relieved(graph, style, tolerance=0.02):
        r = run(graph, style)
        r.final_from, r.stages = "relief", {"relief": {"style": style, "tolerance": tolerance}}
        return r

    after = [relieved("stone", 0.0477), relieved("aggregate", 0.0466)]
    assert look_tie(after) == pytest.approx((1 + LOOK_TIE) * 1.02 - 1) and best_graph(after) is after[0]
    between = 0.0466 * (1 + LOOK_TIE) * 1.01  # beyond the plain tie, within the one widened by the relief
    assert best_graph([run("stone", between), run("aggregate", 0.0466)]).graph == "aggregate"
    assert best_graph([relieved("stone", between), relieved("aggregate", 0.0466)]).graph == "stone"
    beyond = 0.0466 * (1 + LOOK_TIE) * 1.03
    assert best_graph([relieved("stone", beyond), relieved("aggregate", 0.0466)]).graph == "aggregate"
    assert best_graph([run("b", 0.1000 * (1 + LOOK_TIE) * 1.01), run("c", 0.1000)]).graph == "c"  # not a tie
    # the tie is the looks' measured noise (session 35), not a rounding margin
    assert 0.1 <= LOOK_TIE <= 0.2


def test_best_graph_keeps_the_joints_the_photo_shows():
    """Where the photo shows joints (Stage "layout" read a polarity and a count), a fitted graph
    whose render has them the other way round (light grout for dark) loses to one that has them
    the photo's way, whatever their looks; the comparison is recorded on each run."""
    from diffproxy.optimize.result import best_graph

    run = _grout_runs()

    seen = {"polarity": -1, "rows": 3.0, "per_row": 3.0}
    dark, light = run(0.05, 0.09, seen), run(0.95, 0.05, seen)
    assert best_graph([light, dark]) is dark
    assert dark.joints == {"photo": -1, "render": -1, "agree": True} and light.joints["agree"] is False
    # without joints on the photo the look decides as before
    dark, light = run(0.05, 0.09, {"polarity": 0, "rows": 3.0}), run(0.95, 0.05, {"polarity": 0, "rows": 3.0})
    assert best_graph([dark, light]) is light and dark.joints is None
    # when no fitted graph has them the photo's way, none is ruled out
    light2 = run(0.9, 0.04, seen)
    assert best_graph([run(0.95, 0.05, seen), light2]) is light2


def test_best_graph_rules_out_a_family_whose_units_never_have_the_photos_shape():
    """Where the photo's layout read both counts, a fitted graph whose prior gives that unit
    shape less than SHAPE_SHARE is out, whatever its look (square boards as wood planks on a
    floor of square tiles); graphs without units in rows are not; the shape is recorded."""
    from diffproxy.optimize.result import SHAPE_SHARE, GraphRun, best_graph

    def run(graph, style, layout):
        return GraphRun(graph, final={"style": style, "feature": 1.0}, seconds=1.0, final_from="detail",
                        stages={"layout": layout} if layout else {})

    square = {"polarity": 0, "rows": 2.0, "per_row": 2.0}
    tiles, planks = run("ceramic_tiles", 0.12, square), run("wood_planks", 0.08, square)
    assert best_graph([tiles, planks]) is tiles
    assert planks.shape["share"] < SHAPE_SHARE <= tiles.shape["share"] and tiles.shape["aspect"] == 1.0
    # long units: the planks' shape; the lower look wins as before
    long = {"polarity": 0, "rows": 8.0, "per_row": 1.3}
    assert best_graph([run("ceramic_tiles", 0.12, long), run("wood_planks", 0.08, long)]).graph == "wood_planks"
    # a graph with no units in rows has no shape to miss: square tiles may still be stone
    assert best_graph([run("wood_planks", 0.08, square), run("stone", 0.10, square)]).graph == "stone"
    # only one count read: no shape, the look decides
    one = {"polarity": 0, "rows": 2.0}
    assert best_graph([run("ceramic_tiles", 0.12, one), run("wood_planks", 0.08, one)]).graph == "wood_planks"
    # when no fitted graph holds the shape, none is ruled out
    both = [run("wood_planks", 0.12, square), run("wood_planks", 0.08, square)]
    assert best_graph(both) is both[1]


def test_one_graph_gets_the_fits_of_the_graphs_not_fitted(tiny):
    """A preset's fits (top_k graphs x restarts) go to the graphs it fits: with one graph (asked
    for, or the only likely one) a two-graph preset fits it from two random streams, the first
    the one-restart run exactly (``Preset.restarts_for``)."""
    import dataclasses

    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, graph="bricks", top_k=None)
    single = proceduralize(photo, o)  # TINY: top_k 1, one fit
    r = proceduralize(photo, dataclasses.replace(o, preset=dataclasses.replace(TINY, top_k=2)))
    assert len(r.losses["restarts"]["style"]) == 2
    assert r.losses["restarts"]["style"][0] == single.losses["final"]["style"]
    assert r.losses["final"]["style"] == min(r.losses["restarts"]["style"])


def test_best_restart_keeps_the_joints_the_photo_shows():
    """Among one graph's restarts, as among graphs: where the photo shows dark joints, a
    restart whose render has light ones is out whatever its look; the kept restart and every
    restart's joints are recorded."""
    from diffproxy.optimize.result import best_restart

    runs = _grout_runs()

    def run(grout_value, style, polarity=-1):
        return runs(grout_value, style, {"polarity": polarity, "rows": 3.0, "per_row": 3.0})

    restarts = [run(0.95, 0.05), run(0.05, 0.09)]
    best = best_restart(restarts)
    assert best is restarts[1] and best.restarts["kept"] == 1 and best.restarts["style"] == [0.05, 0.09]
    assert [j["agree"] for j in best.restarts["joints"]] == [False, True] and best.seconds == 2.0
    # no joints on the photo: the lower look, as before, and nothing recorded about joints
    plain = [run(0.95, 0.05, polarity=0), run(0.05, 0.09, polarity=0)]
    assert best_restart(plain) is plain[0] and "joints" not in plain[0].restarts


def _grout_runs():
    """``run(grout_value, style, layout)``: GraphRuns of 3 x 3 ceramic tiles on one fit whose
    photo has dark grout (0.05), the run's grout that value, its look ``style``, its Stage
    "layout" ``layout`` (none where falsy): for the joint rules of best_graph and best_restart."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize import PRESETS
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.result import GraphRun
    from diffproxy.render import render

    g = get_graph("ceramic_tiles")

    def params(grout_value):
        p = g.spec.defaults()
        p["tiles.tiles_x"], p["tiles.tiles_y"] = torch.tensor([3.0]), torch.tensor([3.0])
        p["tiles.gap"], p["color.grout.value"] = torch.tensor([0.06]), torch.tensor([grout_value])
        p["color.tile.value"] = torch.tensor([0.6])
        return p

    with torch.no_grad():
        photo = render(g.maps(params(0.05), 256)).clamp(0, 1)  # dark grout
    fit = Fit(g, photo, PRESETS["fast"], get_descriptor("random"), torch.device("cpu"))

    def run(grout_value, style, layout):
        r = GraphRun("ceramic_tiles", final={"style": style, "feature": 1.0}, seconds=1.0, final_from="stage3",
                     stages={"stage3": {"maps_px": 256}, **({"layout": layout} if layout else {})})
        r.fit, r.u = fit, fit.normalize(params(grout_value))
        return r

    return run
