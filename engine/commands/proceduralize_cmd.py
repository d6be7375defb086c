"""``diffproxy proceduralize PHOTO --out DIR``: photo in, procedural material out.

Exit codes: 0 done; 2 unusable input (missing / empty / corrupt / non-image photo, bad option,
output exists without ``--overwrite``); 130 cancelled (Ctrl-C). The project's own input lives
at ``engine/assets/default_photo.png`` (``diffproxy proceduralize engine/assets/default_photo.png
--out out/photo``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

NAME = "proceduralize"
HELP = "fit a procedural material to a photo (DiffProxy)"


def add_step_switches(p: argparse.ArgumentParser) -> None:
    """``--no-<step>`` for every step of the plan a run may leave out (``optimize.steps.STEPS``;
    e.g. --no-local-search, --no-scan, --no-seed-search, --no-polish, --no-detail); each adds the
    step to ``args.disabled``."""
    from ..optimize.steps import STEPS

    g = p.add_argument_group("steps", "leave steps of the plan out (--no-scan --no-local-search "
                                      "--no-seed-search --no-polish: the paper's three stages alone)")
    for step in STEPS:
        if not step.paper:
            g.add_argument(f"--no-{step.switch}", dest="disabled", action="append_const", const=step.name,
                           default=[], help=f"skip the {step.name!r} step: {step.help}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..optimize.options import BATCH_MODES, DEVICES, METHODS, PRESETS, PROXY_MODES

    p.add_argument("photo", help="image of a flat material sample, flash photo (PNG/JPEG/TIFF/...); "
                                 "the project's own: engine/assets/default_photo.png")
    p.add_argument("--out", required=True, help="output folder (maps, render, params.json, comparison.png)")
    p.add_argument("--stored-orientation", dest="exif_orientation", action="store_false",
                   help="use the photo's pixels as the file stores them, ignoring its EXIF orientation tag, as "
                        "Blender shows images (default: turned upright, as image viewers show it); for maps "
                        "that go on UVs laid out on the image in Blender")
    p.add_argument("--no-straighten", dest="straighten", action="store_false",
                   help="use the photo as it is; by default a photo whose lines (joints, planks, threads) run "
                        "2-10 degrees off the frame's axes is turned square to them and the largest square "
                        "inside kept (a note says so)")
    p.add_argument("--graph", default="auto", help="'auto' (rank all graphs) or a graph name")
    p.add_argument("--preset", default="balanced", choices=list(PRESETS))
    p.add_argument("--top-k", type=int, default=None,
                   help="with --graph auto: how many of the best-ranked graphs to optimise (default: the "
                        "preset's, fast 1, balanced 2, full 3, less the graphs the classifier finds "
                        "less than half as likely as its first choice); the best result is kept")
    p.add_argument("--no-classifier", dest="classifier", action="store_false",
                   help="with --graph auto: rank the graphs by the descriptor score alone instead of "
                        "the graph classifier's probabilities")
    p.add_argument("--no-estimator", dest="estimator", action="store_false",
                   help="do not try the parameter estimator's guess as the start point and as a "
                        "candidate of Stage II's random search (the ranking's prior sample alone)")
    p.add_argument("--no-count-window", dest="count_window", action="store_false",
                   help="let the structure searches range over every count the graph's prior allows "
                        "instead of keeping the counts (courses, tiles, threads, cells) near the "
                        "parameter estimator's guess (counts measured on the photo still bound theirs)")
    p.add_argument("--no-layout", dest="layout", action="store_false",
                   help="do not start and bound the counts (courses, units per course) at those "
                        "measured on the photo's periodic layout")
    p.add_argument("--method", default="diffproxy", choices=list(METHODS))
    p.add_argument("--proxy-mode", default="anchored", choices=list(PROXY_MODES),
                   help="Stage II: 'anchored' real patterns forward, proxy gradients backward "
                        "(default); 'paper' proxy patterns in both passes; 'off' no proxies")
    p.add_argument("--proxy-weights", default=None, metavar="DIR",
                   help="Stage II uses the proxies in DIR (<generator>.safetensors, as proxy-train "
                        "--export writes them) instead of the shipped ones")
    add_step_switches(p)
    p.add_argument("--device", default="auto", choices=list(DEVICES))
    p.add_argument("--res-out", type=int, default=2048, help="side of the written maps in px (default 2048)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--descriptor", default="auto", choices=["auto", "vgg19", "random"],
                   help="deep features: VGG19 if its weights are present, else a seeded random CNN")
    p.add_argument("--allow-download", action="store_true", help="let --descriptor vgg19 download its weights")
    p.add_argument("--time-limit", type=float, default=None, help="seconds for --method search")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: auto, half the cores, at most 4)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes optimising the candidate graphs side by side on a CPU (0: auto, as many "
                        "as the cores hold; 1: one after another)")
    p.add_argument("--batch", default="auto", choices=list(BATCH_MODES),
                   help="graphs and restarts in threads of one process, the restarts' descents in one batch: "
                        "auto (on a GPU; default), on (also on a CPU, instead of --workers), off")
    p.add_argument("--json", action="store_true", help="print the result summary as JSON on stdout")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def out_of_memory_message(e: BaseException, args: argparse.Namespace, during: str) -> str:
    """What ran out, while doing what, and what to lower (the settings that size the run's
    memory: the preset's resolutions and graphs, the maps' side, processes side by side)."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    where = "the GPU" if "cuda" in first.lower() or args.device in ("cuda", "mps") else "this machine"
    lower = []
    if args.preset != "fast":
        lower.append("--preset fast")
    if args.res_out > 1024:
        lower.append(f"--res-out 1024 (now {args.res_out})")
    if args.workers != 1:
        lower.append("--workers 1 (one graph at a time)")
    if where == "the GPU":
        lower.append("--device cpu")
    return (f"{where} ran out of memory while {during} ({first[:200]}); "
            + (f"try {', '.join(lower)}, or close" if lower else "close") + " other programs using it")


# what Result.write puts in --out
def _refuse_photo_in_out(photo: Path, out: Path) -> None:
    """CLIError if an output file would be the photo itself (``OUT/basecolor.png``, or a link to
    it): said before the fit, whatever ``--overwrite`` says; the user's photo is never replaced."""
    from ..io import InputWouldBeOverwritten, refuse_inputs
    from ..optimize.result import output_paths
    from . import CLIError

    try:
        refuse_inputs(output_paths(out).values(), [photo])
    except InputWouldBeOverwritten as e:
        raise CLIError(f"the photo {photo} would be overwritten by the output {e.target.name}; "
                       f"choose another --out folder") from None


def run(args: argparse.Namespace) -> int:
    from ..descriptor import DescriptorUnavailable
    from ..device import is_out_of_memory, pick_device
    from ..optimize import Cancelled, Options, proceduralize
    from ..photo import PhotoError

    err = sys.stderr
    try:
        options = Options(graph=args.graph, preset=args.preset, method=args.method, device=args.device,
                          res_out=args.res_out, seed=args.seed, descriptor=args.descriptor,
                          allow_download=args.allow_download, time_limit=args.time_limit,
                          threads=args.threads, workers=args.workers, batch=args.batch, top_k=args.top_k,
                          proxy_mode=args.proxy_mode, proxy_weights=args.proxy_weights,
                          classifier=args.classifier, estimator=args.estimator,
                          count_window=args.count_window, layout=args.layout,
                          disabled=frozenset(args.disabled), exif_orientation=args.exif_orientation,
                          straighten=args.straighten)
        pick_device(args.device)  # a missing GPU is the user's to fix: say so before any work
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=err)
        return 2
    if args.graph != "auto":
        from . import resolve_graph
        resolve_graph(args.graph)  # CLIError (exit 2) listing the graphs for an unknown name
    from . import check_writable_folder

    out = Path(args.out)
    _refuse_photo_in_out(Path(args.photo), out)  # before "exists": --overwrite would not help
    from ..optimize.result import output_paths
    existing = [p for p in output_paths(out).values() if p.exists()]
    if existing and not args.overwrite:  # refuse before minutes of work, not after
        print(f"error: {existing[0]} already exists; pass --overwrite to replace it", file=err)
        return 2
    check_writable_folder(out)
    bar = _Progress()
    shown = _ShownWarnings()
    try:
        with shown:
            result = proceduralize(args.photo, options, progress=bar)
    except PhotoError as e:
        bar.close()
        print(f"error: {e}", file=err)
        return 2
    except (Cancelled, KeyboardInterrupt):
        bar.close()
        print("cancelled", file=err)
        return 130
    except DescriptorUnavailable as e:
        bar.close()
        print(f"error: {e}", file=err)
        return 2
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        bar.close()
        if not is_out_of_memory(e):
            raise
        print(f"error: {out_of_memory_message(e, args, 'fitting the material')}", file=err)
        return 2
    bar.close()
    try:
        paths = result.write(out, overwrite=args.overwrite)
    except FileExistsError as e:
        print(f"error: {e}", file=err)
        return 2
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        print(f"error: {out_of_memory_message(e, args, f'writing {args.res_out} px maps')}", file=err)
        return 2
    for note in result.photo_notes:
        if note not in shown.messages:  # a warning was printed when the photo was loaded
            print(f"note: {note}", file=err)
    for note in result.unusual_notes():
        print(f"note: {note}", file=err)
    if args.json:
        data = result.summary()
        data["paths"] = {k: str(v) for k, v in paths.items()}
        print(json.dumps(data, indent=2))
    else:
        f, s = result.losses["final"]["feature"], result.losses["final"]["style"]
        print(f"{result.graph}: style {s:.4f}, feature {f:.4f}, {result.timings['total']:.1f}s "
              f"on {result.device} ({result.descriptor['name']}); wrote {len(paths)} files to {out}")
        if len(result.ranking) > 1:
            from ..optimize.choose import label

            print("graph ranking: " + ", ".join(label(r["graph"], r.get("score"), r.get("probability"))
                                                for r in result.ranking))
        for o in result.others:
            there = shlex.quote(f"{out}-{o['graph']}")
            print(f"also fitted {o['graph']}: style {o['final']['style']:.4f}; its maps: diffproxy "
                  f"render --params {shlex.quote(str(paths['params']))} --graph {o['graph']} --res "
                  f"{args.res_out} --out {there}")
    return 0


class _ShownWarnings:
    """Context that remembers the text of every warning shown inside it (still shown as
    before), so the run's closing notes do not repeat them."""

    def __init__(self) -> None:
        self.messages: set[str] = set()

    def __enter__(self) -> "_ShownWarnings":
        import warnings

        self._prev = warnings.showwarning

        def show(message, *a, **k):
            self.messages.add(str(message))
            self._prev(message, *a, **k)

        warnings.showwarning = show
        return self

    def __exit__(self, *exc) -> None:
        import warnings

        warnings.showwarning = self._prev


class _Progress:
    """tqdm bar per stage on stderr showing the stage's loss (only on a terminal); messages are
    printed above it (always: they are the run's log)."""

    def __init__(self) -> None:
        self.bars = sys.stderr.isatty()
        self.bar = None
        self.stage = None

    def __call__(self, ev: dict) -> None:
        from tqdm import tqdm

        stage, total = ev.get("stage"), int(ev.get("total") or 0)
        msg = ev.get("message") or ""
        # a step of one graph among several carries only its tag ("[bricks]"): no log line
        if msg and not (total > 0 and msg.startswith("[") and msg.endswith("]") and msg.count("]") == 1):
            (tqdm.write if self.bar is not None else print)(f"[{stage}] {msg}", file=sys.stderr)
        if total <= 0 or not self.bars:
            return
        if self.bar is None or stage != self.stage or self.bar.total != total:
            self.close()
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=False, dynamic_ncols=True)
            self.stage = stage
        self.bar.n = min(int(ev.get("step") or 0), total)
        if ev.get("loss") is not None:
            self.bar.set_postfix(loss=f"{ev['loss']:.4f}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m diffproxy.commands.proceduralize_cmd``)."""
    p = argparse.ArgumentParser(prog="diffproxy proceduralize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    from . import CLIError
    try:
        return run(p.parse_args(argv))
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
