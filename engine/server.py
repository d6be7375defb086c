"""JSON-lines subprocess server: the engine side of the Blender add-on's protocol.

Run as ``python -m diffproxy.server`` or ``diffproxy serve``. The add-on starts one per Blender
session and keeps it; Blender's own process never imports torch.

Protocol
--------
* One JSON object per line, UTF-8. Requests arrive on stdin, events leave on stdout; stderr is a
  free-form log. Anything else that prints (a library's ``print``) is sent to stderr, so stdout
  carries protocol lines only.
* Request: ``{"id": <str or int>, "cmd": <name>, ...arguments}``.
* Event: ``{"id": <request id>, "event": "progress" | "result" | "error", ...}``. Every request
  ends with exactly one ``result`` or ``error``; long requests send ``progress`` before that.
* ``error`` carries ``message`` (one paragraph a user can act on), ``code`` (``"cancelled"``,
  ``"bad_request"``, ``"not_found"``, ``"out_of_memory"``, ``"failed"``) and ``traceback`` (for
  the log; empty for requests refused before running).
* Large arrays travel as files: maps are PNG files written into the request's ``out_dir``; an
  input image is a file path (``image``) or a ``.npy`` pixels file (``pixels``).

Commands (arguments -> ``result`` fields)
-----------------------------------------
``hello`` -> ``protocol, engine_version, torch_version, python, pid, device, engine_path,
    graphs`` (``graphs``: ``[{name, description}]``; ``engine_path``: where diffproxy loaded from).
``describe`` ``graph`` -> ``graph, description, spec_hash, slots, params, groups``
    (``params``: :meth:`Param.describe` list in spec order; ``groups``: ``[{name, params}]`` in
    order of first appearance).
``synthesize`` ``graph, params, resolution, out_dir [, overwrite=false, render=false,
    device="auto"]`` -> ``graph, resolution, params, paths, timings, patterns_cached``.
    Parameters are validated with :meth:`ParamSpec.from_json` (every problem listed). The
    generator outputs of the last few (graph, resolution, generator parameters) are cached, so
    an edit that only touches filter parameters skips the generators.
``proceduralize`` ``image | pixels, out_dir [, options={graph, preset, method, device, res_out,
    seed, ...: any field of optimize.Options, e.g. top_k, workers}, overwrite=false]`` ->
    ``graph, params, losses, timings, paths, ranking, other_graphs`` (``ranking``: every graph
    scored, best first; ``other_graphs``: the other graphs optimised, with their final losses;
    progress events carry ``stage, step, total, loss, message``).
``cancel`` ``target`` -> ``cancelled`` (whether the target was queued or running). The target
    request then ends with an ``error`` whose code is ``"cancelled"``.
``shutdown`` -> ``{}``, then the server exits. It also exits when stdin closes.

Long requests (synthesize, proceduralize) run one at a time on a worker thread, in arrival
order; the main thread keeps reading stdin so ``cancel`` is seen at once. Cancellation is
cooperative: the pipeline polls ``should_cancel`` between steps and ``synthesize`` between its
stages. A client that needs a hard deadline kills the process and starts a new one.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

PROTOCOL = 1
LONG_COMMANDS = ("synthesize", "proceduralize")
PATTERN_CACHE_SIZE = 2  # (graph, res, generator params) entries; one 4K slot is 64 MiB

log = logging.getLogger("diffproxy.server")


class RequestError(Exception):
    """A request the user (or the add-on) can fix; ``code`` says which kind."""

    def __init__(self, message: str, code: str = "bad_request"):
        super().__init__(message)
        self.code = code


class _Cancelled(Exception):
    """Raised inside a job when its request was cancelled."""


# --- output ----------------------------------------------------------------------------------
class _Writer:
    """Thread-safe JSON-lines writer on a private copy of the original stdout."""

    def __init__(self, stream: Any):
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=_jsonable, allow_nan=False) + "\n"
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.closed = True  # the client is gone; the main loop exits on stdin EOF


def _jsonable(x: Any) -> Any:
    """``json.dumps`` fallback: paths, tensors, numpy values, dataclass-like objects."""
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if hasattr(x, "detach") and hasattr(x, "tolist"):  # torch tensor
        v = x.detach().cpu()
        return v.item() if v.numel() == 1 else v.tolist()
    if hasattr(x, "tolist"):  # numpy array or scalar
        return x.tolist()
    if hasattr(x, "name") and isinstance(getattr(x, "name"), str):  # a graph object
        return x.name
    if isinstance(x, (set, tuple)):
        return list(x)
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def _finite(x: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(x, float):
        return x if x == x and x not in (float("inf"), float("-inf")) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


# --- errors a user can act on ----------------------------------------------------------------
def user_message(exc: BaseException) -> tuple[str, str]:
    """Exception -> (message for the user, code)."""
    if isinstance(exc, RequestError):
        return str(exc), exc.code
    name = type(exc).__name__
    if isinstance(exc, _Cancelled) or name == "Cancelled":
        return "Cancelled.", "cancelled"
    text = str(exc).strip() or name
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (f"The engine ran out of memory ({text.splitlines()[0]}). Try a lower resolution, "
                "the 'fast' preset, or device 'cpu' in the add-on preferences.", "out_of_memory")
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or text}. Check the path and try again.", "not_found"
    if isinstance(exc, FileExistsError):
        return text, "bad_request"
    if isinstance(exc, KeyError):  # registries raise KeyError with a full sentence
        return text.strip("'\""), "bad_request"
    if isinstance(exc, ValueError):  # ParamError is a ValueError with a fixable message
        return text, "bad_request"
    return (f"The engine failed: {name}: {text.splitlines()[0]} (the full traceback is in the "
            "engine log).", "failed")


# --- jobs ------------------------------------------------------------------------------------
class Job:
    def __init__(self, req_id: Any, cmd: str, args: dict[str, Any]):
        self.id = req_id
        self.cmd = cmd
        self.args = args
        self.cancelled = threading.Event()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise _Cancelled()


class Server:
    def __init__(self, out: _Writer):
        self.out = out
        self.jobs: "queue.Queue[Job | None]" = queue.Queue()
        self.pending: dict[Any, Job] = {}  # queued or running, by request id
        self.lock = threading.Lock()
        self.patterns: "collections.OrderedDict[tuple, dict]" = collections.OrderedDict()
        self.scratch = Path(tempfile.mkdtemp(prefix="diffproxy-server-"))
        self.worker = threading.Thread(target=self._work, name="diffproxy-worker", daemon=True)
        self.worker.start()

    # --- main loop (main thread) --------------------------------------------------------------
    def serve(self, stdin: Any) -> None:
        try:
            for raw in stdin:
                line = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else raw.strip()
                if not line:
                    continue
                if self.handle_line(line) == "shutdown":
                    break
        finally:
            self.stop()

    def handle_line(self, line: str) -> str | None:
        try:
            req = json.loads(line)
        except json.JSONDecodeError as e:
            self.out.send({"id": None, "event": "error", "code": "bad_request", "traceback": "",
                           "message": f"request is not valid JSON ({e}): {line[:200]!r}"})
            return None
        if not isinstance(req, dict) or "id" not in req or not isinstance(req.get("cmd"), str):
            self.out.send({"id": req.get("id") if isinstance(req, dict) else None, "event": "error",
                           "code": "bad_request", "traceback": "",
                           "message": 'a request is a JSON object with "id" and "cmd"'})
            return None
        req_id, cmd = req["id"], req["cmd"]
        args = {k: v for k, v in req.items() if k not in ("id", "cmd")}
        log.info("request %s %s", req_id, cmd)
        if cmd in LONG_COMMANDS:
            job = Job(req_id, cmd, args)
            with self.lock:
                self.pending[req_id] = job
            self.jobs.put(job)
            return None
        handler = {"hello": self.hello, "describe": self.describe, "cancel": self.cancel,
                   "shutdown": lambda a: {}}.get(cmd)
        if handler is None:
            self._error(req_id, RequestError(
                f"unknown command {cmd!r}; known: hello, describe, synthesize, proceduralize, "
                "cancel, shutdown"), "")
            return None
        try:
            self._result(req_id, handler(args))
        except Exception as e:  # noqa: BLE001 - every failure becomes an error event
            self._error(req_id, e, traceback.format_exc())
        return "shutdown" if cmd == "shutdown" else None

    def stop(self) -> None:
        with self.lock:
            for job in self.pending.values():
                job.cancelled.set()
        self.jobs.put(None)
        self.worker.join(timeout=2.0)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # --- events -------------------------------------------------------------------------------
    def _result(self, req_id: Any, data: dict[str, Any]) -> None:
        self.out.send({"id": req_id, "event": "result", **_finite(data)})

    def _error(self, req_id: Any, exc: BaseException, tb: str) -> None:
        message, code = user_message(exc)
        if code != "cancelled" and tb:
            log.error("request %s failed:\n%s", req_id, tb)
        self.out.send({"id": req_id, "event": "error", "code": code, "message": message,
                       "traceback": tb if code != "cancelled" else ""})

    # --- worker thread ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            t0 = time.perf_counter()
            try:
                job.check()  # cancelled while queued
                fn = self.synthesize if job.cmd == "synthesize" else self.proceduralize
                data = fn(job)
                job.check()
                self._result(job.id, data)
            except BaseException as e:  # noqa: BLE001 - reported, the worker keeps serving
                self._error(job.id, e, traceback.format_exc())
            finally:
                with self.lock:
                    self.pending.pop(job.id, None)
                log.info("request %s %s done in %.2f s", job.id, job.cmd, time.perf_counter() - t0)

    # --- commands -----------------------------------------------------------------------------
    def hello(self, args: dict[str, Any]) -> dict[str, Any]:
        import torch

        from . import __version__
        from .device import pick_device
        from .graphs import GRAPHS
        return {"protocol": PROTOCOL, "engine_version": __version__,
                "torch_version": torch.__version__, "python": sys.version.split()[0],
                "pid": os.getpid(), "device": str(pick_device("auto")),
                "engine_path": str(Path(__file__).resolve().parent),
                "graphs": [{"name": g.name, "description": g.description} for g in GRAPHS.values()]}

    def describe(self, args: dict[str, Any]) -> dict[str, Any]:
        graph = _graph(args)
        params = graph.spec.describe()
        groups: dict[str, list[dict[str, Any]]] = {}
        for p in params:
            groups.setdefault(p["group"], []).append(p)
        return {"graph": graph.name, "description": graph.description,
                "spec_hash": graph.spec.hash(), "slots": dict(graph.slots), "params": params,
                "groups": [{"name": k, "params": v} for k, v in groups.items()]}

    def cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        if "target" not in args:
            raise RequestError('cancel needs "target": the id of the request to cancel')
        with self.lock:
            job = self.pending.get(args["target"])
        if job is not None:
            job.cancelled.set()
        return {"cancelled": job is not None}

    def synthesize(self, job: Job) -> dict[str, Any]:
        import torch

        from .device import pick_device
        from .io import save_maps
        a = job.args
        graph = _graph(a)
        res = a.get("resolution")
        if not (isinstance(res, int) and not isinstance(res, bool) and 8 <= res <= 16384):
            raise RequestError(f"resolution must be a whole number of pixels in [8, 16384], got {res!r}")
        out_dir = _out_dir(a)
        device = pick_device(str(a.get("device", "auto")))
        params = graph.spec.from_json(a.get("params") or {}, strict=True, device=device)
        times: dict[str, float] = {}
        t = time.perf_counter()
        gen_names = [p.name for p in graph.spec if p.role == "generator"]
        key = (graph.name, res, str(device), tuple(float(params[n]) for n in gen_names))
        with torch.no_grad():
            pats = self.patterns.get(key)
            cached = pats is not None
            if pats is None:
                pats = graph.patterns(params, res)
                self.patterns[key] = pats
                while len(self.patterns) > PATTERN_CACHE_SIZE:
                    self.patterns.popitem(last=False)
            self.patterns.move_to_end(key)
            times["patterns"] = time.perf_counter() - t
            job.check()
            t = time.perf_counter()
            maps = graph.maps(params, res, patterns=pats)
            extra = {}
            if a.get("render"):
                from .render import render
                extra["render"] = render(maps)
            times["compose"] = time.perf_counter() - t
            job.check()
            t = time.perf_counter()
            paths = save_maps(maps, out_dir, overwrite=bool(a.get("overwrite", False)), extra=extra)
            times["write"] = time.perf_counter() - t
        return {"graph": graph.name, "resolution": res, "params": graph.spec.to_json(params),
                "paths": {k: str(v) for k, v in paths.items()}, "timings": times,
                "patterns_cached": cached}

    def proceduralize(self, job: Job) -> dict[str, Any]:
        a = job.args
        try:
            from .optimize import Options, proceduralize
        except ImportError as e:
            raise RequestError(f"this engine has no photo pipeline yet ({e}); update the engine",
                               "failed") from e
        image = self._input_image(a)
        out_dir = _out_dir(a)
        opts = a.get("options") or {}
        if not isinstance(opts, dict):
            raise RequestError('"options" must be a JSON object')
        try:
            options = Options(**opts)
        except TypeError as e:
            raise RequestError(f"unknown option in {sorted(opts)}: {e}") from e
        last = [0.0]

        def progress(ev: dict[str, Any]) -> None:
            # throttle: one event per 50 ms keeps the pipe and Blender's UI responsive
            now = time.perf_counter()
            if now - last[0] < 0.05 and ev.get("step") not in (0, ev.get("total")):
                return
            last[0] = now
            self.out.send({"id": job.id, "event": "progress", **_finite(dict(ev))})

        result = proceduralize(str(image), options, progress=progress,
                               should_cancel=job.cancelled.is_set)
        job.check()
        paths = result.write(out_dir, res_out=a.get("res_out"), overwrite=bool(a.get("overwrite", False)))
        summary = result.summary()  # JSON-safe already
        return {**{k: summary[k] for k in ("graph", "params", "losses", "timings", "ranking", "other_graphs")},
                "paths": {k: str(v) for k, v in paths.items()}}

    def _input_image(self, a: dict[str, Any]) -> Path:
        if a.get("image"):
            p = Path(a["image"])
            if not p.is_file():
                raise RequestError(f"image file not found: {p}", "not_found")
            return p
        if a.get("pixels"):
            return self._pixels_to_png(Path(a["pixels"]))
        raise RequestError('proceduralize needs "image" (a file path) or "pixels" (a .npy file)')

    def _pixels_to_png(self, src: Path) -> Path:
        """``.npy`` ``(H, W, C)`` float in [0, 1] (rows top to bottom, sRGB) -> a scratch PNG."""
        import numpy as np
        import torch

        from .io import save_png
        if not src.is_file():
            raise RequestError(f"pixels file not found: {src}", "not_found")
        arr = np.load(src, allow_pickle=False)
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise RequestError(f"pixels must be (H, W, C) with C in 1..4, got shape {arr.shape}")
        if arr.shape[2] in (2, 4):  # drop alpha: the photo is opaque
            arr = arr[:, :, :-1]
        img = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)
        out = self.scratch / f"{src.stem}.png"
        return save_png(img, out, 8, overwrite=True)


def _graph(args: dict[str, Any]):
    from .graphs import get_graph
    name = args.get("graph")
    if not isinstance(name, str):
        raise RequestError('this command needs "graph": a graph name (see hello\'s "graphs")')
    return get_graph(name)


def _out_dir(args: dict[str, Any]) -> Path:
    d = args.get("out_dir")
    if not isinstance(d, str) or not d:
        raise RequestError('this command needs "out_dir": a folder for the map files')
    return Path(d)


# --- entry points ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Serve on this process's stdin/stdout until stdin closes or ``shutdown``."""
    import argparse
    ap = argparse.ArgumentParser(prog="diffproxy serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--log-level", default=os.environ.get("DIFFPROXY_LOG", "INFO"),
                    help="stderr log level (DEBUG, INFO, WARNING)")
    ns = ap.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=ns.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Protocol lines go to a private duplicate of fd 1; fd 1 itself (and sys.stdout) now point at
    # stderr, so a stray print in any library cannot corrupt the protocol.
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", newline="\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    # Fail at start, not on the first request, when torch is missing: the client turns this
    # exit into "this Python has no torch" with what to do.
    import torch

    from .device import auto_threads, keep_freed_memory
    keep_freed_memory()  # 4K slider edits: page faults of fresh temporaries dominated
    torch.set_num_threads(auto_threads(torch.device("cpu")))
    server = Server(_Writer(proto))
    log.info("diffproxy server ready (pid %d)", os.getpid())
    stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
    server.serve(iter(stdin.readline, b""))
    log.info("stdin closed or shutdown: exiting")
    try:
        proto.close()
    except OSError:
        pass
    if server.worker.is_alive():
        # a job ignored its cancel flag for 2 s: do not let interpreter teardown wait on it
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
