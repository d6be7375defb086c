"""The restarts' descents as one batch (``optimize.batching``, ``Options.batch``): each descent
gets what it gets alone, and a whole run the one-after-another result.

Real graphs, generators, renderer and descriptor at the test-sized preset (``optimize_common.TINY``).
The rows of a batch are computed together, so a convolution's last bits may differ from a run of
one row (on this CPU up to ~1e-7 relative in a gradient): results are compared to 1e-4, not bit
for bit; mixing up two descents' rows, patterns, windows or moments changes them by far more.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from diffproxy.optimize import Cancelled, Options, proceduralize
from diffproxy.optimize.control import Reporter
from optimize_common import TINY, _auto_two_graphs, _setup, tiny  # noqa: F401 (tiny: a fixture)


def _fits(n: int):
    """``n`` fits of one graph against one photo (as the restarts of a run have), and ``n``
    different starting points."""
    from diffproxy.optimize.fit import Fit

    fit, _, _, gen = _setup("bricks", seed=1)
    fits = [fit] + [Fit(fit.graph, fit.photo, fit.preset, fit.descriptor, fit.device) for _ in range(n - 1)]
    starts = [fit.normalize(fit.spec.sample(1, generator=gen, prior=True)) for _ in range(n)]
    return fits, starts


def _close(a, b, tol=1e-4):
    assert torch.allclose(a.u, b.u, atol=tol, rtol=0), (a.u - b.u).abs().max()
    assert abs(a.end - b.end) <= tol * max(1.0, abs(b.end)) and abs(a.start - b.start) <= tol * max(1.0, abs(b.start))
    assert len(a.curve) == len(b.curve)


def test_descents_in_one_batch_each_get_their_own_result():
    """Filters-only descents (Stage I/III, "detail"): each with its own patterns, starts (one has
    two rows), render offset and Adam moments; together as alone."""
    from diffproxy.optimize.descent import Descent, Moments, descend

    fits, starts = _fits(3)
    starts[1] = torch.cat([starts[1], starts[0]])  # two rows side by side, as Stage III's also_start
    jobs = []
    for i, (f, u) in enumerate(zip(fits, starts)):
        with torch.no_grad():
            pats = f.patterns(u)
        n = len(f.filter_idx)
        moments = Moments(torch.full((1, n), 0.01 * (i + 1)), torch.full((1, n), 1e-4 * (i + 1)), 5)
        offset = torch.full((1, 3, f.res, f.res), 0.02 * i)
        jobs.append(Descent(f, u, f.filter_idx, f.style, steps=6, lr=0.05, halve_every=None, reporter=Reporter(),
                            stage="stage3", patterns=pats, moments=moments, offset=offset))
    assert len({j.key() for j in jobs}) == 1
    together = descend(jobs)
    for job, got in zip(jobs, together):
        alone = descend([job])[0]
        _close(got, alone)
        assert torch.allclose(got.moments.m, alone.moments.m, atol=1e-5) and got.moments.steps == alone.moments.steps
        assert got.info["batched_with"] == 2 and "batched_with" not in alone.info
        assert got.info.get("starts") == alone.info.get("starts")
    # the three did not all end alike: the test compares different descents
    assert len({round(r.end, 6) for r in together}) == 3


def test_descents_in_one_batch_keep_their_own_count_windows():
    """Every parameter moving (as Stage II): a descent whose fit bounds a count keeps it in its
    window, the others are not bounded by it."""
    from diffproxy.optimize.descent import Descent, descend

    fits, starts = _fits(2)
    spec = fits[0].spec
    i = [p.name for p in spec].index("brick.rows")
    p = list(spec)[i]
    fits[1].set_windows({"brick.rows": (int(p.low) + 2, int(p.low) + 4)})
    for u in starts:
        u[0, i] = 1.0  # the most rows: outside fits[1]'s window
    idx = sorted(fits[0].filter_idx + fits[0].gen_idx)
    jobs = [Descent(f, u, idx, f.joint, steps=3, lr=0.02, halve_every=2, reporter=Reporter(), stage="stage2")
            for f, u in zip(fits, starts)]
    assert jobs[0].key() == jobs[1].key() is not None
    a, b = descend(jobs)
    _close(a, descend(jobs[:1])[0])
    _close(b, descend(jobs[1:])[0])
    # b's window moved its rows from the first step on: the same start on the unbounded fit
    # descends elsewhere
    free = descend([dataclasses.replace(jobs[1], fit=fits[0])])[0]
    assert free.curve[0] == pytest.approx(b.curve[0], rel=1e-5)
    assert all(abs(x - y) > 1e-4 for x, y in zip(free.curve[1:], b.curve[1:]))


def test_descents_that_differ_are_not_batched():
    from diffproxy.optimize.descent import Descent

    fits, starts = _fits(2)
    base = dict(steps=4, lr=0.05, halve_every=None, reporter=Reporter(), stage="stage1")
    a = Descent(fits[0], starts[0], fits[0].filter_idx, fits[0].style, **base)
    assert a.key() is not None
    assert Descent(fits[1], starts[1], fits[1].filter_idx, fits[1].style, **base).key() == a.key()
    assert Descent(fits[1], starts[1], fits[1].filter_idx, fits[1].joint, **base).key() != a.key()  # loss
    assert Descent(fits[1], starts[1], fits[1].filter_idx[1:], fits[1].style, **base).key() != a.key()
    assert Descent(fits[1], starts[1], fits[1].filter_idx, fits[1].style,
                   **{**base, "steps": 5}).key() != a.key()
    assert Descent(fits[1], starts[1], fits[1].filter_idx, fits[1].sharper().style, **base).key() is None  # other fit's loss
    assert Descent(fits[1], starts[1], fits[1].filter_idx, lambda img: fits[1].style(img), **base).key() is None
    assert Descent(fits[1], starts[1], fits[1].filter_idx, fits[1].style,
                   generators={"brick": lambda params, res: None}, **base).key() is None  # says not what it is


def test_batched_restarts_give_the_one_after_another_result(tiny):
    """A whole run, two graphs from three starts each: threads of one process, the restarts'
    descents batched, against the same run one job after another."""
    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, preset=dataclasses.replace(TINY, restarts=3))
    serial = proceduralize(photo, dataclasses.replace(o, batch="off"))
    events = []
    got = proceduralize(photo, dataclasses.replace(o, batch="on"), progress=events.append)
    assert got.graph == serial.graph and len(got.others) == len(serial.others) == 1
    assert got.others[0]["graph"] == serial.others[0]["graph"]
    for name, v in serial.params.items():
        if isinstance(v, float):
            assert abs(got.params[name] - v) <= 1e-3 * max(1.0, abs(v)), name
        else:
            assert got.params[name] == v, name
    rs, rg = serial.losses["restarts"], got.losses["restarts"]
    assert rg["kept"] == rs["kept"] and len(set(rs["style"])) == 3
    assert rg["style"] == pytest.approx(rs["style"], rel=1e-3)
    assert got.losses["final"]["style"] == pytest.approx(serial.losses["final"]["style"], rel=1e-3)
    # the descents did run together: 6 jobs, a few batches
    said = [e["message"] for e in events if "descents in" in e["message"]]
    assert len(said) == 1
    n, m = (int(w) for w in said[0].split() if w.isdigit())
    assert n >= 6 * 3 and m <= n // 3, said
    assert (sum(got.batches), len(got.batches)) == (n, m) and serial.batches is None  # the result says it too
    assert {e["message"].split("]")[0] + "]" for e in events if e["message"].startswith("[bricks")} == \
        {"[bricks]", "[bricks #2]", "[bricks #3]"}


def test_batched_run_cancels_every_thread(tiny):
    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, preset=dataclasses.replace(TINY, restarts=2), batch="on")
    stop = threading.Event()
    before = threading.active_count()

    def progress(ev):
        if ev["stage"] == "stage2" and ev["step"] >= 2:
            stop.set()

    with pytest.raises(Cancelled):
        proceduralize(photo, o, progress=progress, should_cancel=stop.is_set)
    assert threading.active_count() == before


def test_a_failing_job_does_not_hold_the_others():
    """A job that fails leaves the meeting: the others' descents go on, and the failure is raised
    once they end."""
    from diffproxy.optimize.batching import run_together
    from diffproxy.optimize.descent import adam

    fits, starts = _fits(2)
    done = []

    def good():
        r = adam(fits[0], starts[0], fits[0].filter_idx, fits[0].style, steps=3, lr=0.05, halve_every=None,
                 reporter=Reporter(), stage="stage1")
        done.append(r)
        return r

    def bad():
        raise ValueError("this job fails")

    with pytest.raises(ValueError, match="this job fails"):
        run_together([bad, good])
    assert len(done) == 1
    results, met = run_together([good, good])
    assert met.batches == [2] and results[0].info["batched_with"] == 1


def test_batch_option():
    assert Options().batch == "auto"
    with pytest.raises(ValueError, match="batch"):
        Options(batch="yes")


def test_a_job_that_fell_behind_catches_up():
    """Three jobs, one with an extra descent first: that one runs alone while the others wait,
    then all three descend together (not two and one to the end)."""
    from diffproxy.optimize.batching import run_together
    from diffproxy.optimize.descent import adam

    fits, starts = _fits(3)

    def job(i: int, extra: bool):
        def run():
            f, u = fits[i], starts[i]
            kw = dict(halve_every=None, reporter=Reporter(), stage="stage1")
            if extra:
                u = adam(f, u, f.filter_idx, f.style, steps=2, lr=0.05, **kw).u
            for steps in (3, 4):
                u = adam(f, u, f.filter_idx, f.style, steps=steps, lr=0.05, **kw).u
            return u
        return run

    _, met = run_together([job(0, False), job(1, False), job(2, True)])
    assert met.batches == [1, 3, 3]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_restarts_on_cuda(tiny):
    """On a GPU the batch is the default (``batch="auto"``): the same run as one job after
    another there, and no job's tensors left on the CPU."""
    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, preset=dataclasses.replace(TINY, restarts=3), device="cuda")
    serial = proceduralize(photo, dataclasses.replace(o, batch="off"))
    events = []
    got = proceduralize(photo, o, progress=events.append)
    said = [e["message"] for e in events if "descents in" in e["message"]]
    n, m = (int(w) for w in said[0].split() if w.isdigit())
    assert m <= n // 3, said  # the restarts' fits on the GPU share one photo: they batch
    assert got.graph == serial.graph and str(got.device).startswith("cuda")
    assert got.losses["restarts"]["style"] == pytest.approx(serial.losses["restarts"]["style"], rel=1e-3)
