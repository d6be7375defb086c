"""Measure the add-on in a real Blender and print the figures as JSON.

    python tests/blender/measure.py [--graph NAME] [--photo PATH] [--preset fast|balanced|full]
                                    [--skip-sliders] [--skip-button] [--figure]

* zip size of ``build.py --no-torch``;
* slider edit -> updated images at 1K (100 edits) and 4K (10 edits), with the engine child's
  RSS after the material, after the first and after the last edit;
* Proceduralize button -> finished material (``--preset``, default fast; CPU), given a photo;
* ``--figure``: a Cycles render of a DiffProxy material under a flash next to the engine's own
  render, written to docs/blender_cycles_vs_engine.png.
* ``--grazing PARAMS.json ... --grazing-out PNG [--grazing-labels A B ...]``: fitted materials
  (``params.json`` of ``diffproxy proceduralize``, or any ``{"graph", "params"}`` file) made by
  the add-on and rendered by Cycles under a grazing sun, side by side (relief made visible).
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


def grazing_pairs(params_files: list[str], out_dir: Path) -> tuple[list[str], list[str]]:
    """The materials of ``--grazing``: each ``params.json`` as fitted, preceded, where its run
    had step "relief", by the same fit with the relief parameters as they were before that step
    (``losses.relief.params``: ``[before, after]`` per parameter; and where its refit moved
    other filters, ``losses.relief.refit.params``, those too). Returns files and captions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files, labels = [], []
    for i, f in enumerate(params_files):
        data = json.loads(Path(f).read_text())
        name = Path(f).resolve().parent.name
        step = data.get("losses", {}).get("relief") or {}
        moved = {**(step.get("params") or {}), **((step.get("refit") or {}).get("params") or {})}
        if moved:
            before = {**data["params"], **{k: v[0] for k, v in moved.items()}}
            p = out_dir / f"{i}_before.json"
            p.write_text(json.dumps({"graph": data["graph"], "params": before}))
            files.append(str(p))
            labels.append(f"{name}: no relief step")
        files.append(str(Path(f).resolve()))
        labels.append(f"{name}: with it" if moved else name)
    return files, labels


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default="")
    ap.add_argument("--photo", default="")
    ap.add_argument("--edits-1k", type=int, default=100)
    ap.add_argument("--edits-4k", type=int, default=10)
    ap.add_argument("--skip-sliders", action="store_true")
    ap.add_argument("--skip-button", action="store_true")
    ap.add_argument("--figure", action="store_true")
    ap.add_argument("--grazing", nargs="*", default=[], help="params.json files to render under a grazing light")
    ap.add_argument("--grazing-out", default="", help="PNG of the grazing-light renders side by side")
    ap.add_argument("--grazing-labels", nargs="*", default=[], help="a caption per --grazing file")
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
    if args.grazing:
        target = Path(args.grazing_out or harness.ROOT / "docs" / "relief_grazing.png").resolve()
        files, labels = grazing_pairs(args.grazing, tmp / "grazing_params")
        r = harness.run_scenario("grazing_light", tmp / "grazing", timeout=3600, zip_path=str(z),
                                 python=sys.executable, params_files=files, out_png=str(target))
        r.pop("_log")
        out["grazing_light"] = r
        caption(target, args.grazing_labels or labels)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
