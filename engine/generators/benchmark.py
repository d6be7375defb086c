"""Time every generator and noise input: ``python -m diffproxy.generators.benchmark``.

Prints a Markdown table (seconds per call at batch 1, default parameters; median and minimum
of ``--repeat`` runs after one warm-up) with the machine, torch threads and load average, so
the figures can go into the docs as measured. On a shared machine the minimum is the better
estimate of the code's own cost; the median shows what a user saw.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from . import GENERATORS
from . import noise as _noise

NOISES = {
    "noise.value_fbm": lambda s, r: _noise.value_fbm(s, r, scale=8, octaves=5),
    "noise.perlin_fbm": lambda s, r: _noise.perlin_fbm(s, r, scale=8, octaves=5),
    "noise.cells": lambda s, r: _noise.cells(s, r, scale=8),
}


def _time(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up (allocator, lazy init)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, nargs="+", default=[1024, 4096], help="resolutions in pixels")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (after a warm-up)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--only", nargs="*", default=None, help="names to time (default: all)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, {time.strftime('%Y-%m-%d')}")
    cases = {name: (lambda g: (lambda r: g(g.spec.defaults(1), r)))(g) for name, g in GENERATORS.items()}
    seed = torch.tensor([0.0])
    cases.update({name: (lambda f: (lambda r: f(seed, r)))(f) for name, f in NOISES.items()})
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only or k.split(".")[-1] in args.only}
    head = " | ".join(f"{r} px median / min (s)" for r in args.res)
    print(f"\n| name | {head} |\n|---|" + "---|" * len(args.res))
    for name, run in cases.items():
        cells = []
        for r in args.res:
            med, best = _time(lambda: run(r), args.repeat)
            cells.append(f"{med:.3f} / {best:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
