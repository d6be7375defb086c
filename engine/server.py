"""JSON-lines subprocess server: the engine side of the Blender add-on's protocol.

Run as ``python -m diffproxy.server`` or ``diffproxy serve``. The add-on starts one per Blender
session and keeps it; Blender's own process never imports torch.

Protocol
--------
* One JSON object per line, UTF-8. Requests arrive on stdin, events leave on stdout; stderr is a
  free-form log. Anything else that prints (a library's ``print``) is sent to stderr, so stdout
  carries protocol lines only.
* Request: ``{"id": <str or int>, "cmd": <name>, ...arguments}``. An id is a string or a whole
  number (not a boolean, not a float); it may not be the id of a request still queued or running.
* Event: ``{"id": <request id>, "event": "progress" | "result" | "error", ...}``. Every request
  line ends with exactly one ``result`` or ``error``; long requests send ``progress`` before that.
  A line that is not JSON, longer than 1 MiB, nested too deep, or whose id is missing, of the
  wrong type or already pending, is answered by an ``error`` whose ``id`` is ``null``.
* Every request is validated in full before it is queued (:data:`REQUESTS`: each argument's type
  and range, unknown arguments refused, parameters against the graph's spec, options against
  :class:`optimize.Options`, input files present): a bad ``synthesize`` or ``proceduralize`` is
  refused at once, never after minutes of work. No request can stop the server or its worker.
* ``error`` carries ``message`` (one paragraph a user can act on), ``code`` (``"cancelled"``,
  ``"bad_request"``, ``"not_found"``, ``"out_of_memory"``, ``"failed"``) and ``traceback`` (for
  the log; empty for requests refused before running).
* Large arrays travel as files: maps are PNG files written into the request's ``out_dir``; an
  input image is a file path (``image``) or a ``.npy`` pixels file (``pixels``).

Commands (arguments -> ``result`` fields)
-----------------------------------------
``hello`` -> ``protocol, engine_version, torch_version, python, pid, device, engine_path,
    graphs, presets, devices`` (``graphs``: ``[{name, description}]``; ``engine_path``: where
    diffproxy loaded from; ``presets``: ``[{name, description, artist}]`` in the order to offer,
    ``artist``: false for those kept for comparison (``paper``), which the add-on does not show;
    ``devices``: ``[{name, description, available}]``, every name ``device`` accepts and whether
    this machine has it).
``describe`` ``graph`` -> ``graph, description, spec_hash, slots, params, groups``
    (``params``: :meth:`Param.describe` list in spec order; ``groups``: ``[{name, params}]`` in
    order of first appearance).
``synthesize`` ``graph, resolution, out_dir [, params={}, overwrite=false, render=false,
    device="auto"]`` -> ``graph, resolution, params, paths, timings, patterns_cached``
    (``resolution``: 8..16384 px; ``device``: auto, cpu, cuda or mps, one this machine has).
    Parameters are validated with :meth:`ParamSpec.from_json` (every problem listed). The
    generator outputs of the last few (graph, resolution, generator parameters) are cached, so
    an edit that only touches filter parameters skips the generators.
``proceduralize`` ``image | pixels, out_dir [, options={graph, preset, method, device, res_out,
    seed, ...: any field of optimize.Options, e.g. top_k, workers}, overwrite=false,
    res_out=null]`` -> ``graph, params, losses, timings, paths, ranking, other_graphs, unusual, photo``
    (``ranking``: every graph, best first, its ``score`` null where the classifier left it out of
    reach of the optimisation and it was not scored; ``other_graphs``: the other graphs optimised,
    with their final losses, ``params`` (for ``synthesize``: the user may judge the family
    otherwise) and ``unusual``; ``unusual``: fitted roughness values far from the material's usual
    ones, ``[{param, value, usual, sd, limit}]``, for the user to check; ``photo``: ``source``,
    ``notes`` (what was changed in the photo) and ``turn`` (``diffproxy.straighten``'s reading:
    ``degrees``, ``peak``, ``turned``, ``kept``); progress events carry ``stage,
    step, total, loss, message``).
    ``res_out`` (8..16384) overrides the options' for the written maps. An ``image`` that is one
    of the files the request would write into ``out_dir`` (``basecolor.png``, ``params.json``,
    ...) is refused whatever ``overwrite`` says: the photo is never written over.
``cancel`` ``target`` -> ``cancelled`` (whether the target was queued or running). The target
    request then ends with an ``error`` whose code is ``"cancelled"``.
``shutdown`` -> ``{}``, then the server exits. It also exits when stdin closes, and on
    SIGTERM or SIGINT (exit status 0 in all three).

Long requests (synthesize, proceduralize) run one at a time on a worker thread, in arrival
order; the main thread keeps reading stdin so ``cancel`` is seen at once. Cancellation is
cooperative: the pipeline polls ``should_cancel`` between steps and ``synthesize`` between its
stages. A client that needs a hard deadline kills the process and starts a new one.

Scratch files (a ``pixels`` input converted to PNG) live in a per-request folder inside the
server's ``diffproxy-server-<pid>-*`` temp folder and are removed when the request ends; the
folder itself is removed on exit, including on SIGTERM/SIGINT (which end the server as a closed
stdin does). A server killed outright cannot clean up: the next one to start removes the folders
of servers whose pid is gone (POSIX).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .jsonsafe import finite as _finite

PROTOCOL = 1
LONG_COMMANDS = ("synthesize", "proceduralize")
PATTERN_CACHE_SIZE = 2  # (graph, res, generator params) entries; one 4K slot is 64 MiB
MAX_LINE = 1 << 20  # bytes; a real request is a few KB, so a longer line is refused unparsed
MAX_WHOLE = 2 ** 63 - 1  # whole-number arguments: what a 64-bit integer holds
SCRATCH_PREFIX = "diffproxy-server-"  # + pid + "-" + random: the temp folder of one server

log = logging.getLogger("diffproxy.server")


class RequestError(Exception):
    """A request the user (or the add-on) can fix; ``code`` says which kind."""

    def __init__(self, message: str, code: str = "bad_request"):
        super().__init__(message)
        self.code = code


class _Cancelled(Exception):
    """Raised inside a job when its request was cancelled."""


class _Signalled(BaseException):
    """SIGTERM/SIGINT in the main thread: leave the read loop the way a closed stdin does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# --- output ----------------------------------------------------------------------------------
class _Writer:
    """Thread-safe JSON-lines writer on a private copy of the original stdout. Never raises:
    the worker thread must outlive anything it sends."""

    def __init__(self, stream: Any):
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        line = _event_line(event)
        if not line:
            return
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):  # BrokenPipeError is an OSError
                self.closed = True  # the client is gone; the main loop exits on stdin EOF


def _event_line(event: dict[str, Any]) -> str:
    """An event as one JSON line. An event that cannot be encoded (a bug: a result holding an
    object JSON has no form for) still ends its request: it becomes a ``failed`` error, and a
    progress event is dropped, so the client never waits for an answer that will not come."""
    try:
        return json.dumps(event, default=_jsonable, allow_nan=False) + "\n"
    except Exception as e:  # noqa: BLE001 - whatever _jsonable or the encoder raises
        log.error("could not encode a %s event: %s: %s", event.get("event"), type(e).__name__, e)
        if event.get("event") == "progress":
            return ""
        req_id = event.get("id")
        return json.dumps({"id": req_id if _is_id(req_id) else None, "event": "error", "code": "failed",
                           "message": f"The engine could not encode its answer ({type(e).__name__}); "
                                      "the engine log has the details.", "traceback": ""}) + "\n"


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


# --- errors a user can act on ----------------------------------------------------------------
def user_message(exc: BaseException) -> tuple[str, str]:
    """Exception -> (message for the user, code)."""
    if isinstance(exc, RequestError):
        return str(exc), exc.code
    name = type(exc).__name__
    if isinstance(exc, _Cancelled) or name == "Cancelled":
        return "Cancelled.", "cancelled"
    text = str(exc).strip() or name
    from .device import is_out_of_memory

    if is_out_of_memory(exc):
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


def _error_event(req_id: Any, exc: BaseException, tb: str) -> dict[str, Any]:
    try:
        message, code = user_message(exc)
    except Exception:  # noqa: BLE001 - an exception whose str() fails still ends its request
        message, code = f"The engine failed: {type(exc).__name__} (see the engine log).", "failed"
    if code != "cancelled" and tb:
        log.error("request %s failed:\n%s", _brief(req_id), tb)
    return {"id": req_id, "event": "error", "code": code, "message": message,
            "traceback": tb if code != "cancelled" else ""}


# --- request validation (main thread, before anything is queued) ------------------------------
# Each argument of each command has a check ``(field name, value) -> value`` that raises
# RequestError naming the field and what it must be; then a command's own check looks at the
# arguments together (files, the graph's parameter spec). Messages show a bad value briefly:
# a client may send megabytes, or nesting deep enough to break repr.
def _show(v: Any) -> str:
    """A bad value for a message: its JSON kind and, for scalars, a short form."""
    if isinstance(v, dict):
        return f"an object with {len(v)} key(s)"
    if isinstance(v, list):
        return f"a list of {len(v)} item(s)"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, int) and abs(v) > MAX_WHOLE:
        return f"a {len(str(abs(v)))}-digit number"
    text = repr(v) if isinstance(v, str) else json.dumps(v)
    kind = " (a string)" if isinstance(v, str) else ""
    return (text if len(text) <= 80 else text[:77] + "...") + kind


def _brief(req_id: Any) -> str:
    """A request id for a message or the log (a client may send a megabyte-long one)."""
    text = repr(req_id)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(field: str, v: Any, expected: str) -> RequestError:
    return RequestError(f'"{field}" must be {expected}, got {_show(v)}')


def _is_id(v: Any) -> bool:
    """A request id: a string or a whole number (not a boolean; not a float, which may be NaN)."""
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


def _request_id(field: str, v: Any) -> Any:
    if not _is_id(v):
        raise _bad(field, v, "a request id: a string or a whole number")
    return v


def _boolean(field: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad(field, v, "true or false")
    return v


def _whole(field: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or abs(v) > MAX_WHOLE:
        raise _bad(field, v, "a whole number")
    return v


def _number(field: str, v: Any) -> float:
    # the size first: math.isfinite of a 400-digit integer raises OverflowError
    if isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > MAX_WHOLE or not math.isfinite(v):
        raise _bad(field, v, "a finite number")
    return v


def _text(field: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _bad(field, v, "a non-empty string")
    return v


def _path(field: str, v: Any) -> str:
    """A file or folder name this OS can use (a NUL or an unencodable character would make
    every later ``os`` call raise)."""
    _text(field, v)
    try:
        if "\0" in v:
            raise ValueError
        os.fsencode(v)
    except (UnicodeError, ValueError):
        raise RequestError(f'"{field}" is not a usable file path: {_show(v)}') from None
    return v


def _object(field: str, v: Any) -> dict:
    if not isinstance(v, dict):
        raise _bad(field, v, "a JSON object")
    return v


def _int_in(lo: int, hi: int) -> Callable[[str, Any], int]:
    def check(field: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _bad(field, v, f"a whole number of pixels in [{lo}, {hi}]")
        return v
    return check


def _or_null(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda field, v: None if v is None else check(field, v)


def _graph_name(field: str, v: Any) -> str:
    from .graphs import GRAPHS
    if not isinstance(v, str) or v not in GRAPHS:
        raise _bad(field, v, f"a graph name, one of {list(GRAPHS)} (see hello's \"graphs\")")
    return v


def _device(field: str, v: Any) -> str:
    """One of the device names, and one this machine has (asking for CUDA without it is a
    request the user can fix, not an engine failure)."""
    from .device import pick_device
    from .optimize.options import DEVICES
    if not isinstance(v, str) or v not in DEVICES:
        raise _bad(field, v, f"one of {list(DEVICES)}")
    try:
        pick_device(v)
    except (RuntimeError, ValueError) as e:
        raise RequestError(f'"{field}": {e}') from None
    return v


# Options' annotations -> the check of a value; Options itself checks ranges and names but not
# every type (a string "false" for a bool field would pass it)
_OPTION_TYPES: dict[str, Callable[[str, Any], Any]] = {
    "str": _text, "int": _whole, "float": _number, "bool": _boolean}


def _options(field: str, v: Any) -> dict:
    """``optimize.Options`` fields with values of their annotated types, then Options itself."""
    from .graphs import GRAPHS
    from .optimize.options import Options
    _object(field, v)
    fields = {f.name: f for f in dataclasses.fields(Options)}
    unknown = [k for k in v if k not in fields]
    if unknown:
        raise RequestError(f'"{field}" has unknown option(s) {[k[:40] for k in unknown[:5]]}; '
                           f"known: {sorted(fields)}")
    for k, value in v.items():
        base, _, rest = str(fields[k].type).partition(" | ")
        check = _OPTION_TYPES.get(base)
        if check is not None:
            (_or_null(check) if rest == "None" else check)(f"{field}.{k}", value)
    graph = v.get("graph", "auto")
    if graph != "auto" and graph not in GRAPHS:
        raise _bad(f"{field}.graph", graph, f'"auto" or a graph name, one of {list(GRAPHS)}')
    if "device" in v:
        _device(f"{field}.device", v["device"])
    try:
        Options(**v)
    except (TypeError, ValueError) as e:
        raise RequestError(f'"{field}": {e}') from None
    return v


@dataclasses.dataclass(frozen=True)
class Field:
    check: Callable[[str, Any], Any]
    required: bool = False


# command -> its arguments (the add-on sends these; anything else is refused, so a misspelt
# argument is not silently ignored)
REQUESTS: dict[str, dict[str, Field]] = {
    "hello": {},
    "describe": {"graph": Field(_graph_name, True)},
    "synthesize": {"graph": Field(_graph_name, True), "params": Field(_object),
                   "resolution": Field(_int_in(8, 16384), True), "out_dir": Field(_path, True),
                   "overwrite": Field(_boolean), "render": Field(_boolean), "device": Field(_device)},
    "proceduralize": {"image": Field(_path), "pixels": Field(_path), "out_dir": Field(_path, True),
                      "options": Field(_options), "overwrite": Field(_boolean),
                      "res_out": Field(_or_null(_int_in(8, 16384)))},
    "cancel": {"target": Field(_request_id, True)},
    "shutdown": {},
}


def validate(req: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A parsed request with a valid id -> ``(cmd, args)``, or RequestError saying what is wrong."""
    cmd = req.get("cmd")
    if not isinstance(cmd, str) or cmd not in REQUESTS:
        raise RequestError(f'unknown command {_show(cmd)}; known: {", ".join(REQUESTS)}')
    fields = REQUESTS[cmd]
    args = {k: v for k, v in req.items() if k not in ("id", "cmd")}
    unknown = [k for k in args if k not in fields]
    if unknown:
        raise RequestError(f"{cmd} has no argument(s) {[k[:40] for k in unknown[:5]]}; "
                           f"its arguments: {list(fields) or 'none'}")
    missing = [k for k, f in fields.items() if f.required and k not in args]
    if missing:
        raise RequestError(f"{cmd} needs {', '.join(repr(k) for k in missing)}")
    for k, v in args.items():
        fields[k].check(k, v)
    together = TOGETHER.get(cmd)
    if together is not None:
        together(args)
    return cmd, args


def _check_out_dir(out_dir: str) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RequestError(f'"out_dir" {out_dir} is a file, not a folder; choose a folder for the maps')


def _check_synthesize(a: dict[str, Any]) -> None:
    """Parameters against the graph's spec (every problem listed), before the job is queued."""
    from .graphs import get_graph
    _check_out_dir(a["out_dir"])
    params = a.get("params", {})
    for k, v in params.items():  # ParamSpec turns values into floats: a 400-digit one overflows
        if not isinstance(v, (bool, int, float, str)) or (isinstance(v, int) and abs(v) > MAX_WHOLE):
            raise _bad(f"params.{k[:40]}", v, "a number in the parameter's range, true/false or a choice name")
    try:
        get_graph(a["graph"]).spec.from_json(params, strict=True)
    except ValueError as e:  # ParamError lists every problem: keep a flood of them readable
        text = str(e)
        raise RequestError(text if len(text) <= 2000 else text[:2000] + " ...") from None


def _check_proceduralize(a: dict[str, Any]) -> None:
    """One input that exists, a pixels file of the right shape, an out_dir that is a folder and
    does not hold the photo itself among the files the request writes."""
    if ("image" in a) == ("pixels" in a):
        raise RequestError('proceduralize needs one of "image" (a file path) or "pixels" (a .npy file)')
    _check_out_dir(a["out_dir"])
    if "image" in a:
        if not os.path.isfile(a["image"]):
            raise RequestError(f"image file not found: {a['image']}", "not_found")
        _check_not_an_output(a["image"], a["out_dir"])
    else:
        _check_pixels_header(a["pixels"])


def _check_not_an_output(image: str, out_dir: str) -> None:
    """Refuse a photo that is one of the files the request would write (the same file),
    whatever ``overwrite`` says: it would be replaced by a map."""
    from .io import InputWouldBeOverwritten, refuse_inputs
    from .optimize.result import output_paths
    try:
        refuse_inputs(output_paths(out_dir).values(), [image])
    except InputWouldBeOverwritten as e:
        raise RequestError(f"the photo {image} is the {e.target.name} this request would write into "
                           f"{out_dir}; choose another out_dir (or move or rename the photo)") from None


def _check_pixels_header(path: str) -> None:
    """A ``.npy`` of shape ``(H, W, C)``, C in 1..4, numbers: read from the header only (the
    array itself is loaded by the worker)."""
    import numpy as np
    if not os.path.isfile(path):
        raise RequestError(f"pixels file not found: {path}", "not_found")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"npy version {version}")
            shape, _, dtype = read(f)
    except (OSError, ValueError, SyntaxError) as e:
        raise RequestError(f"pixels file {path} is not a .npy array ({e}); write it with numpy.save") from None
    if len(shape) != 3 or shape[2] not in (1, 2, 3, 4) or dtype.kind not in "fiub":
        raise RequestError(f"pixels must be a number array (H, W, C) with C in 1..4, got shape "
                           f"{shape} of {dtype}")


# command -> its check of the arguments together, after each argument's own
TOGETHER: dict[str, Callable[[dict[str, Any]], None]] = {
    "synthesize": _check_synthesize, "proceduralize": _check_proceduralize}


# --- jobs ------------------------------------------------------------------------------------
def _sweep_stale_scratch(tmp: Path) -> None:
    """Remove the scratch folders of servers that are gone. A killed server (the add-on kills
    one that ignores a cancel; SIGKILL reaches no handler) cannot clean up after itself; its
    folder names its pid. POSIX only (``os.kill(pid, 0)`` would end the process on Windows);
    only this user's folders, and only when no process has that pid."""
    if os.name != "posix":
        return
    for d in tmp.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = d.name[len(SCRATCH_PREFIX):].split("-")[0]
        try:
            if not pid.isdigit() or d.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("removing the scratch folder of a server that is gone: %s", d)
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, OverflowError):  # alive (another user's), or unreadable: leave it
            continue


class Job:
    def __init__(self, req_id: Any, cmd: str, args: dict[str, Any]):
        self.id = req_id
        self.cmd = cmd
        self.args = args
        self.cancelled = threading.Event()
        self.scratch: Path | None = None  # per-request scratch folder, removed when it ends

    def check(self) -> None:
        if self.cancelled.is_set():
            raise _Cancelled()


class Server:
    def __init__(self, out: _Writer):
        self.out = out
        self.jobs: "queue.Queue[Job | None]" = queue.Queue()
        self.pending: dict[Any, Job] = {}  # queued or running, by request id
        self.lock = threading.Lock()
        from .graphs.pattern_cache import PatternCache
        self.patterns = PatternCache(PATTERN_CACHE_SIZE)  # slider edits reuse the generators' output
        _sweep_stale_scratch(Path(tempfile.gettempdir()))
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self._stopped = False
        self.worker = threading.Thread(target=self._work, name="diffproxy-worker", daemon=True)
        self.worker.start()

    # --- main loop (main thread) --------------------------------------------------------------
    def serve(self, lines: Iterable[Any]) -> None:
        """Handle request lines (str, bytes, or None for a line over :data:`MAX_LINE`) until
        they end or ``shutdown``; stops the worker and removes the scratch folder whatever
        happens."""
        try:
            for raw in lines:
                if raw is None:
                    self._refuse(None, f"request line longer than {MAX_LINE} bytes; large data "
                                       "travels as files (image, pixels)")
                    continue
                line = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else raw.strip()
                if not line:
                    continue
                if self.handle_line(line) == "shutdown":
                    break
        finally:
            self.stop()

    def handle_line(self, line: str) -> str | None:
        """Answer one request line: at once for short commands and for any refusal, else queue
        it. Returns ``"shutdown"`` when the server should exit."""
        try:
            req = json.loads(line)
        except RecursionError:
            self._refuse(None, "request is nested too deeply to be a request")
            return None
        except ValueError as e:  # JSONDecodeError, or an integer of over 4300 digits
            self._refuse(None, f"request is not valid JSON ({e}): {line[:200]!r}")
            return None
        if not isinstance(req, dict) or not _is_id(req.get("id")):
            got = f'; got id {_show(req["id"])}' if isinstance(req, dict) and "id" in req else ""
            self._refuse(None, f'a request is a JSON object with "id" (a string or a whole number) and "cmd"{got}')
            return None
        req_id = req["id"]
        with self.lock:
            busy = self.pending.get(req_id)
        if busy is not None:
            self._refuse(None, f"request id {_brief(req_id)} is already used by a pending {busy.cmd}; "
                               "give every request a new id")
            return None
        try:
            cmd, args = validate(req)
        except Exception as e:  # noqa: BLE001 - a refusal, or a bug in a check: never fatal
            tb = "" if isinstance(e, RequestError) else traceback.format_exc()
            self._error(req_id, e, tb)
            return None
        log.info("request %s %s", _brief(req_id), cmd)
        if cmd in LONG_COMMANDS:
            job = Job(req_id, cmd, args)
            with self.lock:
                self.pending[req_id] = job
            self.jobs.put(job)
            return None
        handler = {"hello": self.hello, "describe": self.describe, "cancel": self.cancel,
                   "shutdown": lambda a: {}}[cmd]
        try:
            self._result(req_id, handler(args))
        except Exception as e:  # noqa: BLE001 - every failure becomes an error event
            self._error(req_id, e, traceback.format_exc())
        return "shutdown" if cmd == "shutdown" else None

    def stop(self) -> None:
        """Cancel what is pending, let the worker finish (2 s at most), remove the scratch."""
        if self._stopped:
            return
        self._stopped = True
        try:
            with self.lock:
                for job in self.pending.values():
                    job.cancelled.set()
            self.jobs.put(None)
            self.worker.join(timeout=2.0)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # --- events -------------------------------------------------------------------------------
    def _result(self, req_id: Any, data: dict[str, Any]) -> None:
        self.out.send({"id": req_id, "event": "result", **_finite(data)})

    def _error(self, req_id: Any, exc: BaseException, tb: str) -> None:
        self.out.send(_error_event(req_id, exc, tb))

    def _refuse(self, req_id: Any, message: str) -> None:
        self.out.send({"id": req_id, "event": "error", "code": "bad_request", "traceback": "",
                       "message": message})

    # --- worker thread ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self._run(job)
            except BaseException:  # noqa: BLE001 - the worker must outlive any job
                log.exception("worker: request %s %s", _brief(job.id), job.cmd)

    def _run(self, job: Job) -> None:
        """Run a job and send its one final event, after its id is free again and its scratch
        is gone (a client may reuse the id, or look for leftovers, as soon as it sees the end)."""
        t0 = time.perf_counter()
        try:
            job.check()  # cancelled while queued
            fn = self.synthesize if job.cmd == "synthesize" else self.proceduralize
            data = fn(job)
            job.check()
            end = {"id": job.id, "event": "result", **_finite(data)}
        except BaseException as e:  # noqa: BLE001 - reported, the worker keeps serving
            end = _error_event(job.id, e, traceback.format_exc())
        finally:
            with self.lock:
                self.pending.pop(job.id, None)
            if job.scratch is not None:
                shutil.rmtree(job.scratch, ignore_errors=True)
        self.out.send(end)
        log.info("request %s %s done in %.2f s", _brief(job.id), job.cmd, time.perf_counter() - t0)

    # --- commands -----------------------------------------------------------------------------
    def hello(self, args: dict[str, Any]) -> dict[str, Any]:
        """Versions, graphs, presets and devices: what the add-on offers comes from here, so a
        preset or device added to the engine shows in Blender without an add-on change."""
        import torch

        from . import __version__
        from .device import pick_device
        from .graphs import GRAPHS
        from .optimize.options import DEVICES, PRESETS
        # The presets offered to artists, in this order, in their words (the add-on shows these);
        # any other preset (``paper``: the paper's budget) is listed with "artist": false.
        for_artists = {
            "fast": "About 30 s on a laptop CPU; one graph",
            "balanced": "About 2 min on a laptop CPU; the best two graphs, or the one it is sure of from two starts",
            "full": "Balanced's fit from four starts per graph (more with fewer graphs), the best kept; up to three "
                    "graphs. A closer fit for 2-6x Balanced's time",
        }
        others = {"paper": "The paper's budget (Sec. 3.3), for comparison; slower than Full"}
        presets = [{"name": n, "description": d, "artist": True} for n, d in for_artists.items() if n in PRESETS]
        presets += [{"name": n, "description": others.get(n, ""), "artist": False}
                    for n in PRESETS if n not in for_artists]
        auto = str(pick_device("auto"))
        about = {"auto": f"CUDA, else Apple MPS, else CPU (here: {auto})", "cpu": "Always the CPU",
                 "cuda": "An NVIDIA GPU (needs a CUDA build of torch)", "mps": "Apple silicon GPU"}

        def available(name: str) -> bool:
            try:
                pick_device(name)
            except (RuntimeError, ValueError):
                return False
            return True
        return {"protocol": PROTOCOL, "engine_version": __version__,
                "torch_version": torch.__version__, "python": sys.version.split()[0],
                "pid": os.getpid(), "device": auto,
                "engine_path": str(Path(__file__).resolve().parent),
                "graphs": [{"name": g.name, "description": g.description} for g in GRAPHS.values()],
                "presets": presets,
                "devices": [{"name": d, "description": about.get(d, ""), "available": available(d)}
                            for d in DEVICES]}

    def describe(self, args: dict[str, Any]) -> dict[str, Any]:
        from .graphs import get_graph
        graph = get_graph(args["graph"])
        params = graph.spec.describe()
        groups: dict[str, list[dict[str, Any]]] = {}
        for p in params:
            groups.setdefault(p["group"], []).append(p)
        return {"graph": graph.name, "description": graph.description,
                "spec_hash": graph.spec.hash(), "slots": dict(graph.slots), "params": params,
                "groups": [{"name": k, "params": v} for k, v in groups.items()]}

    def cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self.pending.get(args["target"])
        if job is not None:
            job.cancelled.set()
        return {"cancelled": job is not None}

    def synthesize(self, job: Job) -> dict[str, Any]:
        """Arguments validated by :func:`validate` before the job was queued."""
        import torch

        from .device import pick_device
        from .graphs import get_graph
        from .io import save_maps
        a = job.args
        graph = get_graph(a["graph"])
        res = a["resolution"]
        out_dir = Path(a["out_dir"])
        device = pick_device(a.get("device", "auto"))
        params = graph.spec.from_json(a.get("params", {}), strict=True, device=device)
        times: dict[str, float] = {}
        t = time.perf_counter()
        with torch.no_grad():
            pats, cached = self.patterns.patterns(graph, params, res)
            times["patterns"] = time.perf_counter() - t
            job.check()
            t = time.perf_counter()
            maps = graph.maps(params, res, patterns=pats)
            extra = {}
            if a.get("render", False):
                from .render import render
                extra["render"] = render(maps)
            times["compose"] = time.perf_counter() - t
            job.check()
            t = time.perf_counter()
            paths = save_maps(maps, out_dir, overwrite=a.get("overwrite", False), extra=extra)
            times["write"] = time.perf_counter() - t
        return {"graph": graph.name, "resolution": res, "params": graph.spec.to_json(params),
                "paths": {k: str(v) for k, v in paths.items()}, "timings": times,
                "patterns_cached": cached}

    def proceduralize(self, job: Job) -> dict[str, Any]:
        """Arguments validated by :func:`validate` before the job was queued."""
        a = job.args
        try:
            from .optimize import Options, proceduralize
        except ImportError as e:
            raise RequestError(f"this engine has no photo pipeline yet ({e}); update the engine",
                               "failed") from e
        image = Path(a["image"]) if "image" in a else self._pixels_to_png(job, Path(a["pixels"]))
        options = Options(**a.get("options", {}))
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
        paths = result.write(a["out_dir"], res_out=a.get("res_out"), overwrite=a.get("overwrite", False))
        summary = result.summary()  # JSON-safe already
        return {**{k: summary[k] for k in ("graph", "params", "losses", "timings", "ranking", "other_graphs",
                                           "unusual", "photo")},
                "paths": {k: str(v) for k, v in paths.items()}}

    def _pixels_to_png(self, job: Job, src: Path) -> Path:
        """``.npy`` ``(H, W, C)`` float in [0, 1] (rows top to bottom, sRGB) -> a PNG in the
        request's scratch folder (removed when the request ends)."""
        import numpy as np
        import torch

        from .io import save_png
        arr = np.load(src, allow_pickle=False)
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise RequestError(f"pixels must be (H, W, C) with C in 1..4, got shape {arr.shape}")
        if arr.shape[2] in (2, 4):  # drop alpha: the photo is opaque
            arr = arr[:, :, :-1]
        img = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)
        job.scratch = Path(tempfile.mkdtemp(prefix="request-", dir=self.scratch))
        return save_png(img, job.scratch / f"{src.stem}.png", 8, overwrite=True)


# --- entry points ----------------------------------------------------------------------------
def read_lines(stream: Any, limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """Lines of a binary stream, each read with at most ``limit`` bytes held; a longer line is
    skipped to its end and yields None (so a client cannot exhaust memory with one line)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(limit + 1)
            yield None
            continue
        yield line


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM/SIGINT: end the read loop (once; a second signal during cleanup is ignored)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise _Signalled(signum)


def main(argv: list[str] | None = None) -> int:
    """Serve on this process's stdin/stdout until stdin closes, ``shutdown``, SIGTERM or SIGINT."""
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
    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, _on_signal)
        log.info("diffproxy server ready (pid %d)", os.getpid())
        stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
        server.serve(read_lines(stdin))
        log.info("stdin closed or shutdown: exiting")
    except _Signalled as s:
        log.info("signal %d: exiting", s.signum)
    finally:
        server.stop()  # serve did already, unless it never started: the scratch goes either way
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
