"""``diffproxy render``: synthesise one graph's maps and its flash render, write them to a folder.

    diffproxy render --graph bricks --res 1024 --out out/bricks            # default parameters
    diffproxy render --graph bricks --seed 7 --res 1024 --out out/b7       # artist-prior sample
    diffproxy render --params out/b7/params.json --res 4096 --out out/b7-4k
    diffproxy render --params out/photo/params.json --graph metal --out out/photo-metal   # a graph
        # that proceduralize fitted beside the one it kept (params.json's other_graphs)

Writes ``basecolor.png`` (8-bit sRGB), ``normal.png`` (16-bit, OpenGL), ``roughness.png``,
``metallic.png`` (8-bit), ``height.png`` (16-bit), ``render.png`` (8-bit sRGB flash render) and
``params.json`` (``graph``, ``params``, ``resolution``, ``spec_hash``, ``engine_version``,
``timings``, ...). ``--seed N`` draws the artist prior with ``torch.Generator().manual_seed(N)``
(the same draw as the contact sheet's ``seed N``); ``--params`` reads ``{name: value}`` or a
``params.json`` written by this command or by ``proceduralize`` (with ``--graph``, one of the
other graphs it fitted). Existing files are never replaced without
``--overwrite``. Exit code 2 for an input the message explains.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from . import CLIError, check_writable_folder, progress, read_json_file, resolution, resolve_graph

NAME = "render"
HELP = "synthesise a graph's maps (+ flash render) at a resolution and write PNGs + params.json"
OUTPUT_FILES = ("basecolor.png", "normal.png", "roughness.png", "metallic.png", "height.png",
                "render.png", "params.json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..render import DEFAULT_DISTANCE, DEFAULT_FOV_DEG, DEFAULT_LIGHT_INTENSITY

    p.add_argument("--graph", help="graph name (`diffproxy graphs` lists them); optional with a "
                                   "--params file that names its graph; with a proceduralize "
                                   "params.json, one of the graphs it fitted")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--params", metavar="FILE.json", help="parameter values {name: value} or a params.json")
    src.add_argument("--seed", type=int, help="sample the artist prior with this seed")
    p.add_argument("--res", type=resolution, default=1024, help="map side in pixels, 16..16384 (default 1024)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--fov", type=float, default=DEFAULT_FOV_DEG, help="render: camera field of view, degrees")
    p.add_argument("--distance", type=float, default=DEFAULT_DISTANCE, help="render: flash height")
    p.add_argument("--light", type=float, default=DEFAULT_LIGHT_INTENSITY, help="render: flash intensity")


def read_params_file(path: str, graph: str | None = None) -> tuple[str | None, dict[str, Any], str | None]:
    """``FILE.json`` -> (graph named in the file or None, {name: value}, spec hash or None).
    ``graph``: the graph asked for; where a proceduralize ``params.json`` kept another graph and
    fitted this one beside it (``other_graphs``), that fit's parameters. A UTF-8 byte order mark
    is fine; what is wrong with a file is said in one short line."""
    from ..params import short_repr

    try:
        data = read_json_file(path, "parameter JSON")
    except CLIError as e:
        raise CLIError(f"--params {e}") from None
    if not isinstance(data, dict):
        raise CLIError(f"--params {path}: expected a JSON object {{name: value}} or "
                       f"{{\"graph\": ..., \"params\": {{...}}}}, got {type(data).__name__}")
    if isinstance(data.get("params"), dict):  # a params.json written by render / proceduralize
        named = data.get("graph")
        if named is not None and not isinstance(named, str):
            raise CLIError(f"--params {path}: \"graph\" must be a graph name, got {short_repr(named)}")
        if graph and graph != named:
            for other in data.get("other_graphs") or []:
                if isinstance(other, dict) and other.get("graph") == graph and isinstance(other.get("params"), dict):
                    return graph, other["params"], None
        return named, data["params"], data.get("spec_hash")
    return None, data, None


def _check_outputs(out: Path, overwrite: bool) -> None:
    if overwrite:
        return
    existing = [out / n for n in OUTPUT_FILES if (out / n).exists()]
    if existing:
        raise CLIError(f"{existing[0]} already exists ({len(existing)} of the output files do); "
                       f"pass --overwrite to replace them, or choose another --out")


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from .. import __version__
    from ..device import pick_device
    from ..io import save_json, save_maps
    from ..params import ParamError
    from ..render import render

    file_graph, values, file_hash = (None, None, None)
    if args.params:
        file_graph, values, file_hash = read_params_file(args.params, args.graph)
    if args.graph and file_graph and args.graph != file_graph:
        raise CLIError(f"--params {args.params} holds parameters for graph {file_graph!r}, not "
                       f"--graph {args.graph!r} (nor a fit of it beside the kept one); drop --graph "
                       f"or pass the matching one")
    name = args.graph or file_graph
    if not name:
        raise CLIError("--graph is required (or a --params file that names its graph)")
    graph = resolve_graph(name)
    try:
        device = pick_device(args.device)
    except (RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from None
    spec = graph.spec
    if values is not None:
        try:
            params = spec.from_json(values, device=device)
        except ParamError as e:
            raise CLIError(f"--params {args.params}: {e}") from None
        if file_hash and file_hash != spec.hash():
            print(f"warning: {args.params} was written for another version of graph {name!r} "
                  f"(spec hash {file_hash} != {spec.hash()}); its values were validated again",
                  file=sys.stderr)
        source = f"file {args.params}"
    elif args.seed is not None:
        params = spec.sample(1, generator=torch.Generator().manual_seed(args.seed), device=device)
        source = f"artist prior, seed {args.seed}"
    else:
        params = spec.defaults(1, device=device)
        source = "defaults"
    if not (0 < args.fov < 180 and args.distance > 0 and args.light >= 0):
        raise CLIError("render settings must satisfy 0 < --fov < 180, --distance > 0, --light >= 0")
    out = Path(args.out)
    _check_outputs(out, args.overwrite)  # before the work, not after
    check_writable_folder(out)

    timings: dict[str, float] = {}
    bar = progress(4, f"{name} {args.res}px")
    try:
        with torch.no_grad():
            t = time.perf_counter()
            patterns = graph.patterns(params, args.res)
            timings["generators"] = time.perf_counter() - t
            bar.update()
            t = time.perf_counter()
            maps = graph.maps(params, args.res, patterns=patterns)
            timings["filters"] = time.perf_counter() - t
            bar.update()
            t = time.perf_counter()
            image = render(maps, fov_deg=args.fov, distance=args.distance, light_intensity=args.light)
            timings["render"] = time.perf_counter() - t
            bar.update()
        t = time.perf_counter()
        paths = save_maps(maps, out, overwrite=args.overwrite, extra={"render": image})
        timings["writing"] = time.perf_counter() - t
        bar.update()
        record = {
            "graph": name,
            "params": spec.to_json(params),
            "resolution": args.res,
            "spec_hash": spec.hash(),
            "engine_version": __version__,
            "source": source,
            "device": str(device),
            "render": {"fov_deg": args.fov, "distance": args.distance, "light_intensity": args.light},
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }
        paths["params"] = save_json(out / "params.json", record, overwrite=args.overwrite)
    finally:
        bar.close()
    total = sum(timings.values())
    print(f"{name} ({source}) at {args.res}px on {device}: wrote {len(paths)} files to {out} "
          f"in {total:.2f}s (" + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()) + ")")
    return 0
