"""Measure the add-on in a real Blender and print the figures as JSON.

    python tests/blender/measure.py [--graph NAME] [--photo PATH] [--preset fast|balanced|full]
                                    [--skip-sliders] [--skip-button] [--figure]

* zip size of ``build.py --no-torch``;
* slider edit -> updated images at 1K (100 edits) and 4K (10 edits), with the engine child's
  RSS after the material, after the first and after the last edit;
* Proceduralize button -> finished material (``--preset``, default fast; CPU), given a photo;
* ``--figure``: a Cycles render of a DiffProxy material under a flash next to the engine's own
  render, written to docs/blender_cycles_vs_engine.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def caption(path: Path, labels: list[str], height: int = 16) -> None:
    """Add a strip of labels above a side-by-side image (one label per half)."""
    from PIL import Image, ImageDraw
    im = Image.open(path).convert("RGB")
    out = Image.new("RGB", (im.width, im.height + height), (255, 255, 255))
    out.paste(im, (0, height))
    d = ImageDraw.Draw(out)
    for i, text in enumerate(labels):
        d.text((4 + i * im.width // len(labels), 2), text, fill=(0, 0, 0))
    out.save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default="")
    ap.add_argument("--photo", default="")
    ap.add_argument("--edits-1k", type=int, default=100)
    ap.add_argument("--edits-4k", type=int, default=10)
    ap.add_argument("--skip-sliders", action="store_true")
    ap.add_argument("--skip-button", action="store_true")
    ap.add_argument("--figure", action="store_true")
    ap.add_argument("--preset", default="fast", choices=["fast", "balanced", "full"],
                    help="preset of the Proceduralize button measurement")
    args = ap.parse_args()
    if args.photo:
        args.photo = str(Path(args.photo).resolve())
    from diffproxy.graphs import GRAPHS
    graph = args.graph or next(iter(GRAPHS))
    tmp = Path(tempfile.mkdtemp(prefix="dpx-measure-"))
    out: dict = {"machine": f"{platform.machine()} {platform.processor() or ''} "
                            f"{__import__('os').cpu_count()} CPUs".strip(),
                 "date": time.strftime("%Y-%m-%d"), "graph": graph}
    z = harness.build_light_zip(tmp / "dist")
    out["no_torch_zip_bytes"] = z.stat().st_size
    if not args.skip_sliders:
        for res, n in (("1024", args.edits_1k), ("4096", args.edits_4k)):
            r = harness.run_scenario("measure_sliders", tmp / f"sliders{res}", timeout=3600,
                                     zip_path=str(z), python=sys.executable, graph=graph,
                                     resolution=res, edits=n)
            r.pop("_log")
            out[f"sliders_{res}"] = r
            print(json.dumps(r), file=sys.stderr, flush=True)
    if not args.skip_button and args.photo:
        r = harness.run_scenario("measure_button", tmp / "button", timeout=3600, zip_path=str(z),
                                 python=sys.executable, image=args.photo, preset=args.preset)
        r.pop("_log")
        out[f"button_{args.preset}"] = r
    if args.figure:
        target = harness.ROOT / "docs" / "blender_cycles_vs_engine.png"
        r = harness.run_scenario("cycles_vs_engine", tmp / "cycles", timeout=3600, zip_path=str(z),
                                 python=sys.executable, graph=graph, out_png=str(target))
        r.pop("_log")
        out["cycles_vs_engine"] = r
        caption(target, ["Cycles (Blender), flash = point light at the camera",
                         "engine render.png, same maps"])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
