"""Fuzz the engine server: thousands of random and garbled request lines to a real
`python -m diffproxy.server` child, then valid requests that must still succeed.

Every line must get exactly one ``result`` or ``error`` (with the line's id when it has a valid
one, else null), and the server must stay alive. The set is seeded (reproducible) and refused by
validation or quick: no fuzzed request may start a fit (proceduralize requests name a missing
photo, checked last) or stop the server (shutdown always carries a bad field or id).
"""

from __future__ import annotations

import collections
import json
import random
from pathlib import Path
from typing import Any

from test_server import Engine

SEED = 25
N_REQUESTS = 3000
MAX_LINE = 1 << 20  # the server's limit (diffproxy.server.MAX_LINE), stated here as a fact to test


class Raw:
    """A JSON text put into a request as is (NaN, 1e400, 10^400, deep nesting)."""

    def __init__(self, text: str):
        self.text = text


RAWS = [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1e400"),
        Raw("1" + "0" * 400), Raw("-" + "9" * 4000), Raw("[" * 5000 + "]" * 5000),
        Raw("{\"a\":" * 3000 + "1" + "}" * 3000), Raw("1" * 5000)]
STRINGS = ["", "x", "false", "true", "null", "0", "32", "auto", "cpu", "cuda", "fast",
           "\u2603 snow \U0001F600", "\u202eevil", "\ud800", "a\u0000b",
           "C:\\\\nul", "sub/../x", "x" * 100_000]
SCALARS: list[Any] = [None, True, False, 0, -1, 1, 7, 32.0, 1.5, -0.0, 1e308, 2 ** 63, -(2 ** 64)]
CONTAINERS: list[Any] = [[], [1, 2], {}, {"a": 1}, {"": None}, [[[]]], {"graph": {"graph": []}}]


def bad_value(rng: random.Random) -> Any:
    pool = rng.choice([RAWS, STRINGS, SCALARS, CONTAINERS])
    return rng.choice(pool)


def encode(obj: Any) -> str:
    """JSON text with :class:`Raw` parts spliced in."""
    raws: list[str] = []

    def default(o: Any) -> str:
        raws.append(o.text)
        return f"@@raw{len(raws) - 1}@@"

    text = json.dumps(obj, default=default)
    for i, r in enumerate(raws):
        text = text.replace(f'"@@raw{i}@@"', r, 1)
    return text


def base_requests(graph: str, param: str, tmp: Path) -> dict[str, dict[str, Any]]:
    """One valid-looking request per command. proceduralize's photo is missing (refused last,
    after every field is checked), so no fuzzed variant can start a fit."""
    return {
        "hello": {},
        "describe": {"graph": graph},
        "synthesize": {"graph": graph, "params": {param: 0.5}, "resolution": 32,
                       "out_dir": str(tmp / "synth"), "overwrite": True, "render": False, "device": "cpu"},
        "proceduralize": {"image": str(tmp / "missing.png"), "out_dir": str(tmp / "proc"),
                          "options": {"graph": graph, "preset": "fast", "seed": 0, "res_out": 64},
                          "overwrite": False, "res_out": 64},
        "cancel": {"target": "nothing"},
        "shutdown": {},
    }


def mutate(rng: random.Random, cmd: str, base: dict[str, Any], rid: str) -> Any:
    """A request with one or more things wrong (or, for quick commands, sometimes nothing)."""
    args = json.loads(json.dumps(base))
    kind = rng.choice(["field", "field", "field", "nested", "drop", "extra", "id", "cmd", "shape"])
    if cmd == "shutdown" and kind not in ("id", "cmd", "shape"):
        kind = "extra"  # a valid shutdown would end the test
    if kind == "field" and args:
        args[rng.choice(list(args))] = bad_value(rng)
    elif kind == "nested" and any(isinstance(v, dict) for v in args.values()):
        k = rng.choice([k for k, v in args.items() if isinstance(v, dict)])
        key = rng.choice(list(args[k]) or ["x"]) if rng.random() < 0.7 else rng.choice(STRINGS[:12])
        args[k][key] = bad_value(rng)  # an option or parameter of the wrong type, or unknown
    elif kind == "drop" and args:
        del args[rng.choice(list(args))]
    elif kind in ("extra", "field", "nested", "drop"):
        args[rng.choice(["overwite", "x", "", "id2", "\u2603"])] = bad_value(rng)
    req: Any = {"id": rid, "cmd": cmd, **args}
    if kind == "id":
        req["id"] = rng.choice([v for v in [*RAWS[:5], *SCALARS, *CONTAINERS] if not isinstance(v, int)
                                or isinstance(v, bool)])
        if rng.random() < 0.2:
            del req["id"]
    elif kind == "cmd":
        req["cmd"] = rng.choice([bad_value(rng), cmd.upper(), cmd + " ", "frobnicate"])
    elif kind == "shape":
        req = rng.choice([[req], list(req.items()), cmd, len(req), None])
    return req


def garbled(rng: random.Random, text: str) -> bytes:
    """Random bytes, a truncated request, or a request with bytes flipped."""
    data = text.encode("utf-8", "surrogatepass")
    kind = rng.randrange(4)
    if kind == 0:
        out = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    elif kind == 1:
        out = data[:rng.randrange(1, max(2, len(data) - 1))]
    elif kind == 2:
        b = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out = bytes(b)
    else:
        out = data + rng.choice([b"}", b"]", b",", b" x", b"\x00", b"\xff\xfe"])
    return out.replace(b"\n", b" ")


def expected_id(line: bytes) -> Any:
    """The id the answer must carry: the request's own when it is one, else None."""
    if len(line) > MAX_LINE:
        return None
    try:  # as the server reads it: undecodable bytes replaced, surrounding whitespace dropped
        req = json.loads(line.decode("utf-8", "replace").strip())
    except (ValueError, RecursionError):
        return None
    rid = req.get("id") if isinstance(req, dict) else None
    return rid if isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool)) else None


def fuzz_lines(rng: random.Random, bases: dict[str, dict[str, Any]], n: int) -> list[bytes]:
    lines: list[bytes] = []
    while len(lines) < n:
        i = len(lines)
        cmd = rng.choice(list(bases))
        req = mutate(rng, cmd, bases[cmd], f"f{i}")
        text = encode(req)
        r = rng.random()
        if r < 0.25:
            line = garbled(rng, text)
        elif r < 0.26:  # longer than the server reads: refused unparsed
            line = encode({"id": f"f{i}", "cmd": "hello", "pad": "x" * MAX_LINE}).encode()
        else:
            line = text.encode("utf-8", "surrogatepass")
        if not line.decode("utf-8", "replace").strip():
            continue  # a blank line is no request (the server skips it)
        if expected_id(line) is not None and expected_id(line) != f"f{i}":
            continue  # a garbled line that happens to name another id: keep ids unique
        lines.append(line)
    return lines


def test_fuzzed_requests_each_get_one_answer_and_the_server_survives(tmp_path):
    from diffproxy.graphs import GRAPHS
    graph = next(iter(GRAPHS.values()))
    param = next(p.name for p in graph.spec if p.kind == "float")
    rng = random.Random(SEED)
    lines = fuzz_lines(rng, base_requests(graph.name, param, tmp_path), N_REQUESTS)

    # relative paths (an out_dir "32" or "true") resolve in a folder of the test's own; no
    # fuzzed value is absolute, so nothing is written outside tmp_path
    e = Engine(cwd=tmp_path)
    try:
        for line in lines:
            assert e.proc.stdin is not None
            e.proc.stdin.write(line + b"\n")
        e.proc.stdin.flush()
        hello = e.send("hello")
        synth = e.send("synthesize", graph=graph.name, params={}, resolution=32,
                       out_dir=str(tmp_path / "final"))
        ev_hello, _ = e.until_end(hello, timeout=300)
        ev_synth, _ = e.until_end(synth, timeout=300)  # the worker answers in order: all are in
        assert ev_hello["event"] == "result", ev_hello
        assert ev_synth["event"] == "result", ev_synth
        assert Path(ev_synth["paths"]["basecolor"]).is_file()
        assert e.proc.poll() is None, "the server exited"

        ends = [ev for ev in e.aside if ev["event"] in ("result", "error")]
        got = collections.Counter(json.dumps(ev["id"]) for ev in ends)
        want = collections.Counter(json.dumps(expected_id(line)) for line in lines)
        assert got == want, f"extra answers {(got - want).most_common(5)}, missing {(want - got).most_common(5)}"
        assert all(ev["event"] == "error" for ev in ends if ev["id"] is None)
        for line in e.raw:
            json.loads(line)  # stdout carried protocol lines only
        assert not (tmp_path / "proc").exists(), "a fuzzed proceduralize ran"
        print(f"fuzzed {len(lines)} request lines: {sum(ev['event'] == 'error' for ev in ends)} "
              f"refused, {sum(ev['event'] == 'result' for ev in ends)} answered with a result")
    finally:
        if e.proc.poll() is None:
            assert e.close() == 0
