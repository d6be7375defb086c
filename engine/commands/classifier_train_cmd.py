"""``diffproxy classifier-train``: train the graph classifier that orders the graph ranking.

    diffproxy classifier-train --force                      # retrain the shipped weights
    diffproxy classifier-train --out my_classifier.safetensors --samples 200 --epochs 8

Renders ``--samples`` artist-prior draws of every graph (and ``--val-samples`` more with another
seed for validation) at 256 px, then trains the small CNN of ``diffproxy.classifier`` on
photo-like variations of them (see ``classifier.augment``). Prints the validation accuracy per
epoch and, at the end, per graph; the file records them. Retrain after adding a graph or
changing how one looks. The defaults made the shipped file (11-18 minutes on the 2-core dev
CPU, with 2 threads alone or 1 thread beside other jobs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CLIError, load_graphs

NAME = "classifier-train"
HELP = "train the graph classifier (which graph is this photo?) on renders of every graph"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="weights file (default: the shipped "
                                               "engine/weights/graph_classifier.safetensors)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--graphs", default=None, help="comma-separated graph names (default: every graph)")
    p.add_argument("--samples", type=int, default=500, help="training renders per graph (default 500)")
    p.add_argument("--val-samples", type=int, default=80, help="validation renders per graph (default 80)")
    p.add_argument("--epochs", type=int, default=16, help="passes over the training renders (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..classifier import WEIGHTS_PATH, save_classifier
    from ..classifier.train import train_classifier

    graphs = load_graphs()
    names = list(graphs) if not args.graphs else [g.strip() for g in args.graphs.split(",") if g.strip()]
    unknown = [g for g in names if g not in graphs]
    if unknown:
        raise CLIError(f"unknown graph(s) {', '.join(unknown)}; known: {', '.join(graphs)}")
    if len(names) < 2:
        raise CLIError("a classifier needs at least two graphs")
    if min(args.samples, args.val_samples, args.epochs) < 1:
        raise CLIError("--samples, --val-samples and --epochs must be at least 1")
    out = Path(args.out) if args.out else WEIGHTS_PATH
    if out.exists() and not args.force:
        raise CLIError(f"{out} exists; pass --force to replace it or --out to write elsewhere")
    if args.threads:
        torch.set_num_threads(args.threads)
    net, info = train_classifier(names, args.samples, args.val_samples, args.epochs, seed=args.seed,
                                 progress=lambda m: print(m, flush=True))
    info["command"] = "diffproxy classifier-train " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (("samples", args.samples), ("val_samples", args.val_samples),
                                                    ("epochs", args.epochs), ("seed", args.seed)))
    save_classifier(out, net, info)
    print(f"validation accuracy {info['val_accuracy']:.3f} (averaged views), per graph: "
          + json.dumps(info["val_accuracy_per_graph"]))
    print(f"wrote {out} in {info['seconds']:.0f}s")
    return 0
