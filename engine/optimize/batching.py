"""The restarts of a graph descending together: one batch instead of one run after another
(``Options.batch``; on a GPU by default).

``full`` optimises each graph from 4 random streams (the preset's ``restarts``). On a CPU these
run side by side in worker processes (``workers``); on a GPU one process ran them one after
another, each descent a batch of one or two rows: a GPU's time then goes to launching small
kernels, not to computing. Here every job (graph x restart) runs in its own thread, with its own
random streams, exactly the code it runs alone; each call of ``descent.adam`` (Stages I, II, III,
"detail": most of a run's time) waits until every live thread is waiting too, and the calls that
ask for the same descent (``descent.Descent.key``: same graph, photo, parameters, schedule and
loss) are run as one batch of all their rows (``descent.descend``). The rows of a batch are
independent, so each descent gives what it gives alone, up to the last bits of a batched
convolution (``tests/test_optimize_batching``), which a whole run amplifies as it does any other
change of arithmetic order (a thread count's): the same graph and kept restart on the project's
photo at ``full``, single restarts' looks apart by up to a fifth (docs/BENCHMARKS.md, issue 29).
What stays per thread: the searches, their decisions and every random draw.

Jobs that reach a descent at different points of their plan (one restart swapped its colours,
another did not) descend apart: the fewest first, so that the jobs behind catch up with the
others at their next descent (``Together._take_if_ready``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .descent import Descent, StageResult, descend

_local = threading.local()


def current() -> "Together | None":
    """The :class:`Together` of this thread's run (``None`` outside :func:`run_together`)."""
    return getattr(_local, "together", None)


@dataclass
class _Call:
    job: Descent
    result: StageResult | None = None
    error: BaseException | None = None
    done: bool = False


class Together:
    """Where the threads of one run meet: :meth:`submit` blocks until every live thread waits
    in it, then runs the waiting descents, grouped by key, one batch per group."""

    def __init__(self, live: int) -> None:
        self._cv = threading.Condition()
        self._live = live  # threads not yet ended: all counted before any can wait alone
        self._waiting: list[_Call] = []
        self.batches: list[int] = []  # jobs per batch run, in order (for reports and tests)

    def _leave(self) -> None:
        with self._cv:
            self._live -= 1
            ready = self._take_if_ready()
        self._run(ready)

    def submit(self, job: Descent) -> StageResult:
        call = _Call(job)
        with self._cv:
            self._waiting.append(call)
            ready = self._take_if_ready()
        self._run(ready)
        with self._cv:
            while not call.done:
                self._cv.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _take_if_ready(self) -> list[list[_Call]]:
        """Under the lock: once every live thread waits, the groups of waiting calls to run now
        (they are this thread's to run: no other thread can move until they are done). Where
        the calls ask for different descents, only the smallest groups run: the jobs that fell
        behind (one swapped its colours, another did not) go on alone to their next descent,
        where the others still wait for them, instead of staying a step out of line to the end."""
        if not self._waiting or len(self._waiting) < self._live:
            return []
        groups: dict[Any, list[_Call]] = {}
        for c in self._waiting:
            try:
                key = c.job.key()
            except Exception:  # a key that cannot be made: that descent runs alone
                key = None
            groups.setdefault(("alone", id(c)) if key is None else key, []).append(c)
        least = min(len(g) for g in groups.values())
        ready = [g for g in groups.values() if len(g) == least]
        self._waiting = [c for g in groups.values() if len(g) != least for c in g]
        return ready

    def _run(self, groups: list[list[_Call]]) -> None:
        for group in groups:
            self.batches.append(len(group))
            try:
                results = descend([c.job for c in group])
                for c, r in zip(group, results):
                    c.result = r
            except BaseException as e:  # every thread of the batch raises it (a cancel, a full GPU)
                for c in group:
                    c.error = e
            finally:  # whatever happened, no thread is left waiting for it
                with self._cv:
                    for c in group:
                        c.done = True
                    self._cv.notify_all()


def run_together(tasks: Sequence[Callable[[], Any]]) -> tuple[list[Any], Together]:
    """Run ``tasks`` (functions of no arguments) each in its own thread, their descents
    together; returns their results in order and the :class:`Together` (its ``batches``). The
    first exception of a task is raised once all have ended."""
    together = Together(len(tasks))
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)

    def work(i: int) -> None:
        _local.together = together
        try:
            results[i] = tasks[i]()
        except BaseException as e:
            errors[i] = e
        finally:
            _local.together = None
            together._leave()

    threads = [threading.Thread(target=work, args=(i,), name=f"diffproxy-job-{i}", daemon=True)
               for i in range(len(tasks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        if e is not None:
            raise e
    return results, together
