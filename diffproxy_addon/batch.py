"""Proceduralize many photos headless: one material per image, maps written to a folder.

    blender -b --python <extension dir>/batch.py -- --images a.jpg b.png --out DIR
            [--preset fast|balanced|full] [--graph auto|NAME] [--top-k K] [--resolution 2048]
            [--device auto|cpu|cuda|mps] [--seed 0] [--python PATH] [--blend out.blend]
    python batch.py -- ...          (same, with the `bpy` module from PyPI)

Maps go to ``DIR/<image name>/``; the materials reference them there (``--blend`` saves the
.blend with relative paths). A summary table (image, graph, final losses, seconds, status) is printed
and written to ``DIR/summary.json``. Every image is attempted; the exit code is 1 if any failed.
Settings not given on the command line come from the extension's preferences when it is
enabled, else from the defaults.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from types import ModuleType


def _addon() -> ModuleType:
    """The add-on package this file belongs to: the enabled extension, or loaded privately."""
    here = os.path.dirname(os.path.abspath(__file__))
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and os.path.basename(f) == "__init__.py" and os.path.dirname(os.path.abspath(f)) == here:
            return mod
    name = "_diffproxy_batch_addon"  # a private alias, not the installed name
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, "__init__.py"),
                                                  submodule_search_locations=[here])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="batch.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+", required=True, help="photos of flat material samples")
    ap.add_argument("--out", required=True, help="folder for the maps (one sub-folder per image)")
    ap.add_argument("--preset", choices=("fast", "balanced", "full"))
    ap.add_argument("--graph", help="'auto' or a graph name")
    ap.add_argument("--top-k", type=int, help="with --graph auto: graphs fitted before the best is kept "
                                              "(0: the preset's)")
    ap.add_argument("--resolution", type=int, help="side of the maps in px")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--seed", type=int)
    ap.add_argument("--no-straighten", dest="straighten", action="store_const", const=False, default=None,
                    help="fit photos a little off square as they are (default: the preferences', on)")
    ap.add_argument("--python", help="Python interpreter with torch that runs the engine")
    ap.add_argument("--blend", help="save the materials into this .blend")
    args = ap.parse_args(argv)
    if args.top_k is not None and not 0 <= args.top_k <= 8:
        ap.error(f"--top-k must be 0 (the preset's) to 8, got {args.top_k}")
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = parse(argv)
    import bpy

    addon = _addon()
    settings = addon.preferences.get_settings()
    for field in ("preset", "graph", "top_k", "resolution", "device", "seed", "straighten"):
        if getattr(args, field) is not None:
            setattr(settings, field, getattr(args, field))
    if args.python is not None:
        settings.python = os.path.abspath(args.python) if args.python else ""
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)

    rows: list[dict] = []
    used: set[str] = set()
    for path in args.images:
        t0 = time.perf_counter()
        path = os.path.abspath(path)
        stem = os.path.splitext(os.path.basename(path))[0] or "image"
        sub, i = stem, 1
        while sub in used:
            sub, i = f"{stem}_{i}", i + 1
        used.add(sub)
        row: dict = {"image": path, "graph": "", "losses": {}, "seconds": 0.0, "status": "", "maps": ""}
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such file: {path}")
            image = bpy.data.images.load(path, check_existing=False)
            job = addon.jobs.start_proceduralize(image, settings, out_dir=os.path.join(out_root, sub))
            try:
                job.wait()
            except addon.engine_client.EngineError:
                pass  # raised again by finish with the engine's message
            mat, text = addon.jobs.finish_proceduralize(job, image.name, settings, None, mode="EXTERNAL")
            result = job.result()
            row.update(graph=result["graph"], losses=addon.jobs.final_losses(result.get("losses")),
                       status="ok", material=mat.name, maps=os.path.join(out_root, sub))
            print(f"DiffProxy batch: {text}", flush=True)
        except Exception as e:  # noqa: BLE001 - one bad image must not stop the others
            row["status"] = f"FAILED: {e}"
            _remove_if_empty(os.path.join(out_root, sub))
            print(f"DiffProxy batch: {path}: {e}", file=sys.stderr, flush=True)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)

    if args.blend:
        bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.blend), relative_remap=True)
    addon.engine_client.release()
    addon.jobs.remove_work_dir()  # scratch folders (pixels of photos only Blender reads)
    with open(os.path.join(out_root, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    print(table(rows), flush=True)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _remove_if_empty(folder: str) -> None:
    """A failed image's maps folder, if the engine made it before failing: nothing to keep."""
    try:
        os.rmdir(folder)
    except OSError:  # missing, or holds files
        pass


def table(rows: list[dict]) -> str:
    head = ("image", "graph", "losses", "seconds", "status")
    cells = [[os.path.basename(r["image"]), r["graph"] or "-",
              ", ".join(f"{k} {v:.4f}" for k, v in r["losses"].items()) or "-",
              f"{r['seconds']:.1f}", r["status"][:80]] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _exit(code: int) -> None:
    import bpy
    if bpy.app.binary_path:  # inside Blender: let it shut down as usual
        sys.exit(code)
    # The PyPI bpy module can deadlock in its C++ exit handlers (a file-closing thread waits on a
    # condition variable being destroyed); everything is written and flushed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
