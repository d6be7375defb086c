"""Progress reporting and cancellation shared by every stage.

A :class:`Reporter` wraps the caller's ``progress(event)`` and ``should_cancel()``:

* ``event`` is a dict ``{"stage", "step", "total", "loss", "message"}`` (``loss`` a float or
  ``None``); events are throttled to one per ``interval`` seconds (default 0.2 s) except the
  first and last step of a stage and explicit messages, so a UI gets at least one every ~0.5 s
  while anything runs (every stage calls :meth:`Reporter.step` per step or per batch);
* ``should_cancel()`` is polled on every call; when it returns true :class:`Cancelled` is
  raised, so a run stops within one optimisation step (well under a second at every preset).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

ProgressFn = Callable[[dict[str, Any]], None]


class Cancelled(Exception):
    """The caller asked the run to stop (``should_cancel()`` returned true)."""


class Reporter:
    def __init__(self, progress: ProgressFn | None = None,
                 should_cancel: Callable[[], bool] | None = None, interval: float = 0.2) -> None:
        if progress is not None and not callable(progress):
            raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
        if should_cancel is not None and not callable(should_cancel):
            raise ValueError(f"should_cancel must be callable or None, got {type(should_cancel).__name__}")
        self.progress = progress
        self.should_cancel = should_cancel
        self.interval = float(interval)
        self._last = -math.inf
        self.prefix = ""  # e.g. "[bricks] " while one graph of several is optimised
        self._lock: threading.Lock | None = None  # made by child()

    def child(self, prefix: str) -> "Reporter":
        """A reporter for one of several threads of a run: the same callbacks (the progress one
        called under a lock), its own throttle and ``prefix``."""
        if self._lock is None:
            self._lock = threading.Lock()
        lock, progress = self._lock, self.progress

        def locked(event: dict[str, Any]) -> None:
            with lock:
                progress(event)  # type: ignore[misc]

        sub = Reporter(None if progress is None else locked, self.should_cancel, self.interval)
        sub.prefix = prefix
        return sub

    def check(self) -> None:
        """Raise :class:`Cancelled` if the caller asked to stop."""
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled("cancelled by the caller")

    def step(self, stage: str, step: int, total: int, loss: float | None = None,
             message: str = "", force: bool = False) -> None:
        """Poll for cancellation, then send a (throttled) progress event."""
        self.check()
        if self.progress is None:
            return
        now = time.perf_counter()
        if not (force or message or step in (0, total) or now - self._last >= self.interval):
            return
        self._last = now
        self.progress({"stage": stage, "step": int(step), "total": int(total),
                       "loss": None if loss is None or not math.isfinite(loss) else float(loss),
                       "message": (self.prefix + message) if message else self.prefix.strip()})

    def message(self, stage: str, message: str) -> None:
        self.step(stage, 0, 0, None, message, force=True)


class Span:
    """Reporter for one chunk of a longer stage: step ``k`` of the chunk is reported as step
    ``offset + k`` of the stage's ``total`` (one progress bar, not one per chunk)."""

    def __init__(self, reporter: Reporter, offset: int, total: int):
        self.reporter, self.offset, self.total = reporter, offset, total

    def step(self, stage: str, step: int, total: int, loss: float | None = None, message: str = "",
             force: bool = False) -> None:
        self.reporter.step(stage, self.offset + step, self.total, loss, message, force)

    def message(self, stage: str, message: str) -> None:
        self.reporter.message(stage, message)
