"""``diffproxy bench-photo``: peak memory and seconds of loading large photos.

    diffproxy bench-photo                          # a 12000 px PNG and a 48 MP (8000x6000) JPEG
    diffproxy bench-photo --photos 16384x16384:jpg 6000x6000:webp --markdown

Each photo is made first (smooth gradients, blotches and sensor-like noise, so it compresses
like a photo), in a child process of its own; then loaded by ``diffproxy.photo.load_photo`` in a
fresh child, whose peak resident memory (``ru_maxrss``) and load time are reported, with the
memory the child held after its imports (torch, numpy, Pillow) for reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

NAME = "bench-photo"
HELP = "peak memory and time of loading large photos (load_photo in a fresh process)"
FORMATS = ("png", "jpg", "webp", "tif", "bmp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--photos", nargs="+", default=["12000x12000:png", "8000x6000:jpg"], metavar="WxH:FORMAT",
                   help=f"photos to make and load (format one of {', '.join(FORMATS)}; default: a 12000 px "
                        "PNG and an 8000x6000 JPEG)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")


def _parse(spec: str) -> tuple[int, int, str]:
    from . import CLIError

    try:
        size, fmt = spec.split(":")
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise CLIError(f"--photos {spec!r}: expected WxH:FORMAT, e.g. 12000x12000:png") from None
    if fmt not in FORMATS or not (16 <= w <= 65535 and 16 <= h <= 65535):
        raise CLIError(f"--photos {spec!r}: format one of {', '.join(FORMATS)}, sides in 16..65535")
    return w, h, fmt


def make_photo(path: str, w: int, h: int) -> None:
    """A photo-like ``w x h`` RGB image written to ``path`` a band of rows at a time."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = np.empty((h, w, 3), np.uint8)
    small = (rng.random((h // 64 + 1, w // 64 + 1, 3)) * 255).astype(np.uint8)
    blot = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float32)
    x = np.linspace(0, 1, w, dtype=np.float32)[None]
    for y0 in range(0, h, 1000):
        y1 = min(h, y0 + 1000)
        y = np.linspace(y0 / h, y1 / h, y1 - y0, endpoint=False, dtype=np.float32)[:, None]
        base = np.stack([60 + 120 * x + 0 * y, 40 + 150 * y + 0 * x, 90 + 60 * np.sin(9 * x + 7 * y)], -1)
        v = 0.6 * base + 0.4 * blot[y0:y1] + rng.normal(0, 6, (y1 - y0, w, 3)).astype(np.float32)
        out[y0:y1] = np.clip(v, 0, 255).astype(np.uint8)
    Image.fromarray(out).save(path, **({"quality": 92} if path.endswith(".jpg") else {}))


def measure(path: str) -> dict:
    """Load ``path`` in this process; peak RSS (MiB) before and after, seconds."""
    import resource
    import time
    import warnings

    from ..photo import load_photo

    warnings.simplefilter("ignore")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    photo = load_photo(path)
    sec = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"after_imports_mib": round(base), "peak_mib": round(peak), "seconds": round(sec, 2),
            "loaded_px": photo.size}


def run(args: argparse.Namespace) -> int:
    specs = [_parse(s) for s in args.photos]
    rows = []
    with tempfile.TemporaryDirectory(prefix="diffproxy-bench-photo-") as tmp:
        for w, h, fmt in specs:
            path = str(Path(tmp) / f"photo_{w}x{h}.{fmt}")
            code = "import sys; from diffproxy.commands.bench_photo_cmd import make_photo as m; m(*sys.argv[1:2], *map(int, sys.argv[2:]))"
            subprocess.run([sys.executable, "-c", code, path, str(w), str(h)], check=True)
            code = "import json, sys; from diffproxy.commands.bench_photo_cmd import measure; print(json.dumps(measure(sys.argv[1])))"
            r = subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True, text=True)
            row = {"photo": f"{w}x{h} {fmt.upper()}", "mb": round(Path(path).stat().st_size / 2**20, 1),
                   **json.loads(r.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    if args.markdown:
        print("| photo | file MiB | peak RSS MiB | after imports MiB | load s | loaded px |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['photo']} | {r['mb']} | {r['peak_mib']} | {r['after_imports_mib']} | {r['seconds']} | "
                  f"{r['loaded_px']} |")
    else:
        for r in rows:
            print(f"{r['photo']:<22} {r['mb']:>7} MiB file  peak {r['peak_mib']:>5} MiB "
                  f"(after imports {r['after_imports_mib']})  {r['seconds']:.2f} s  -> {r['loaded_px']} px")
    return 0
