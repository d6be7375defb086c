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

from . import add_training_arguments, training_command, training_setup

NAME = "estimator-train"
HELP = "train the parameter estimator (a first guess of a graph's parameters) on renders of every graph"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_training_arguments(p, "engine/weights/param_estimator.safetensors", samples=2000, val_samples=100, epochs=10)


def run(args: argparse.Namespace) -> int:
    from ..estimator import WEIGHTS_PATH, save_estimator
    from ..estimator.train import train_estimator

    names, out = training_setup(args, WEIGHTS_PATH, min_graphs=1)
    net, info = train_estimator(names, args.samples, args.val_samples, args.epochs, seed=args.seed,
                                progress=lambda m: print(m, flush=True))
    info["command"] = training_command(NAME, args)
    save_estimator(out, net, info)
    print(f"validation error {info['val_mae']:.4f} (mean absolute, normalised), per graph: "
          + json.dumps({g: v["mae"] for g, v in info["val_per_graph"].items()}))
    print("counts exactly right: " + json.dumps({g: v["discrete_exact"] for g, v in info["val_per_graph"].items()}))
    print(f"wrote {out} in {info['seconds']:.0f}s")
    return 0
