"""Contact sheet: every graph's maps and flash render for a few artist-prior samples, one image.

Layout: one row per graph (its name at the row start); per seed a group of six thumbnails
``basecolor | normal | roughness | metallic | height | render``; a header names the columns and
the seeds. Seed ``s`` is the draw ``spec.sample(1, torch.Generator().manual_seed(s))``, the same
as ``diffproxy render --graph NAME --seed s``, so any thumbnail can be reproduced at full size.
Maps are synthesised at ``res`` and shown at ``thumb`` pixels (Lanczos), which keeps the file
small: :func:`encode` writes RGB and falls back to a 256-colour palette only above a byte budget.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from .render import render

COLUMNS = ("basecolor", "normal", "roughness", "metallic", "height", "render")
LABEL_W = 120
HEADER_H = 34
GAP = 2
GROUP_GAP = 10


def sample_row(graph, res: int, seeds: Sequence[int], device=None) -> list[dict[str, torch.Tensor]]:
    """Maps + render for each seed: ``[{column: (3, res, res) in [0, 1]}, ...]`` (CPU float32)."""
    spec = graph.spec
    draws = [spec.sample(1, generator=torch.Generator().manual_seed(int(s)), device=device) for s in seeds]
    params = {n: torch.cat([d[n] for d in draws]) for n in spec.names}
    with torch.no_grad():
        maps = graph.maps(params, res)
        maps = dict(maps, render=render(maps))
    out = []
    for i in range(len(seeds)):
        cells = {}
        for c in COLUMNS:
            t = maps[c][i].detach().float().clamp(0, 1).cpu()
            cells[c] = t.expand(3, -1, -1) if t.shape[0] == 1 else t
        out.append(cells)
    return out


def _to_pil(t: torch.Tensor, thumb: int):
    from PIL import Image

    arr = (t.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype("uint8")
    im = Image.fromarray(arr, "RGB")
    return im if im.width == thumb else im.resize((thumb, thumb), Image.Resampling.LANCZOS)


def build(graphs: Mapping[str, object], res: int = 128, seeds: Sequence[int] = (0, 1, 2), device=None,
          on_row=None, thumb: int | None = None):
    """Render the sheet as a PIL RGB image.

    Args:
        graphs: ``{name: MaterialGraph}`` (one row each, in order).
        res: side in pixels at which the maps are synthesised and rendered.
        seeds: artist-prior seeds, one column group each.
        on_row: optional callback ``(name)`` after each row (progress).
        thumb: thumbnail side in pixels (default ``res``); smaller values are Lanczos-downscaled.
    """
    from PIL import Image, ImageDraw

    if not graphs:
        raise ValueError("graphs is empty: nothing to draw")
    if not (isinstance(res, int) and 16 <= res <= 1024):
        raise ValueError(f"res must be an int in 16..1024 for a contact sheet, got {res!r}")
    thumb = res if thumb is None else thumb
    if not (isinstance(thumb, int) and 16 <= thumb <= res):
        raise ValueError(f"thumb must be an int in 16..res ({res}), got {thumb!r}")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    res_synth, res = res, thumb  # layout below is in thumbnail pixels
    group_w = len(COLUMNS) * (res + GAP) - GAP
    width = LABEL_W + len(seeds) * (group_w + GROUP_GAP)
    height = HEADER_H + len(graphs) * (res + GAP)
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for k, s in enumerate(seeds):
        x0 = LABEL_W + k * (group_w + GROUP_GAP)
        draw.text((x0, 2), f"seed {s}", fill=(255, 255, 255))
        for j, c in enumerate(COLUMNS):
            draw.text((x0 + j * (res + GAP), 18), c[:max(3, res // 7)], fill=(170, 170, 170))
    for r, (name, graph) in enumerate(graphs.items()):
        y0 = HEADER_H + r * (res + GAP)
        draw.text((6, y0 + res // 2 - 6), name, fill=(255, 255, 255))
        for k, cells in enumerate(sample_row(graph, res_synth, seeds, device)):
            x0 = LABEL_W + k * (group_w + GROUP_GAP)
            for j, c in enumerate(COLUMNS):
                sheet.paste(_to_pil(cells[c], res), (x0 + j * (res + GAP), y0))
        if on_row is not None:
            on_row(name)
    return sheet


def encode(sheet, max_bytes: int | None = None) -> tuple[bytes, str, int]:
    """PIL image -> (PNG bytes, "rgb" | "palette", size of the RGB encoding): RGB, or an adaptive
    256-colour palette (fast octree: keeps hues better than median cut) when RGB exceeds
    ``max_bytes``."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    rgb = buf.getvalue()
    if max_bytes is None or len(rgb) <= max_bytes:
        return rgb, "rgb", len(rgb)
    buf = io.BytesIO()
    sheet.quantize(256, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), "palette", len(rgb)
