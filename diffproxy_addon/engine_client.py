"""The engine child process, seen from Blender: start it lazily, talk JSON lines, never import torch.

One :class:`EngineClient` per Blender session (:func:`get_client`) is reused by every operator.
The child is ``<python> -u -m diffproxy.server``; it exits when its stdin closes, so it cannot
outlive Blender. If it cannot start (interpreter missing, no torch, no engine) or dies, every
pending request ends with one :class:`EngineError` whose message says what to do, and the next
request starts a fresh child.

This module does not import bpy: the add-on passes in what it knows (interpreter, add-on folder).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

# Where build.py puts the bundled engine inside the extension: <ext>/_engine/diffproxy
BUNDLED_ENGINE_DIR = "_engine"
START_TIMEOUT_S = 180.0  # importing torch from a cold disk can take a minute
CANCEL_GRACE_S = 0.5  # a cancelled request still running by then gets the child killed (< 1 s in all)


class EngineError(RuntimeError):
    """A failure the user can act on; ``str(e)`` is the message for ``self.report``."""

    def __init__(self, message: str, code: str = "failed", traceback: str = ""):
        super().__init__(message)
        self.code = code
        self.traceback = traceback


@dataclass
class Request:
    """One request in flight. Events arrive on :attr:`events` from the reader thread."""

    id: str
    cmd: str
    args: dict[str, Any]
    events: "queue.Queue[dict[str, Any]]" = field(default_factory=queue.Queue)
    result: dict[str, Any] | None = None
    error: EngineError | None = None
    done: threading.Event = field(default_factory=threading.Event)
    cancel_sent_at: float | None = None
    gen: int = 0  # which child process it was sent to

    @property
    def cancelled(self) -> bool:
        return self.error is not None and self.error.code == "cancelled"

    def drain(self) -> list[dict[str, Any]]:
        """Progress events received so far (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the request ends; returns the result or raises its :class:`EngineError`."""
        if not self.done.wait(timeout):
            raise EngineError(f"the engine did not answer {self.cmd!r} within {timeout:.0f} s", "timeout")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def engine_command(python: str, addon_dir: str) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of the child.

    ``python`` empty means Blender's own interpreter: the child then sees Blender's ``sys.path``
    (where Blender installed the extension's wheels: torch, Pillow, ...). With a user interpreter
    only the bundled engine (if present) is added, the rest comes from that Python's own
    site-packages.
    """
    env = dict(os.environ)
    paths = []
    bundled = os.path.join(addon_dir, BUNDLED_ENGINE_DIR)
    if os.path.isfile(os.path.join(bundled, "diffproxy", "__init__.py")):
        paths.append(bundled)
    if not python:
        python = sys.executable
        paths += [p for p in sys.path if p and os.path.isdir(p)]
        env.pop("PYTHONHOME", None)
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return [python, "-u", "-m", "diffproxy.server"], env


def diagnose_start(python: str, returncode: int | None, stderr_tail: str) -> str:
    """Turn a child that died during start-up into one message that says what to do."""
    where = "Preferences > Add-ons > DiffProxy > Python interpreter"
    if "No module named 'torch'" in stderr_tail:
        return (f"The DiffProxy engine could not start: the Python at {python} has no torch. "
                f"Install the full DiffProxy extension (with bundled torch), or set {where} to a "
                "Python that has torch installed (pip install torch).")
    if "No module named 'diffproxy'" in stderr_tail:
        return (f"The DiffProxy engine could not start: the Python at {python} cannot find the "
                f"diffproxy engine. Reinstall the extension, or run `pip install -e <repo>` in that "
                f"Python, or clear {where} to use Blender's own.")
    last = next((ln for ln in reversed(stderr_tail.splitlines()) if ln.strip()), "no output")
    return (f"The DiffProxy engine stopped (exit code {returncode}): {last.strip()[:300]}. "
            f"Check {where}; the engine log has the details. The next request starts it again.")


class EngineClient:
    """A lazily started engine child process with request routing and a stderr log."""

    def __init__(self, python: str, addon_dir: str, log_path: str | None = None):
        self.python = python
        self.addon_dir = addon_dir
        self.log_path = log_path or os.path.join(tempfile.gettempdir(), f"diffproxy-engine-{os.getpid()}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.hello: dict[str, Any] | None = None
        self.hello_request: Request | None = None
        self._pending: dict[str, Request] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=60)
        self._started_ok = False
        self._generation = 0
        self._released: set[int] = set()  # generations closed on purpose

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.alive and self.proc is not None else None

    def start(self) -> Request:
        """Start the child (if not running) and return its ``hello`` request (not awaited)."""
        if self.alive:
            raise RuntimeError("engine already running")
        argv, env = engine_command(self.python, self.addon_dir)
        python = argv[0]
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise EngineError(f"The Python interpreter {python!r} does not exist or is not "
                              "executable. Set Preferences > Add-ons > DiffProxy > Python "
                              "interpreter to a Python with torch, or clear it to use Blender's.",
                              "not_found")
        self._stderr_tail.clear()
        self._started_ok = False
        self._generation += 1
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, cwd=tempfile.gettempdir(), bufsize=0,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except OSError as e:
            raise EngineError(f"Could not run {python!r} ({e.strerror or e}). Set Preferences > "
                              "Add-ons > DiffProxy > Python interpreter to a working Python.",
                              "not_found") from e
        gen, proc = self._generation, self.proc
        threading.Thread(target=self._read_stdout, args=(proc, gen), daemon=True,
                         name="diffproxy-engine-out").start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True,
                         name="diffproxy-engine-err").start()
        self.hello_request = self._send("hello", {})
        return self.hello_request

    def ensure_started(self) -> None:
        """Start the child if it is not running (does not wait for it to be ready)."""
        if not self.alive:
            self.start()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Start if needed and wait for the engine's ``hello`` (versions, device, graphs)."""
        self.ensure_started()
        assert self.hello_request is not None
        return self.hello_request.wait(timeout)

    def close(self, timeout: float = 3.0) -> None:
        """Close the child's stdin (it exits), then make sure it is gone."""
        proc = self.proc
        if proc is None:
            return
        self._released.add(self._generation)
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        self._fail_pending(proc, self._generation, None)

    def kill(self) -> None:
        """Stop the child now (used when a cancel was not honoured in time)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    # --- requests -----------------------------------------------------------------------------
    def request(self, cmd: str, **args: Any) -> Request:
        """Send a request, starting the child first if needed. Never blocks on the engine."""
        self.ensure_started()
        return self._send(cmd, args)

    def call(self, cmd: str, timeout: float = START_TIMEOUT_S, **args: Any) -> dict[str, Any]:
        """Send a request and wait for its result (for quick commands)."""
        return self.request(cmd, **args).wait(timeout)

    def cancel(self, req: Request) -> None:
        """Ask the engine to stop ``req``; :meth:`enforce_cancel` kills it if it does not."""
        if req.done.is_set() or req.cancel_sent_at is not None:
            return
        req.cancel_sent_at = time.monotonic()
        if self.alive:
            try:
                self._send("cancel", {"target": req.id})
            except EngineError:
                pass

    def enforce_cancel(self, req: Request) -> bool:
        """Called while waiting: past the grace period kill the child. True when ``req`` ended."""
        if req.done.is_set():
            return True
        if req.cancel_sent_at is not None and time.monotonic() - req.cancel_sent_at > CANCEL_GRACE_S:
            self.kill()
            # ends first here; the reader thread then fails whatever else waited on that child
            self._finish(req, error=EngineError("Cancelled (the engine was stopped; it restarts "
                                                "on the next request).", "cancelled"))
            return True
        return False

    def _send(self, cmd: str, args: dict[str, Any]) -> Request:
        req = Request(id=f"r{next(self._ids)}", cmd=cmd, args=args, gen=self._generation)
        line = (json.dumps({"id": req.id, "cmd": cmd, **args}) + "\n").encode("utf-8")
        proc = self.proc
        if proc is None or proc.stdin is None:
            raise EngineError("The engine is not running.", "dead")
        with self._lock:
            self._pending[req.id] = req
        try:
            with self._write_lock:
                proc.stdin.write(line)
                proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            # the child is gone: fail what waits on it (the reader thread may have done so already)
            proc.wait()
            time.sleep(0.1)
            self._fail_pending(proc, req.gen, None)
        return req

    # --- reader threads -----------------------------------------------------------------------
    def _read_stdout(self, proc: subprocess.Popen[bytes], gen: int) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            try:
                ev = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                self._stderr_tail.append("(stdout) " + raw.decode("utf-8", "replace").rstrip())
                continue
            with self._lock:
                req = self._pending.get(ev.get("id"))
            if req is None:
                continue
            kind = ev.get("event")
            if kind == "progress":
                req.events.put(ev)
            elif kind == "result":
                if req.cmd == "hello":
                    self.hello = ev
                    self._started_ok = True
                self._finish(req, result=ev)
            elif kind == "error":
                if req.cmd == "hello":
                    self._started_ok = True  # it runs; the error says what is wrong inside
                self._finish(req, error=EngineError(ev.get("message") or "engine error",
                                                    ev.get("code") or "failed",
                                                    ev.get("traceback") or ""))
        proc.wait()
        time.sleep(0.1)  # let the stderr reader catch the last lines for the diagnosis
        self._fail_pending(proc, gen, None)

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        try:
            log = open(self.log_path, "a", encoding="utf-8")
        except OSError:
            log = None
        try:
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                self._stderr_tail.append(line)
                if log:
                    log.write(line + "\n")
                    log.flush()
        finally:
            if log:
                log.close()

    def _finish(self, req: Request, result: dict[str, Any] | None = None,
                error: EngineError | None = None) -> None:
        with self._lock:
            self._pending.pop(req.id, None)
        if req.done.is_set():
            return
        req.result, req.error = result, error
        req.done.set()

    def _fail_pending(self, proc: subprocess.Popen[bytes], gen: int, error: EngineError | None) -> None:
        """Child ``proc`` (generation ``gen``) ended: fail what waited on it, with one message."""
        if error is None:
            tail = "\n".join(self._stderr_tail)
            if gen in self._released:
                error = EngineError("The engine was released; run the command again to restart it.",
                                    "released", tail)
            elif self._started_ok:
                error = EngineError(
                    f"The DiffProxy engine stopped unexpectedly (exit code {proc.returncode}). "
                    "It starts again on the next request; the engine log "
                    f"({self.log_path}) has the details.", "dead", tail)
            else:
                error = EngineError(diagnose_start(self.python or sys.executable, proc.returncode, tail),
                                    "start_failed", tail)
        with self._lock:
            reqs = [r for r in self._pending.values() if r.gen == gen]
        for r in reqs:
            self._finish(r, error=error)


# --- one client per Blender session ------------------------------------------------------------
_client: EngineClient | None = None


def get_client(python: str, addon_dir: str) -> EngineClient:
    """The session's client; a different interpreter setting replaces (and stops) the old one."""
    global _client
    if _client is not None and (_client.python != python or _client.addon_dir != addon_dir):
        _client.close()
        _client = None
    if _client is None:
        _client = EngineClient(python, addon_dir)
    return _client


def current_client() -> EngineClient | None:
    return _client


def release() -> bool:
    """Stop the session's engine (frees its memory); True if one was running."""
    global _client
    was = _client is not None and _client.alive
    if _client is not None:
        _client.close()
    _client = None
    return was


def wait_pumping(req: Request, client: EngineClient, on_progress: Callable[[dict[str, Any]], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None, poll_s: float = 0.05) -> dict[str, Any]:
    """Blocking wait (background mode): forward progress, honour cancellation within 1 s."""
    while not req.done.wait(poll_s):
        for ev in req.drain():
            if on_progress:
                on_progress(ev)
        if should_cancel is not None and should_cancel():
            client.cancel(req)
        if req.cancel_sent_at is not None:
            client.enforce_cancel(req)
    for ev in req.drain():
        if on_progress:
            on_progress(ev)
    return req.wait(0)
