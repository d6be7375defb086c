"""Test-side helpers: build the extension zip once, run Blender scenarios in fresh processes.

Each scenario (a function in ``scenarios.py``) runs in its own ``python3`` process that imports
the real ``bpy`` module, with ``BLENDER_USER_RESOURCES`` pointing at a throwaway folder so the
real user configuration is never touched. The scenario returns a JSON-able dict (measurements,
messages) and fails with an assertion inside Blender when something is wrong.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def require_bpy() -> None:
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("the Blender module is not installed (pip install bpy==4.5.*)")


def build_light_zip(out_dir: Path) -> Path:
    """``python build.py --no-torch`` into ``out_dir``; returns the zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, str(ROOT / "build.py"), "--no-torch", "--out", str(out_dir)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    zips = sorted(out_dir.glob("diffproxy-*-no-torch.zip"))
    assert zips, r.stdout
    return zips[-1]


def run_scenario(name: str, tmp: Path, timeout: float = 900, blender_python: str = "", **args) -> dict:
    """Run ``scenarios.<name>(**args)`` in a fresh Blender; returns its result dict.
    ``blender_python``: a Python with another ``bpy`` (Blender version) than this one's."""
    tmp.mkdir(parents=True, exist_ok=True)
    result = tmp / f"{name}.result.json"
    result.unlink(missing_ok=True)
    env = dict(os.environ)
    env["BLENDER_USER_RESOURCES"] = str(tmp / "blender-user")
    env["DPX_SCENARIO_ARGS"] = json.dumps(args)
    env["DPX_SCENARIO_RESULT"] = str(result)
    # Blender's own temp folder (blender_XXXX) goes here: the scenario ends with os._exit, so
    # Blender never removes it, and pytest's tmp_path cleanup does
    (tmp / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp / "tmp")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([blender_python or sys.executable, str(HERE / "run_scenario.py"), name], env=env, cwd=str(tmp),
                       capture_output=True, text=True, timeout=timeout)
    log = f"--- stdout ---\n{r.stdout[-6000:]}\n--- stderr ---\n{r.stderr[-6000:]}"
    assert r.returncode == 0, f"scenario {name} failed (exit {r.returncode})\n{log}"
    data = json.loads(result.read_text())
    data["_log"] = log
    return data


def check_sideways_photo(result: dict) -> None:
    """The ``photo_formats`` scenario's sideways JPEG (EXIF orientation 6): the add-on asks the
    engine for the photo as Blender shows it (the stored pixels; Blender ignores the tag), and
    the engine's photo is then Blender's pixels. Runs in this process (it has torch)."""
    import numpy as np

    from diffproxy.optimize import Options
    from diffproxy.photo import load_photo
    side = result["sideways"]
    assert side["size"] == [16, 8] and side["options"]["exif_orientation"] is False, side["options"]
    Options(**side["options"])  # the add-on's options are the engine's
    shown = np.asarray(side["shown"], np.float32)  # (8, 16, 3), top row first
    seen = load_photo(side["path"], min_size=8, exif_orientation=side["options"]["exif_orientation"])
    x = seen.image[0].permute(1, 2, 0).numpy()  # the centred 8 x 8 square of the stored 16 x 8
    assert x.shape == (8, 8, 3) and np.abs(x - shown[:, 4:12]).max() < 0.03, np.abs(x - shown[:, 4:12]).max()
    assert any("not applied" in n for n in seen.notes), seen.notes
    upright = load_photo(side["path"], min_size=8).image[0].permute(1, 2, 0).numpy()
    assert np.abs(upright - shown[:, 4:12]).max() > 0.3  # turned by the tag: not what Blender shows
