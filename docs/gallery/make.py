"""Rebuild the gallery in this folder: photo -> procedural material, one small sheet per photo.

    python docs/gallery/make.py /work/shared/photos            # + engine/assets/default_photo.png

For every image of the folder (and the project's own default photo) it runs the same job as
``diffproxy proceduralize PHOTO --preset P --res-out 2048`` (one torch thread per process, the
graph candidates side by side in worker processes; the maps are written at 2048 px, as a user
gets them, into a temporary folder), takes the result's comparison sheet (photo | render |
basecolor | normal | roughness | metallic), shrinks its tiles to 128 px and saves it as ``<name>.jpg`` here. The photo tile of an
outside image is cut off (evaluation photos stay out of the repository); the default photo,
which the project owns, keeps it. Prints the Markdown table rows of README.md (graph, losses,
timings, top three of the ranking with the graph classifier's probabilities, the graphs
fitted). Existing sheets are replaced: they are this script's own
output, regenerated as a set.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_PHOTO = ROOT / "engine" / "assets" / "default_photo.png"
TILE = 128  # px per tile in the gallery
EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", help="folder of photos (evaluation data: their tile is cut off)")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--limit", type=int, default=None, help="at most this many photos")
    ap.add_argument("--res-out", type=int, default=2048, help="side of the maps the sheets show")
    ap.add_argument("--no-default", action="store_true",
                    help="leave out the project's default photo (e.g. when the folder is split "
                         "between two processes)")
    args = ap.parse_args(argv)

    import torch
    from PIL import Image

    from diffproxy.optimize import Options, proceduralize

    torch.set_num_threads(1)
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in EXTS)[:args.limit]
    if not args.no_default:
        photos.append(DEFAULT_PHOTO)
    rows = []
    for path in sorted(photos, key=lambda p: p.stem.lower()):
        t0 = time.perf_counter()
        r = proceduralize(str(path), Options(preset=args.preset, res_out=args.res_out, device="cpu"))
        with tempfile.TemporaryDirectory() as tmp:
            files = r.write(tmp, res_out=args.res_out)
            wall = time.perf_counter() - t0
            with Image.open(files["comparison"]) as im:
                sheet = im.convert("RGB")
        tile = sheet.height
        if path != DEFAULT_PHOTO:
            sheet = sheet.crop((tile, 0, sheet.width, tile))  # drop the photo tile
        scale = TILE / tile
        sheet = sheet.resize((round(sheet.width * scale), TILE), Image.LANCZOS)
        sheet.save(HERE / f"{path.stem}.jpg", quality=85, optimize=True)
        top3 = " > ".join(x["graph"] if x.get("probability") is None else f"{x['graph']} {x['probability']:.2f}"
                          for x in r.ranking[:3])
        fitted = ", ".join([r.graph] + [o["graph"] for o in r.others])
        final = r.losses["final"]
        rows.append(f"| {path.stem} | {r.graph} | {final['style']:.3f} | {final['feature']:.3f} | "
                    f"{r.timings['total']:.1f} | {wall:.1f} | {top3} | {fitted} | ![]({path.stem}.jpg) |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| input | graph | style | feature | pipeline s | wall s | ranking | fitted | sheet |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
