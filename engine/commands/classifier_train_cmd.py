"""``diffproxy classifier-train``: train the graph classifier that orders the graph ranking.

    diffproxy classifier-train --force                      # retrain the shipped member of seed 0
    diffproxy classifier-train --force --seed 1             # ... and of seed 1
    diffproxy classifier-train --out my_classifier.safetensors --samples 200 --epochs 8

Renders ``--samples`` artist-prior draws of every graph (and ``--val-samples`` more with another
seed for validation) at 256 px, then trains the small CNN of ``diffproxy.classifier`` on
photo-like variations of them (see ``classifier.augment``). Prints the validation accuracy per
epoch and, at the end, per graph; the file records them. The shipped classifier is a committee
of two such networks, trained with ``--seed 0`` (``graph_classifier.safetensors``) and ``--seed
1`` (``graph_classifier_seed1.safetensors``), their probabilities averaged; without ``--out`` a
training writes its seed's member. Retrain both after adding a graph or changing how one looks.
The defaults made them: seed 0 in 74 minutes on the 2-core dev CPU with 1 thread, beside the
estimator's training, from the graphs of commit e290a79; seed 1 in 54 minutes, beside a
benchmark, from those of 792bf29 (plaster's stroke tone and wood's relief priors changed
between). Held-out renders and the shared photos with each and with both: docs/BENCHMARKS.md,
"Session 30".
"""

from __future__ import annotations

import argparse
import json

from . import CLIError, add_training_arguments, training_command, training_setup

NAME = "classifier-train"
HELP = "train the graph classifier (which graph is this photo?) on renders of every graph"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_training_arguments(p, "committee member for --seed: engine/weights/graph_classifier.safetensors for "
                              "seed 0, graph_classifier_seed<N>.safetensors beside it for seed N",
                           samples=800, val_samples=80, epochs=30)


def run(args: argparse.Namespace) -> int:
    from ..classifier import member_path, save_classifier
    from ..classifier.train import train_classifier

    if args.seed < 0:
        raise CLIError(f"--seed must be 0 or more, got {args.seed}")
    names, out = training_setup(args, member_path(args.seed), min_graphs=2)
    net, info = train_classifier(names, args.samples, args.val_samples, args.epochs, seed=args.seed,
                                 progress=lambda m: print(m, flush=True))
    info["command"] = training_command(NAME, args)
    save_classifier(out, net, info)
    print(f"validation accuracy {info['val_accuracy']:.3f} (averaged views), per graph: "
          + json.dumps(info["val_accuracy_per_graph"]))
    print(f"wrote {out} in {info['seconds']:.0f}s")
    return 0
