"""``diffproxy bench-gpu``: whole runs timed per preset on a GPU (and on the CPU for the ratio).

    diffproxy bench-gpu --devices cuda,cpu --presets fast,balanced,full --synthetic 4 --json out/gpu.json
    diffproxy bench-gpu --devices cpu --presets fast --synthetic 1          # a dry run on a CPU

Per device, preset and target (the project's own photo unless ``--no-photo``, then
``--synthetic N`` renders of prior samples): wall time, the ranking's and each stage's seconds,
steps (renders) per second of the kept graph's stages, and peak memory (GPU: memory allocated by
torch; CPU: the largest resident set among the run's processes), each run in a fresh process;
then the CPU's wall time over the GPU's where both ran. Prints a Markdown table for
docs/BENCHMARKS.md; ``--json`` also writes the rows with the machine's description.
A device that is not there is refused before any work (exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "bench-gpu"
HELP = "time whole runs per preset on a GPU and on the CPU: wall, per stage, steps/s, peak memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..optimize.options import BATCH_MODES, PRESETS

    p.add_argument("--devices", default="cuda,cpu",
                   help="comma-separated devices to time, in order (cuda, cpu, mps; default cuda,cpu)")
    p.add_argument("--presets", default="fast,balanced,full",
                   help=f"comma-separated presets (of {', '.join(PRESETS)}; default fast,balanced,full)")
    p.add_argument("--synthetic", type=int, default=4, help="synthetic targets besides the photo (default 4)")
    p.add_argument("--photo", default=None, help="photo to time (default: the project's own, "
                                                 "engine/assets/default_photo.png)")
    p.add_argument("--no-photo", action="store_true", help="time the synthetic targets only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu-presets", default=None,
                   help="presets timed on the CPU when other devices are timed too (default: the same as "
                        "--presets; 'fast' keeps a GPU machine's CPU run short)")
    p.add_argument("--batch", default="auto", choices=list(BATCH_MODES),
                   help="the restarts' descents in one batch: auto (on a GPU; default), on, off (as before: "
                        "one after another on a GPU, worker processes on a CPU)")
    p.add_argument("--json", default=None, help="also write rows and machine info to this file")


def run(args: argparse.Namespace) -> int:
    import torch

    from . import CLIError, progress
    from ..bench_render import machine_info
    from ..device import pick_device
    from ..optimize.bench_device import DEFAULT_PHOTO, markdown, measure, ratios, target_label
    from ..optimize.options import PRESETS

    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    presets = [s.strip() for s in args.presets.split(",") if s.strip()]
    cpu_presets = [s.strip() for s in (args.cpu_presets or args.presets).split(",") if s.strip()]
    for s in {*presets, *cpu_presets}:
        if s not in PRESETS:
            raise CLIError(f"unknown preset {s!r}; use one of {', '.join(PRESETS)}")
    if not devices or not presets:
        raise CLIError("--devices and --presets each need at least one name")
    for d in devices:
        try:
            pick_device(d)
        except (RuntimeError, ValueError) as e:  # unknown, or not in this machine
            raise CLIError(str(e)) from None
    if args.synthetic < 0:
        raise CLIError(f"--synthetic must be >= 0, got {args.synthetic}")
    targets = [] if args.no_photo else [{"photo": str(Path(args.photo or DEFAULT_PHOTO).resolve())}]
    if targets and not Path(targets[0]["photo"]).is_file():
        raise CLIError(f"photo not found: {targets[0]['photo']}")
    targets += [{"synthetic": i, "seed": args.seed} for i in range(args.synthetic)]
    if not targets:
        raise CLIError("nothing to time: drop --no-photo or ask for --synthetic N")
    jobs = [(d, s, t) for d in devices for s in (cpu_presets if d == "cpu" and len(devices) > 1 else presets)
            for t in targets]
    rows = []
    bar = progress(len(jobs), "bench-gpu")
    try:
        for d, s, t in jobs:
            bar.set_postfix_str(f"{d} {s} {t.get('synthetic', 'photo')}")
            try:
                rows.append(measure(t, s, d, seed=args.seed, batch=args.batch))
            except RuntimeError as e:
                bar.write(f"error: {e}")
                rows.append({"target": target_label(t), "preset": s,
                             "device": d, "batch": args.batch, "error": str(e)})
            bar.update()
    finally:
        bar.close()
    done = [r for r in rows if "error" not in r]
    info = {d: machine_info(torch.device(d)) for d in devices}
    print(markdown(done) if done else "no run finished")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows, "ratios": ratios(done)}, indent=2))
        print(f"wrote {args.json}")
    return 0 if len(done) == len(rows) else 1
