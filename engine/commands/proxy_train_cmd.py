"""``diffproxy proxy-train``: train the neural proxy of one generator.

    diffproxy proxy-train --generator brick --minutes 8 --device cpu
    diffproxy proxy-train --generator scratches --steps 200000 --batch 32 --device cuda --resume
    torchrun --nproc_per_node 4 -m diffproxy proxy-train --generator cellular --steps 100000

Parameters are drawn from the generator's artist prior and drawn by the real generator on the
fly; the loss is L1 + 10 x feature + 1 x style (seeded random CNN), plus 0.1 x adversarial (R1,
gamma 10) for stochastic generators. The run directory (default ``./proxy_runs/<generator>``)
receives ``checkpoint.pt`` (resume with ``--resume``), sample grids and ``log.jsonl``; at the end
the fp16 weights go to ``engine/weights/<generator>.safetensors`` (or ``--export PATH``).
``--steps`` is the total step count (a resumed run continues up to it); ``--minutes`` the wall
budget of this invocation, ``--cpu-minutes`` its CPU-time budget (fair on a shared machine); the
first limit reached ends the run, and the learning rate ramps down over its last 30 %; with
none, training runs until interrupted (Ctrl-C saves a
checkpoint). Under ``torchrun`` (WORLD_SIZE > 1) each process trains on its own batches and
gradients are averaged. Exit code 2 for unusable arguments.
"""

from __future__ import annotations

import argparse

from . import CLIError, check_writable_file, check_writable_folder

NAME = "proxy-train"
HELP = "train a generator's neural proxy (fp16 weights into engine/weights/)"


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {v}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..generators import GENERATORS  # names only: no generator module is imported for the help

    p.add_argument("--generator", required=True, help=f"generator name ({', '.join(GENERATORS.names)})")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run")
    p.add_argument("--cpu-minutes", type=float, default=None,
                   help="CPU-time budget of this run (fairer than --minutes on a shared machine)")
    p.add_argument("--steps", type=_positive_int, default=None, help="total training steps")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--batch", type=_positive_int, default=16, help="batch per process (default 16)")
    p.add_argument("--res", type=_positive_int, default=64, help="proxy resolution, a power of two >= 8 (default 64)")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate of the proxy (default 0.02)")
    p.add_argument("--w-feature", type=float, default=10.0, help="weight of the feature term (default 10)")
    p.add_argument("--w-style", type=float, default=1.0, help="weight of the style (Gram) term (default 1)")
    p.add_argument("--w-adv", type=float, default=0.1, help="weight of the adversarial term (default 0.1)")
    p.add_argument("--out", default=None, help="run directory (default ./proxy_runs/<generator>)")
    p.add_argument("--export", default=None, help="weights file (default engine/weights/<generator>.safetensors)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--init-from", default=None, metavar="WEIGHTS",
                   help="warm start: begin from the network (architecture and weights) of a proxy "
                        "weights file of the same generator, e.g. the shipped one; fresh optimiser "
                        "(ignored with --resume when a checkpoint exists)")
    p.add_argument("--adversarial", choices=["auto", "on", "off"], default="auto",
                   help="adversarial term: auto = on for stochastic generators")
    p.add_argument("--fractional", default="", metavar="all|NAME[,NAME]",
                   help="counts that set the pattern's period (brick rows and bricks, cellular cells, "
                        "...; 'all': every one of the generator) to train at fractional values too: "
                        "the pattern zoomed so that a fractional count of periods spans it "
                        "(see proxies.train.fractional_batch)")
    p.add_argument("--embed-dim", type=int, default=8,
                   help="size of the learned per-level embedding of discrete parameters (0: none, "
                        "counts reach the network as ordered values only; default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--channel-base", type=_positive_int, default=512,
                   help="network width: channels at resolution r = channel_base / r (clamped 16..128)")
    p.add_argument("--sample-every", type=_positive_int, default=500, help="steps between sample grids")


def run(args: argparse.Namespace) -> int:
    import json

    from ..proxies import resolve_generator
    from ..proxies.train import TrainConfig, train

    try:
        gen = resolve_generator(args.generator)
    except KeyError as e:
        raise CLIError(str(e.args[0] if e.args else e)) from None
    from pathlib import Path

    from ..proxies.checkpoint import weights_path
    # before the training, not after; the run folder is kept (every rank of a torchrun probes it)
    check_writable_folder(args.out or Path("proxy_runs") / gen.name, "--out", tidy=False)
    check_writable_file(args.export or weights_path(gen.name), "--export", overwrite=True)
    if args.res < 8 or args.res & (args.res - 1):
        raise CLIError(f"--res must be a power of two >= 8, got {args.res}")
    for flag, value in (("--minutes", args.minutes), ("--cpu-minutes", args.cpu_minutes)):
        if value is not None and value <= 0:
            raise CLIError(f"{flag} must be positive, got {value}")
    if not args.lr > 0:
        raise CLIError(f"--lr must be positive, got {args.lr}")
    cfg = TrainConfig(generator=args.generator, res=args.res, batch=args.batch, steps=args.steps,
                      minutes=args.minutes, cpu_minutes=args.cpu_minutes, lr=args.lr, seed=args.seed, device=args.device,
                      out=args.out, export=args.export, resume=args.resume,
                      init_from=args.init_from, w_feature=args.w_feature,
                      w_style=args.w_style, w_adv=args.w_adv,
                      adversarial={"auto": None, "on": True, "off": False}[args.adversarial],
                      sample_every=args.sample_every, threads=args.threads or None,
                      fractional=tuple(n.strip() for n in args.fractional.split(",") if n.strip()))
    if args.embed_dim < 0:
        raise CLIError(f"--embed-dim must be 0 or more, got {args.embed_dim}")
    cfg.network.update(channel_base=args.channel_base, embed_dim=args.embed_dim)
    try:
        summary = train(cfg)
    except (RuntimeError, ValueError) as e:
        if "device" in str(e) or "resolution" in str(e) or str(e).startswith("fractional:"):
            # pick_device / network argument / --fractional messages
            raise CLIError(str(e)) from None
        raise
    if summary:
        print(json.dumps(summary, indent=2))
    return 0
