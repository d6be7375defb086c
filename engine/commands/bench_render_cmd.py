"""``diffproxy bench-render``: how long each graph takes to synthesise its maps.

    diffproxy bench-render --res 1024 4096 --runs 5 --markdown >> docs/BENCHMARKS.md
    diffproxy bench-render --graphs bricks,wood --res 512 --runs 3 --render

Per graph and resolution: median and min wall time of ``graph.maps`` (default parameters, batch
1, no_grad) after one warm-up; ``--render`` times the flash render too. CPU unless ``--device``.
"""

from __future__ import annotations

import argparse
import json

from . import CLIError, device_arg, select_graphs, progress, resolution

NAME = "bench-render"
HELP = "time map synthesis (and the render) per graph and resolution; markdown for the docs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graphs", default="all", help="comma-separated graph names (default all)")
    p.add_argument("--res", type=resolution, nargs="+", default=[1024, 4096], help="resolutions (default 1024 4096)")
    p.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (default 5)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--render", action="store_true", help="also time the flash render")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="print a markdown table with machine info")
    out.add_argument("--json", action="store_true", help="print rows + machine info as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..bench_render import bench_graph, machine_info, markdown, text_table

    if not 1 <= args.runs <= 1000:
        raise CLIError(f"--runs must be in 1..1000, got {args.runs}")
    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    graphs = select_graphs(args.graphs)
    device = device_arg(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    bar = progress(len(graphs) * len(args.res), "bench-render")
    try:
        for g in graphs.values():
            for res in args.res:
                bar.set_postfix_str(f"{g.name} {res}px")
                rows.append(bench_graph(g, res, args.runs, device, with_render=args.render))
                bar.update()
    finally:
        bar.close()
    info = machine_info(device)
    if args.markdown:
        print(markdown(rows, info))
    elif args.json:
        print(json.dumps({"machine": info, "rows": rows}, indent=2))
    else:
        print(text_table(rows))
        print("machine: " + ", ".join(f"{k}: {v}" for k, v in info.items()))
    return 0
