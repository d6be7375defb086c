"""``diffproxy estimator-train``: train the parameter estimator that guesses a start point.

    diffproxy estimator-train --force                       # retrain the shipped weights
    diffproxy estimator-train --out my_estimator.safetensors --samples 300 --epochs 4

Renders ``--samples`` artist-prior draws of every graph (and ``--val-samples`` more with another
seed for validation) at 256 px, then trains the small CNN of ``diffproxy.estimator`` to read
every parameter of the graph back from its render (see ``estimator.train``). Prints the
validation error per epoch and, at the end, per graph (mean absolute error in normalised
parameter space; how often each count comes out exactly); the file records them. Retrain after
adding a graph or changing a graph's parameters (the pipeline then says so and runs without
it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CLIError, load_graphs

NAME = "estimator-train"
HELP = "train the parameter estimator (a first guess of a graph's parameters) on renders of every graph"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="weights file (default: the shipped "
                                               "engine/weights/param_estimator.safetensors)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--graphs", default=None, help="comma-separated graph names (default: every graph)")
    p.add_argument("--samples", type=int, default=2000, help="training renders per graph (default 2000)")
    p.add_argument("--val-samples", type=int, default=100, help="validation renders per graph (default 100)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training renders (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..estimator import WEIGHTS_PATH, save_estimator
    from ..estimator.train import train_estimator

    graphs = load_graphs()
    names = list(graphs) if not args.graphs else [g.strip() for g in args.graphs.split(",") if g.strip()]
    unknown = [g for g in names if g not in graphs]
    if unknown:
        raise CLIError(f"unknown graph(s) {', '.join(unknown)}; known: {', '.join(graphs)}")
    if not names:
        raise CLIError("no graph to train on")
    if min(args.samples, args.val_samples, args.epochs) < 1:
        raise CLIError("--samples, --val-samples and --epochs must be at least 1")
    out = Path(args.out) if args.out else WEIGHTS_PATH
    if out.exists() and not args.force:
        raise CLIError(f"{out} exists; pass --force to replace it or --out to write elsewhere")
    if args.threads:
        torch.set_num_threads(args.threads)
    net, info = train_estimator(names, args.samples, args.val_samples, args.epochs, seed=args.seed,
                                progress=lambda m: print(m, flush=True))
    info["command"] = "diffproxy estimator-train " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (("samples", args.samples), ("val_samples", args.val_samples),
                                                    ("epochs", args.epochs), ("seed", args.seed)))
    save_estimator(out, net, info)
    print(f"validation error {info['val_mae']:.4f} (mean absolute, normalised), per graph: "
          + json.dumps({g: v["mae"] for g, v in info["val_per_graph"].items()}))
    print("counts exactly right: " + json.dumps({g: v["discrete_exact"] for g, v in info["val_per_graph"].items()}))
    print(f"wrote {out} in {info['seconds']:.0f}s")
    return 0
