"""The graph candidates of one run (``graph="auto"``, the preset's ``top_k``) optimised side by
side in worker processes, on a CPU.

Why: on a CPU each optimisation uses few threads (``device.auto_threads``: 1 on a 2-core
machine) because its tensors are small (96-256 px) and more threads mostly wait on each other,
so one run leaves cores idle while the graphs are optimised one after another. Running them in
separate processes (one interpreter each: Python's per-step overhead does not share a lock)
cuts the ``balanced`` preset's time by the length of one graph's optimisation (figures in
docs/BENCHMARKS.md).

Determinism: every graph draws from its own random generator (:func:`graph_generators`), so a
run gives the same result whether its graphs run one after another or side by side (same
threads per process, same device).

Workers are started with ``spawn`` (a fresh interpreter: forking a process whose OpenMP pool has
run can hang), receive the photo, the descriptor and the options, which carry the preset itself
(so a preset built at run time reaches them; no registry is written), and send progress events
back through a queue; the parent forwards them to the caller's callback and passes a cancel
request on within one step.

Jobs and results travel as bytes (:func:`_pack`), made in the sending thread. Handed to the pool
as tensors, they were pickled by the pool's feeder thread with torch's sharing reductions, which
move every tensor's storage to shared memory *in place*: the caller's photo and the cached
descriptor's weights had their memory swapped by a background thread while the caller's next run
read them (a cancelled run followed by another crashed the process with a segfault, once in CI).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import types
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import torch

from .control import Cancelled, Reporter
from .options import Options

# a seed stride between the graphs of one run (any fixed odd number keeps their streams apart)
_SEED_STRIDE = 1_000_003
# and between the restarts of one graph (the preset's ``restarts``)
RESTART_STRIDE = 7_919_993


def graph_generators(gen: torch.Generator, seed: int, k: int) -> list[torch.Generator]:
    """Random generators of the ``k`` graphs of a run: the first continues ``gen`` (the run's,
    after the ranking drew from it), graph ``i >= 1`` gets its own, seeded from ``seed`` and ``i``."""
    return [gen] + [torch.Generator().manual_seed(run_seed(seed, i) % 2 ** 63) for i in range(1, k)]


def restart_generators(gen: torch.Generator, base_seed: int, n: int) -> list[torch.Generator]:
    """Random generators of ``n`` restarts of one graph: the first is ``gen`` (so one restart is
    the run it always was), restart ``r >= 1`` gets its own, seeded from ``base_seed`` and ``r``."""
    return [gen] + [torch.Generator().manual_seed((base_seed + RESTART_STRIDE * r) % 2 ** 63) for r in range(1, n)]


def run_seed(seed: int, i: int) -> int:
    """The seed graph ``i`` of a run seeded ``seed`` derives its streams from (see
    :func:`graph_generators`; its restarts' too)."""
    return seed * _SEED_STRIDE + i


def plan(o: Options, k: int, device: torch.device, threads: int) -> int:
    """Worker processes for ``k`` graphs: ``o.workers`` if set (capped at ``k``), else as many as
    the CPU's cores hold at ``threads`` threads each; 1 (in-process) on a GPU or for one graph."""
    if k < 2 or device.type != "cpu":
        return 1
    if o.workers:
        return min(o.workers, k)
    return max(1, min(k, (os.cpu_count() or 1) // max(1, threads)))


@dataclass
class Job:
    """One graph's optimisation, as sent to a worker."""

    graph: str
    photo: torch.Tensor
    u: torch.Tensor
    options: Options  # its preset travels with it (one made at run time too)
    descriptor: Any
    generator_state: torch.Tensor
    search_seconds: float
    threads: int
    index: int = 0  # position in the run's list of jobs
    restart: int = 0  # which of the graph's restarts (the preset's ``restarts``)

    @property
    def prefix(self) -> str:
        return prefix(self.graph, self.restart)


def prefix(graph: str, restart: int = 0) -> str:
    """On every progress message of a graph's run, e.g. ``"[bricks] "``; ``"[bricks #2] "`` for
    its second restart."""
    return f"[{graph}] " if restart == 0 else f"[{graph} #{restart + 1}] "


_events: Any = None
_cancel: Any = None


def _init(events, cancel, parent: int) -> None:
    """A worker's start: the run's queue and cancel event, and a watch on ``parent`` (the pid
    that started it, passed in: a worker still starting when its parent was killed had already
    been handed to init, so it took init for its parent, watched that, and optimised on alone)."""
    global _events, _cancel
    _events, _cancel = events, cancel
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent is gone (killed, or Blender quit under the server), or was gone
    before it started, exits within half a second, busy or idle (an idle pool worker would
    otherwise wait for work forever)."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _pack(obj: Any) -> bytes:
    """``obj`` as bytes, its tensors copied by value (see the module's docstring for why)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _unpack(blob: bytes) -> Any:
    """The object :func:`_pack` made (our own bytes, from our own process or its worker)."""
    return torch.load(io.BytesIO(blob), weights_only=False)


def _work(blob: bytes) -> bytes:
    """A worker's task: one packed :class:`Job` in, its packed GraphRun out."""
    from ..graphs import get_graph
    from .fit import Fit
    from .graph_run import finish_graph, optimise_graph

    job: Job = _unpack(blob)
    torch.set_num_threads(max(1, job.threads))
    rep = Reporter(lambda ev: _events.put((job.index, ev)), _cancel.is_set)
    rep.prefix = job.prefix
    rep.message("fit", f"optimising graph {job.graph} with {job.options.method}")
    device = torch.device("cpu")
    fit = Fit(get_graph(job.graph), job.photo, job.options.preset, job.descriptor, device)
    gen = torch.Generator()
    gen.set_state(job.generator_state)
    run = finish_graph(optimise_graph(fit, job.u, job.options, rep, gen, job.search_seconds), job.options, rep)
    run.fit = None  # rebuilt in the parent (it holds the descriptor and the photo)
    return _pack(run)


@contextlib.contextmanager
def _main_script_hidden():
    """Start workers without the caller's main script. ``spawn`` normally re-imports it in every
    worker, so a script calling ``proceduralize`` at top level, without the
    ``if __name__ == "__main__":`` guard, would start workers from its workers and fail; ours
    need nothing from it (their code lives in this module)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def run_parallel(jobs: list[Job], workers: int, rep: Reporter) -> list:
    """Optimise ``jobs`` in ``workers`` processes; returns their GraphRuns (``fit`` unset) in
    order. Forwards progress to ``rep.progress`` (every graph's messages, the steps of one graph
    at a time: the first still running); raises what a worker raised, :class:`Cancelled`
    as soon as the caller asks (the workers stop at their next step, on their own), or a
    RuntimeError naming the fix if a worker died."""
    ctx = mp.get_context("spawn")
    events, cancel = ctx.Queue(), ctx.Event()

    def forward(timeout: float) -> bool:
        try:
            i, ev = events.get(timeout=timeout)
        except queue.Empty:
            return False
        # one progress bar: the steps of the first graph still running (the others' steps would
        # make a UI's bar jump between graphs); every graph's messages
        lead = next((j for j, f in enumerate(futures) if not f.done()), None)
        if rep.progress is not None and (i == lead or ev["message"] != jobs[i].prefix.strip()):
            rep.progress(ev)
        return True

    futures: list = []
    ex = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(events, cancel, os.getpid()))
    try:
        with _main_script_hidden():  # the processes start at the first submits
            futures += [ex.submit(_work, _pack(dataclasses.replace(job, index=i))) for i, job in enumerate(jobs)]
        while not all(f.done() for f in futures):
            # asked first: once the caller cancels, not one more event reaches it
            if rep.should_cancel is not None and rep.should_cancel():
                cancel.set()
                raise Cancelled("cancelled by the caller")
            forward(0.1)
        while forward(0.05):  # the events still on their way (a stage's last steps)
            pass
        return [_unpack(f.result()) for f in futures]
    except BrokenProcessPool as e:
        raise RuntimeError("a worker process optimising a graph stopped unexpectedly (killed, or out of "
                           "memory?); run again with one worker (--workers 1, or Options(workers=1))") from e
    finally:
        cancel.set()  # a worker still running (another one failed) stops at its next step
        _reap(ex, events, cancel)


def _reap(ex: ProcessPoolExecutor, *shared) -> None:
    """Shut ``ex`` down (its jobs not yet started are dropped) and wait for its workers to exit,
    in a background thread that holds ``shared`` (the queue and the event) until they have: a
    worker still starting when the run ends (cancelled early) opens them as it unpickles its
    arguments, and printed a FileNotFoundError traceback when the parent had already dropped
    (and so unlinked) them. The caller does not wait."""
    threading.Thread(target=lambda: (ex.shutdown(wait=True, cancel_futures=True), shared),
                     name="diffproxy-reap-workers", daemon=True).start()
