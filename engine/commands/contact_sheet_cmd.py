"""``diffproxy contact-sheet``: one PNG showing every graph's maps and render for a few seeds.

    diffproxy contact-sheet --out docs/contact_sheet.png --res 128 --thumb 96 --seeds 3 --seed 0

Row = graph; per seed: basecolor | normal | roughness | metallic | height | render. Seeds are
``--seed``, ``--seed + 1``, ...; ``diffproxy render --graph NAME --seed S`` reproduces a cell.
Maps are synthesised at ``--res`` and shown at ``--thumb`` px. To stay under ``--max-mb`` the
thumbnails shrink in 8 px steps (down to 64 px), and only then does the PNG fall back to a
256-colour palette; stdout says which. An existing file is not replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError, check_writable_file, device_arg, progress, select_graphs

NAME = "contact-sheet"
HELP = "draw every graph's maps and renders for a few artist-prior seeds into one PNG"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="docs/contact_sheet.png", help="PNG to write (default docs/contact_sheet.png)")
    p.add_argument("--res", type=int, default=128, help="synthesis resolution, 16..1024 (default 128)")
    p.add_argument("--thumb", type=int, default=None, help="thumbnail side, 16..--res (default: 96, or --res if smaller)")
    p.add_argument("--max-mb", type=float, default=1.5, help="size budget in MB before palette fallback; 0: none")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds per graph (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--graphs", default="all", help="comma-separated graph names (default all)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from ..contact_sheet import collect, encode_within

    if not 16 <= args.res <= 1024:
        raise CLIError(f"--res must be an integer in 16..1024 for a contact sheet, got {args.res}")
    thumb = min(96, args.res) if args.thumb is None else args.thumb
    if not 16 <= thumb <= args.res:
        raise CLIError(f"--thumb must be in 16..--res ({args.res}), got {thumb}")
    if args.max_mb < 0:
        raise CLIError(f"--max-mb must be >= 0, got {args.max_mb}")
    if not 1 <= args.seeds <= 16:
        raise CLIError(f"--seeds must be in 1..16, got {args.seeds}")
    out = Path(args.out)
    check_writable_file(out, "--out", args.overwrite)  # before the renders, not after
    graphs = select_graphs(args.graphs)
    device = device_arg(args.device)
    seeds = list(range(args.seed, args.seed + args.seeds))
    bar = progress(len(graphs), "contact sheet")
    try:
        cells = collect(graphs, args.res, seeds, device, on_row=lambda name: bar.update())
    finally:
        bar.close()
    data, side, mode = encode_within(cells, seeds, thumb, int(args.max_mb * 1e6) if args.max_mb else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb" if args.overwrite else "xb") as f:
        f.write(data)
    note = ""
    if mode == "palette":
        note = f" (RGB stayed over --max-mb {args.max_mb:g} even at 64 px thumbnails: saved as a 256-colour palette)"
    elif side != thumb:
        note = f" (thumbnails shrunk from {thumb} to {side} px to stay under --max-mb {args.max_mb:g})"
    print(f"wrote {out}: {side} px thumbnails, {len(graphs)} graphs x {len(seeds)} seeds, "
          f"{len(data) / 1e6:.2f} MB{note}")
    return 0
