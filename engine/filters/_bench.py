"""Speed of every filter node: ``python -m diffproxy.filters._bench [--res 1024 4096] [--threads N]``.

Prints a markdown table: median of ``--repeat`` runs (``time.perf_counter``, ``torch.no_grad``,
batch 1, float32, CPU unless ``--device``), colour filters on 3 channels, height filters on 1,
plus a chain of ten filters that stands for a material graph's filter part.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from ..device import keep_freed_memory

from . import (ambient_occlusion, blend, blur, curve, directional_warp, edge_detect, gradient_map,
               hsl, invert, levels, normal_from_height, sharpen, slope_blur, threshold, transform, warp)


def cases(res: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, res, res, generator=g).to(device)
    gray = torch.rand(1, 1, res, res, generator=g).to(device)
    src = blur(gray, 0.02)
    knots = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0], device=device)
    ramp = torch.rand(5, 3, generator=g).to(device)
    return [
        ("blend overlay (mask, opacity)", lambda: blend(rgb, rgb.flip(-1), "overlay", 0.7, gray)),
        ("levels", lambda: levels(rgb, 0.1, 0.9, 1.3, 0.05, 0.95)),
        ("curve linear", lambda: curve(rgb, knots)),
        ("curve cubic", lambda: curve(rgb, knots, "cubic")),
        ("gradient_map (C=1 in)", lambda: gradient_map(gray, ramp)),
        ("hsl", lambda: hsl(rgb, 0.1, 0.2, -0.1)),
        ("blur radius 0.0005", lambda: blur(rgb, 0.0005)),
        ("blur radius 0.005", lambda: blur(rgb, 0.005)),
        ("blur radius 0.05", lambda: blur(rgb, 0.05)),
        ("sharpen radius 0.002", lambda: sharpen(rgb, 1.0, 0.002)),
        ("warp", lambda: warp(rgb, src, 0.01)),
        ("directional_warp", lambda: directional_warp(rgb, src, 0.05, 0.3)),
        ("transform offset", lambda: transform(rgb, 0.123, 0.456)),
        ("transform tiles 2 + rotation", lambda: transform(rgb, 0.0, 0.0, 2, 1)),
        ("invert", lambda: invert(rgb)),
        ("threshold", lambda: threshold(rgb, 0.4, 0.8)),
        ("edge_detect (C=1)", lambda: edge_detect(gray, 0.01, 0.5)),
        ("slope_blur samples 8", lambda: slope_blur(rgb, src, 0.01, 8)),
        ("slope_blur samples 8 (C=1)", lambda: slope_blur(gray, src, 0.01, 8)),
        ("blur radius 0.005 (C=1)", lambda: blur(gray, 0.005)),
        ("warp (C=1)", lambda: warp(gray, src, 0.01)),
        ("normal_from_height (C=1)", lambda: normal_from_height(gray, 8.0)),
        ("ambient_occlusion (C=1)", lambda: ambient_occlusion(gray, 0.05, 2.0)),
        ("chain of 10 filters", lambda: _chain(gray, src, ramp)),
    ]


def _chain(h, src, ramp):
    h = warp(h, src, 0.005)
    h = levels(h, 0.1, 0.9, 1.2)
    h = blend(src, h, "overlay", 0.5)
    h = blur(h, 0.002)
    color = gradient_map(h, ramp)
    color = hsl(color, 0.02, 0.1, 0.0)
    color = blend(threshold(src, 0.5, 0.8), color, "multiply", 0.5)
    normal = normal_from_height(h, 8.0)
    ao = ambient_occlusion(h, 0.05, 1.0)
    rough = levels(blend(ao, h, "multiply"), out_low=0.3, out_high=0.8)
    return color, normal, rough


def _rss_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def peak_extra_mib(fn) -> float | None:
    """Peak resident memory while ``fn`` runs, above the resident memory before it (Linux:
    resets the high-water mark through /proc/self/clear_refs); ``None`` where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _rss_mib("VmRSS")
    fn()
    peak = _rss_mib("VmHWM")
    return None if before is None or peak is None else peak - before


def measure(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="glibc only: keep freed blocks in the heap (mallopt) so big temporaries are "
                         "reused instead of being mapped and page-faulted afresh each time")
    args = ap.parse_args(argv)
    if args.keep_freed_memory:
        keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {torch.get_num_threads()} threads, device {device}, "
          f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}, "
          f"keep-freed-memory={args.keep_freed_memory}, "
          f"load average at start {load[0]}")
    table: dict[str, list[str]] = {}
    with torch.no_grad():
        for res in args.res:
            for name, fn in cases(res, device):
                extra = peak_extra_mib(fn) if device.type == "cpu" else None  # also the warm-up
                cell = f"{measure(fn, args.repeat):.3f}"
                if extra is not None:
                    cell += f" ({extra:.0f} MiB)"
                table.setdefault(name, []).append(cell)
    print("time in s (peak memory above the inputs, first call)")
    print("| filter | " + " | ".join(f"{r} px" for r in args.res) + " |")
    print("|---|" + "---|" * len(args.res))
    for name, cells in table.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"load average at end {load[0]}")


if __name__ == "__main__":
    main()
