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
