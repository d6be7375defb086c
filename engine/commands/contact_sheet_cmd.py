"""``diffproxy contact-sheet``: one PNG showing every graph's maps and render for a few seeds.

    diffproxy contact-sheet --out docs/contact_sheet.png --res 128 --seeds 3 --seed 0

Row = graph; per seed: basecolor | normal | roughness | metallic | height | render. Seeds are
``--seed``, ``--seed + 1``, ...; ``diffproxy render --graph NAME --seed S`` reproduces a cell.
An existing file is not replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import io as _bytes_io
from pathlib import Path

from . import CLIError, load_graphs, progress

NAME = "contact-sheet"
HELP = "draw every graph's maps and renders for a few artist-prior seeds into one PNG"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="docs/contact_sheet.png", help="PNG to write (default docs/contact_sheet.png)")
    p.add_argument("--res", type=int, default=128, help="thumbnail side in pixels, 16..1024 (default 128)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds per graph (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--graphs", default="all", help="comma-separated graph names (default all)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from ..contact_sheet import build
    from ..device import pick_device

    if not 16 <= args.res <= 1024:
        raise CLIError(f"--res must be an integer in 16..1024 for a contact sheet, got {args.res}")
    if not 1 <= args.seeds <= 16:
        raise CLIError(f"--seeds must be in 1..16, got {args.seeds}")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out} already exists; pass --overwrite to replace it")
    graphs = load_graphs()
    if args.graphs != "all":
        names = [n.strip() for n in args.graphs.split(",") if n.strip()]
        unknown = [n for n in names if n not in graphs]
        if unknown:
            raise CLIError(f"unknown graph(s) {unknown}; available: {', '.join(graphs)}")
        graphs = {n: graphs[n] for n in names}
    try:
        device = pick_device(args.device)
    except (RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from None
    seeds = list(range(args.seed, args.seed + args.seeds))
    bar = progress(len(graphs), "contact sheet")
    try:
        sheet = build(graphs, args.res, seeds, device, on_row=lambda name: bar.update())
    finally:
        bar.close()
    buf = _bytes_io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb" if args.overwrite else "xb") as f:
        f.write(buf.getvalue())
    print(f"wrote {out}: {sheet.width}x{sheet.height}px, {len(graphs)} graphs x {len(seeds)} seeds, "
          f"{len(buf.getvalue()) / 1e6:.2f} MB")
    return 0
