"""Type-check the add-on against fake-bpy-module (Blender 4.5 stubs)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_addon_type_checks_against_fake_bpy_module():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    if not any((Path(p) / "bpy-stubs").is_dir() for p in sys.path if p):
        pytest.skip("fake-bpy-module is not installed (pip install fake-bpy-module-4.5)")
    r = subprocess.run([sys.executable, "-m", "mypy", "--python-version", "3.11",
                        "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"),
                        "diffproxy_addon"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
