"""``diffproxy bench``: compare DiffProxy with its baselines (the paper's Fig. 8 protocol).

    diffproxy bench --synthetic 5 --seed 0 --methods diffproxy,match,search --preset fast --json out/bench.json
    diffproxy bench --synthetic 0 --photos /path/to/photos --labels /path/to/LABELS.json --preset fast
    diffproxy bench --merge part1.json part2.json --json all.json

Prints one table (per target: feature & style loss per method, discrete-parameter accuracy for
synthetic targets, wall time) and a summary (win rates and mean loss ratios diffproxy / match;
for synthetic targets also the style ratio to match per generating graph). ``--merge`` runs
nothing: it joins the rows of earlier ``--json`` files (a run split with ``--first``, or methods
run separately on the same targets; a later file's row replaces an earlier one for the same
target and method) and prints their table and summary.
With ``--labels`` (what a person counted on each photo: accepted graphs, courses, units per
course, relief), each labelled photo is also judged by checks that share nothing with the
losses (``diffproxy.judge``): family, counts, joint polarity, unit colour spread, relief.
The protocol is described in ``diffproxy.optimize.bench``. Exit code 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

NAME = "bench"
HELP = "benchmark diffproxy against MATch and random search (synthetic targets and/or photos)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..optimize.options import DEVICES, PRESETS
    from ..optimize.steps import OPTIONAL

    p.add_argument("--synthetic", type=int, default=5, help="number of synthetic targets (0: none)")
    p.add_argument("--first", type=int, default=0,
                   help="index of the first synthetic target (targets keep their seeds, so a run of "
                        "--synthetic 30 can be split, e.g. --synthetic 15 and --first 15 --synthetic 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--photos", default=None, help="folder of real photos to run as well")
    p.add_argument("--labels", default=None,
                   help="with --photos: a JSON file of what a person sees in each photo (accepted graphs, "
                        "rows, per_row, relief; ../shared/photos/LABELS.json's form); labelled photos are "
                        "judged by diffproxy.judge's checks as well")
    p.add_argument("--photo-limit", type=int, default=None, help="use at most this many photos")
    p.add_argument("--variants", default="",
                   help="with --photos: also run each photo as these label-keeping variants, comma-separated "
                        "(mirror: flipped left-right, turn180: turned half round, crop75: the centre 3/4 of the "
                        "frame, its labelled counts x 0.75; tilt4, tilt7: turned 4 degrees counter-clockwise, 7 "
                        "clockwise, the largest square inside kept, counts scaled by its side; seed1 ... seed4: the photo itself with the run's "
                        "--seed + 1 ... 4, to see which outcomes hang on the search's luck); the summary adds the "
                        "checks per variant, how many photos got the same graph in every variant and, per check, "
                        "how many came out the same in every variant")
    p.add_argument("--methods", default="diffproxy,match,search",
                   help="comma-separated subset of diffproxy, match, search and the ablations "
                        "diffproxy-paper (Stage II through the proxies' patterns, as in the paper), "
                        "diffproxy-noproxy (no proxies), diffproxy-no<step> for every step a run may "
                        f"leave out ({', '.join(OPTIONAL)}; e.g. diffproxy-nolocal: no local search, "
                        "diffproxy-nodetail: photos without the last stage 'detail'), diffproxy-noclassifier "
                        "(photos: graphs ranked without the graph classifier), diffproxy-noestimator (no parameter "
                        "estimator's guess), diffproxy-nowindow (no count window around the guess), "
                        "diffproxy-nolayout (counts not bounded by those measured on the photo), "
                        "diffproxy-nostraighten (photos: a turned photo fitted as it is); "
                        "synthetic targets "
                        "only: match-oracle (MATch started from the target's own generator "
                        "parameters: the ceiling of any structure search) and match-estimator (MATch "
                        "started from the parameter estimator's guess: the guess alone)")
    p.add_argument("--preset", default="fast", choices=list(PRESETS))
    p.add_argument("--graphs", default=None, help="comma-separated graphs for synthetic targets (default: all)")
    p.add_argument("--proxy-weights", default=None, metavar="DIR",
                   help="Stage II uses the proxies in DIR (<generator>.safetensors) instead of the shipped ones")
    p.add_argument("--device", default="auto", choices=list(DEVICES))
    p.add_argument("--descriptor", default="auto", choices=["auto", "vgg19", "random"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: auto, as proceduralize)")
    p.add_argument("--workers", type=int, default=0,
                   help="photos: processes optimising the candidate graphs side by side (0: auto, as "
                        "proceduralize; 1 when another benchmark shares the cores)")
    p.add_argument("--top-k", type=int, default=None,
                   help="photos: graphs optimised per photo (default: the preset's)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="run nothing: join the rows of these earlier --json files and summarise them")
    p.add_argument("--json", default=None, help="write rows + summary to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..io import save_json
    from ..optimize.bench import check_methods, run_photos, run_synthetic, summarise, table

    from . import check_writable_file

    err = sys.stderr
    if args.json:
        check_writable_file(args.json, "--json", args.overwrite)  # before the runs, not after
    if args.merge:
        return _merge(args)
    try:
        methods = check_methods(args.methods.split(","))
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    if args.synthetic < 0 or args.first < 0 or (args.synthetic == 0 and not args.photos):
        print("error: --synthetic and --first must be >= 0, and something to run (--synthetic N or "
              "--photos DIR)", file=err)
        return 2
    if args.photos and not Path(args.photos).is_dir():
        print(f"error: --photos {args.photos} is not a folder", file=err)
        return 2
    if args.proxy_weights and not Path(args.proxy_weights).is_dir():
        print(f"error: --proxy-weights {args.proxy_weights} is not a folder; give the folder that holds "
              "<generator>.safetensors (proxy-train --export)", file=err)
        return 2
    from ..optimize.bench import check_variants
    try:
        variants = check_variants(args.variants.split(","))
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    if variants and not args.photos:
        print("error: --variants goes with --photos DIR", file=err)
        return 2
    labels = None
    if args.labels:
        from ..optimize.bench import load_labels
        if not args.photos:
            print("error: --labels goes with --photos DIR", file=err)
            return 2
        try:
            labels = load_labels(args.labels)
        except ValueError as e:
            print(f"error: {e}", file=err)
            return 2
    from ..device import pick_device
    from ..device import auto_threads

    try:
        threads = args.threads or auto_threads(pick_device(args.device))
    except RuntimeError as e:
        print(f"error: {e}", file=err)
        return 2
    if threads:
        torch.set_num_threads(threads)
    graphs = [g.strip() for g in args.graphs.split(",")] if args.graphs else None
    log = lambda s: print(s, file=err, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    rows = []
    if args.synthetic:
        rows += run_synthetic(args.synthetic, args.seed, methods, args.preset, graphs, args.device,
                              args.descriptor, log=log, first=args.first, proxy_weights=args.proxy_weights)
    if args.photos:
        rows += run_photos(args.photos, args.seed, methods, args.preset, args.device, args.descriptor,
                           limit=args.photo_limit, log=log, workers=args.workers,
                           top_k=args.top_k, labels=labels, proxy_weights=args.proxy_weights,
                           variants=variants)
    summary = summarise(rows, methods)
    print(table(rows, summary))
    if args.json:
        meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
                "processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                "threads": torch.get_num_threads(), "workers": args.workers, "top_k": args.top_k,
                "preset": args.preset, "seed": args.seed,
                "synthetic": args.synthetic, "first": args.first, "photos": args.photos, "labels": args.labels,
                "variants": variants,
                "methods": methods,
                "wall_seconds": round(time.perf_counter() - t0, 1)}
        save_json(args.json, {"meta": meta, "rows": rows, "summary": summary}, overwrite=args.overwrite)
        print(f"wrote {args.json}", file=err)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from ..io import save_json
    from ..optimize.bench import summarise, table
    from . import CLIError, read_json_file

    err = sys.stderr
    rows: dict[tuple[str, str], dict] = {}
    for f in args.merge:
        try:
            data = read_json_file(f)
        except CLIError as e:
            print(f"error: --merge {e}", file=err)
            return 2
        part = data.get("rows") if isinstance(data, dict) else data
        if not (isinstance(part, list) and all(isinstance(r, dict) and "target" in r and "method" in r
                                               for r in part)):
            print(f"error: --merge {f}: not a bench --json file (no benchmark rows in it)", file=err)
            return 2
        rows.update({(r["target"], r["method"]): r for r in part})
    merged = list(rows.values())
    methods = list(dict.fromkeys(r["method"] for r in merged))
    summary = summarise(merged, methods)
    print(table(merged, summary))
    if args.json:
        meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "merged_from": list(args.merge), "methods": methods}
        save_json(args.json, {"meta": meta, "rows": merged, "summary": summary}, overwrite=args.overwrite)
        print(f"wrote {args.json}", file=err)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="diffproxy bench", description=__doc__,
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
