"""The layout reader on "photos" made by Blender (tests/blender/photoset.py): another pattern
generator (the Brick Texture node) and another renderer (Cycles, a flash at the camera), counts
and bond known exactly. The reader was tuned on the engine's own renders and on the shared
photos; these share neither."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent / "blender"))
import harness  # noqa: E402
import photoset  # noqa: E402

from diffproxy.judge import COUNT_TOLERANCE  # noqa: E402
from diffproxy.layout import BOND_WINDOW, measure_layout  # noqa: E402

# the floor boards: glossy, the flash's highlight on them read as light joints until the
# polarity took the median of each row and column (session 47)
CASES = ("red_running_bond", "subway_tiles", "stack_square_tiles", "dark_units_light_grout", "wood_planks")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    harness.require_bpy()
    out = tmp_path_factory.mktemp("photoset")
    # its own process: Blender's module and torch are not loaded side by side
    r = subprocess.run([sys.executable, str(harness.HERE / "photoset.py"), "--out", str(out), "--size", "256",
                        "--samples", "8", "--only", *CASES], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out


def _luminance(rgb) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


@pytest.mark.parametrize("name", CASES)
def test_layout_reads_blender_made_photos(made, name):
    spec = photoset.MATERIALS[name]
    label = json.loads((made / "LABELS.json").read_text())[name]
    assert label == photoset.label(spec)
    img = np.array(Image.open(made / f"{name}.png").convert("RGB"), dtype=np.float32) / 255.0
    m = measure_layout(torch.from_numpy(img).permute(2, 0, 1)[None])
    for count in ("rows", "per_row"):
        got = getattr(m, count)
        assert got is not None and 1 / COUNT_TOLERANCE <= got / label[count] <= COUNT_TOLERANCE, (count, m)
    lighter = _luminance(spec["mortar"]) > _luminance(spec["c1"])
    assert m.polarity == (1 if lighter else -1), m
    assert m.offset is not None and abs(m.offset - spec["offset"]) <= BOND_WINDOW, m


def test_unknown_material_is_refused(tmp_path):
    r = subprocess.run([sys.executable, str(harness.HERE / "photoset.py"), "--out", str(tmp_path), "--only", "marble"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown material" in r.stderr and "red_running_bond" in r.stderr
