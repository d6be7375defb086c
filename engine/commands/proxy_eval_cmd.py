"""``diffproxy proxy-eval``: measure shipped proxies against their generators.

    diffproxy proxy-eval --all --samples 1000 --seed 0 --sheet docs/proxies_{generator}.png
    diffproxy proxy-eval --generator brick --samples 200 --json

Per generator, on N fresh artist-prior samples (seeded): mean L1 proxy vs generator at the
proxy's resolution, mean gradient norm of the output w.r.t. every normalised parameter
(discrete ones included), forward + backward milliseconds at batch 1 on CPU (one thread,
median of 20), the weights file size, the seed floor: the mean L1 below which no proxy that
ignores the ``seed`` parameter can go (``floor``), and the descent agreement: how often a
gradient step through the proxy moves a displaced parameter back towards the target, for the
discrete and the continuous parameters (``desc.disc a/i/g``: Stage II's anchored form / the
same form with the generator's own one-step difference as the Jacobian, the best any proxy
could do in that form / the real generator's own steps; 0.5 is a coin flip; ``counts p/min/s``:
the counts that set a period, in the paper form, mean / weakest / the ceiling of a proxy trained
at fractional counts). See ``diffproxy.proxies.evaluate``. ``--sheet``
writes a comparison PNG (row 1 generator, row 2 proxy, 8 samples); with several generators the
path must contain ``{generator}`` or be a folder (then ``proxies_<generator>.png`` inside). Generators without
usable weights are reported, not fatal, unless all are missing (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import CLIError, check_writable_file

NAME = "proxy-eval"
HELP = "measure proxies against their generators (L1, gradients and their direction, speed, size) + comparison sheets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--generator", help="one generator name")
    which.add_argument("--all", action="store_true", help="every generator")
    p.add_argument("--samples", type=int, default=1000, help="artist-prior samples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"],
                   help="device for the L1 and gradient figures (timing is always CPU)")
    p.add_argument("--weights-dir", default=None, help="folder of <generator>.safetensors (default: shipped)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--sheet", default=None, help="comparison sheet PNG path ({generator} is replaced)")


def _sheet_path(sheet: str | None, name: str, several: bool) -> Path | None:
    if not sheet:
        return None
    if "{generator}" in sheet:
        return Path(sheet.format(generator=name))
    if several or Path(sheet).is_dir():
        return Path(sheet) / f"proxies_{name}.png"
    return Path(sheet)


def _descent(r: dict, kind: str) -> str:
    """Descent agreement on the style loss, ``anchored/ideal/generator`` (Stage II's default
    form, that form with an exact one-step Jacobian, the real generator's own steps; the JSON
    has every form, see proxies.evaluate)."""
    d = (r.get("descent") or {}).get("style", {}).get(kind) or {}
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    return "-" if d.get("anchored") is None else \
        f"{f(d['anchored'])}/{f(d.get('ideal_anchored'))}/{f(d.get('generator'))}"


def _counts(r: dict) -> str:
    """Descent agreement on the style loss for the counts that set a period, in the paper form
    (mean, weakest count) and its stretch ceiling: ``mean/min/stretch``."""
    d = (r.get("descent") or {}).get("style", {}).get("counts") or {}
    return "-" if d.get("proxy") is None else f"{d['proxy']:.2f}/{d['proxy_min']:.2f}/{d['stretch']:.2f}"


def table(rows: list[dict]) -> str:
    head = f"{'generator':<16} {'L1':>7} {'L1 p90':>7} {'floor':>7} {'grad min':>9} {'grad mean':>9} " \
           f"{'desc.disc a/i/g':>15} {'desc.cont a/i/g':>15} {'counts p/min/s':>14} {'ms':>6} {'cpu ms':>6} " \
           f"{'KB':>6}  trained"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['generator']:<16} unavailable: {r['error']}")
            continue
        g = list(r["grad_norm"].values())
        t = r.get("trained_total") or r.get("trained") or {}
        runs = f" in {t['runs']} runs" if t.get("runs", 1) > 1 else ""
        trained = (f"{'/'.join(t.get('devices') or [str(t.get('device'))])}, {t.get('minutes')} min "
                   f"({t.get('cpu_minutes')} CPU), {t.get('steps')} steps, {t.get('samples_seen')} samples{runs}")
        floor = r.get("l1_seed_floor")
        floor_s = f"{floor:>7.4f}" if floor is not None else f"{'-':>7}"
        lines.append(f"{r['generator']:<16} {r['l1']:>7.4f} {r['l1_p90']:>7.4f} {floor_s} {r['grad_norm_min']:>9.5f} "
                     f"{sum(g) / len(g):>9.5f} {_descent(r, 'discrete'):>15} {_descent(r, 'continuous'):>15} "
                     f"{_counts(r):>14} "
                     f"{r['fwd_bwd_ms']:>6.1f} {r['fwd_bwd_cpu_ms']:>6.1f} "
                     f"{r['weight_bytes'] / 1024:>6.0f}  {trained}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from ..device import pick_device
    from ..proxies import ProxyUnavailable, generator_names, resolve_generator
    from ..proxies.evaluate import evaluate

    if args.samples < 1:
        raise CLIError(f"--samples must be >= 1, got {args.samples}")
    try:
        device = pick_device(args.device)
    except (RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from None
    names = generator_names() if args.all else [args.generator]
    if not args.all:
        try:
            resolve_generator(args.generator)
        except KeyError as e:
            raise CLIError(str(e.args[0] if e.args else e)) from None
    for name in names:  # before minutes of evaluation, not after (sheets are replaced)
        sheet = _sheet_path(args.sheet, name, len(names) > 1)
        if sheet is not None:
            check_writable_file(sheet, "--sheet", overwrite=True)
    rows = []
    for name in names:
        try:
            rows.append(evaluate(name, args.samples, args.seed, device, args.weights_dir,
                                 _sheet_path(args.sheet, name, len(names) > 1)))
        except (ProxyUnavailable, KeyError) as e:
            rows.append({"generator": name, "error": str(e.args[0] if e.args else e)})
        if len(names) > 1 and not args.json:  # progress: one line per generator as it finishes
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 2 if all("error" in r for r in rows) else 0
