"""The installable package (a wheel, as `pip install .` builds it) holds the whole engine.

The list of what must be in it comes from walking engine/ (every folder with an __init__.py is a
package, every data file next to the code ships), not from a hand-kept list, so a new
sub-package that the packaging configuration misses fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"


def engine_files() -> set[str]:
    """Every file under engine/ that an installed engine needs, as ``diffproxy/...`` paths."""
    out = set()
    for pkg in (p.parent for p in ENGINE.rglob("__init__.py")):
        out |= {f"diffproxy/{f.relative_to(ENGINE).as_posix()}" for f in pkg.glob("*.py")}
    for f in ENGINE.rglob("*"):
        if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts:
            out.add(f"diffproxy/{f.relative_to(ENGINE).as_posix()}")
    return out


def test_wheel_holds_every_engine_package_and_data_file(tmp_path):
    # built from a copy: setuptools reuses a build/ folder, whose stale files would hide a gap
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ENGINE, src / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "dist").glob("diffproxy-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    want = engine_files()
    assert {"diffproxy/estimator/__init__.py", "diffproxy/weights/proxies.json"} <= want
    assert not want - names, f"missing from the wheel: {sorted(want - names)}"
    assert "diffproxy = diffproxy.cli:main" in entry
