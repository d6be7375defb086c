"""The add-on in other Blender versions than the test suite's (4.5 LTS): 4.2 LTS and 5.0.

    python tests/blender/versions.py [--versions 4.2 5.0] [--venvs build/bpy]

Each version gets its own virtual environment with PyPI's ``bpy`` (Blender as a module, about
370 MB; made once, reused after), and runs the quick real-Blender scenarios there: install the
extension zip, the operators, a slider edit, save and reopen (``user_data_kept``) and photos as
pixels, and a photo stored sideways as Blender shows it (``photo_formats``, its pixels compared
here with the engine's photo). The engine is this interpreter (it has torch): the add-on talks
to it as a child process, so the Blender environments need no torch. Exit code 1 if any version
fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402

VERSIONS = ("4.2", "5.0")
SCENARIOS = ("user_data_kept", "photo_formats")


def has_bpy(py: Path, version: str) -> bool:
    check = f"import bpy, sys; sys.exit(not bpy.app.version_string.startswith({version + '.'!r}))"
    return py.exists() and subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0


def blender_python(version: str, venvs: Path) -> Path:
    """The Python of a virtual environment with ``bpy=={version}.*`` (made if missing)."""
    venv = venvs / version
    py = venv / "bin" / "python"
    if not has_bpy(py, version):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"bpy=={version}.*"], check=True)
    return py


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", nargs="+", default=list(VERSIONS))
    ap.add_argument("--venvs", default=str(HERE.parent.parent / "build" / "bpy"),
                    help="folder of the per-version environments")
    args = ap.parse_args(argv)
    from diffproxy.graphs import GRAPHS
    graph = next(iter(GRAPHS))
    failed = []
    with tempfile.TemporaryDirectory(prefix="dpx-versions-") as tmp_s:
        tmp = Path(tmp_s)
        zip_path = harness.build_light_zip(tmp / "dist")
        for version in args.versions:
            t = time.perf_counter()
            py = blender_python(version, Path(args.venvs))
            setup_s = time.perf_counter() - t
            for name in SCENARIOS:
                extra = {"graph": graph} if name == "user_data_kept" else {}
                t = time.perf_counter()
                try:
                    r = harness.run_scenario(name, tmp / version / name, blender_python=str(py),
                                             zip_path=str(zip_path), python=sys.executable, **extra)
                    if "use_nodes" in r["_log"]:
                        raise AssertionError(f"a use_nodes warning was printed:\n{r['_log']}")
                    if name == "photo_formats":
                        harness.check_sideways_photo(r)
                    status = f"ok (Blender {r.get('blender')})"
                except AssertionError as e:
                    status = "FAILED"
                    failed.append(f"{version} {name}")
                    print(str(e)[-4000:], file=sys.stderr)
                print(f"bpy {version} {name}: {status}, {time.perf_counter() - t:.0f} s "
                      f"(environment {setup_s:.0f} s)", flush=True)
    if failed:
        print("versions: failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
