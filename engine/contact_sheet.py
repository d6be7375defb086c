"""Contact sheet: every graph's maps and flash render for a few artist-prior samples, one image.

Layout: one row per graph (its name at the row start); per seed a group of six thumbnails
``basecolor | normal | roughness | metallic | height | render``; a header names the columns and
the seeds. Seed ``s`` is the draw ``spec.sample(1, torch.Generator().manual_seed(s))``, the same
as ``diffproxy render --graph NAME --seed s``, so any thumbnail can be reproduced at full size.
Maps are synthesised at ``res`` and shown at ``thumb`` pixels (Lanczos); :func:`encode_within`
keeps the file under a byte budget by shrinking thumbnails first and using a 256-colour palette
only as the last resort.
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


Cells = dict  # {graph name: [ {column: (3, res, res) tensor}, ... one per seed ]}


def collect(graphs: Mapping[str, object], res: int = 128, seeds: Sequence[int] = (0, 1, 2), device=None,
            on_row=None) -> Cells:
    """Synthesise and render every graph for every seed (the slow part).

    Args:
        graphs: ``{name: MaterialGraph}`` (one row each, in order).
        res: side in pixels at which the maps are synthesised and rendered, 16..1024.
        seeds: artist-prior seeds, one column group each.
        on_row: optional callback ``(name)`` after each graph (progress).
    """
    if not graphs:
        raise ValueError("graphs is empty: nothing to draw")
    if not (isinstance(res, int) and 16 <= res <= 1024):
        raise ValueError(f"res must be an int in 16..1024 for a contact sheet, got {res!r}")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    cells = {}
    for name, graph in graphs.items():
        cells[name] = sample_row(graph, res, seeds, device)
        if on_row is not None:
            on_row(name)
    return cells


def layout(cells: Cells, seeds: Sequence[int], thumb: int):
    """Collected cells -> PIL RGB sheet with ``thumb``-pixel thumbnails (Lanczos-downscaled)."""
    from PIL import Image, ImageDraw

    if not (isinstance(thumb, int) and thumb >= 16):
        raise ValueError(f"thumb must be an int >= 16, got {thumb!r}")
    group_w = len(COLUMNS) * (thumb + GAP) - GAP
    width = LABEL_W + len(seeds) * (group_w + GROUP_GAP)
    height = HEADER_H + len(cells) * (thumb + GAP)
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for k, s in enumerate(seeds):
        x0 = LABEL_W + k * (group_w + GROUP_GAP)
        draw.text((x0, 2), f"seed {s}", fill=(255, 255, 255))
        for j, c in enumerate(COLUMNS):
            draw.text((x0 + j * (thumb + GAP), 18), c[:max(3, thumb // 7)], fill=(170, 170, 170))
    for r, (name, row) in enumerate(cells.items()):
        y0 = HEADER_H + r * (thumb + GAP)
        draw.text((6, y0 + thumb // 2 - 6), name, fill=(255, 255, 255))
        for k, seed_cells in enumerate(row):
            x0 = LABEL_W + k * (group_w + GROUP_GAP)
            for j, c in enumerate(COLUMNS):
                sheet.paste(_to_pil(seed_cells[c], thumb), (x0 + j * (thumb + GAP), y0))
    return sheet


def build(graphs: Mapping[str, object], res: int = 128, seeds: Sequence[int] = (0, 1, 2), device=None,
          on_row=None, thumb: int | None = None):
    """:func:`collect` then :func:`layout` (``thumb`` defaults to ``res``): a PIL RGB image."""
    thumb = res if thumb is None else thumb
    if not (isinstance(thumb, int) and 16 <= thumb <= res):
        raise ValueError(f"thumb must be an int in 16..res ({res}), got {thumb!r}")
    return layout(collect(graphs, res, seeds, device, on_row), seeds, thumb)


def _png(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def encode_within(cells: Cells, seeds: Sequence[int], thumb: int, max_bytes: int | None = None,
                  min_thumb: int = 64) -> tuple[bytes, int, str]:
    """Sheet as PNG bytes under ``max_bytes`` if it can be: RGB at ``thumb``, else RGB with
    thumbnails shrunk in steps of 8 px down to ``min_thumb``, else a 256-colour palette (fast
    octree) at ``thumb``; the palette comes last because it bands smooth heights and highlights.

    Returns ``(png bytes, thumbnail side used, "rgb" | "palette")``.
    """
    from PIL import Image

    side = thumb
    while True:
        sheet = layout(cells, seeds, side)
        data = _png(sheet)
        if max_bytes is None or len(data) <= max_bytes:
            return data, side, "rgb"
        if side - 8 < min(min_thumb, thumb):
            break
        side -= 8
    sheet = layout(cells, seeds, thumb)
    return _png(sheet.quantize(256, method=Image.Quantize.FASTOCTREE)), thumb, "palette"
