"""Build the installable DiffProxy extension zip(s) with Blender's own extension tool.

    python build.py --no-torch      light zip (any platform): the add-on + the engine; the user
                                    points Preferences > Python interpreter at a Python with torch
    python build.py                 full zips, one per platform, with torch and its dependencies
                                    bundled as wheels (downloads several GB into wheels/)
    python build.py --sizes         what the full zips would weigh: resolves each platform's
                                    wheels with pip and sums their download sizes (no download)

Layout of the extension (the zip's root): the add-on's files (``diffproxy_addon/``), the engine
copied as the package ``_engine/diffproxy`` (with proxy weights if ``engine/weights`` has any),
``wheels/*.whl`` (full builds) and ``blender_manifest.toml`` with its ``wheels`` and
``platforms`` filled in. Nothing ever runs pip inside Blender: Blender installs the bundled
wheels itself when the extension is installed.

The extension tool is ``blender_ext.py`` from Blender's ``bl_pkg`` add-on: found inside the
``bpy`` module (``pip install bpy``), or given with ``--blender-ext``; ``--blender`` uses a
Blender executable's ``--command extension`` instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "diffproxy_addon"
ENGINE = ROOT / "engine"
MANIFEST = ROOT / "blender_manifest.toml"
WHEELS = ROOT / "wheels"
BUILD = ROOT / "build"
ENGINE_DIR_IN_EXT = "_engine"  # engine_client.BUNDLED_ENGINE_DIR

# Bundled torch: the version the tests run (CUDA build on Linux/Windows, MPS on macOS); --torch
# overrides it.
TORCH = "torch==2.13.0"
# numpy is Blender's own (1.26 in 4.2-4.5): never bundle another one
BUNDLED = ["pillow>=10", "safetensors>=0.4", "tqdm>=4.60"]
PY = "3.11"
# Blender platform -> (pip --platform tags, extra pip index arguments)
PLATFORMS: dict[str, tuple[list[str], list[str]]] = {
    # Blender 4.2+ needs glibc 2.28: accept every manylinux tag up to that
    "linux-x64": ([f"manylinux_2_{v}_x86_64" for v in range(28, 16, -1)] + ["manylinux2014_x86_64"], []),
    "windows-x64": (["win_amd64"], ["--index-url", "https://download.pytorch.org/whl/{cuda}",
                                    "--extra-index-url", "https://pypi.org/simple"]),
    "macos-arm64": (["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_14_0_arm64"], []),
}
# PyPI's Linux torch is the CUDA build; Windows needs PyTorch's CUDA index; macOS has MPS built in
TARGET_MARKERS = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                  "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                    "os_name": "nt"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")


def find_blender_ext() -> Path | None:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        hits = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    return None


def ext_tool(args: argparse.Namespace) -> list[str]:
    if args.blender:
        return [args.blender, "--factory-startup", "--command", "extension"]
    tool = Path(args.blender_ext) if args.blender_ext else find_blender_ext()
    if tool is None or not tool.is_file():
        sys.exit("build.py: Blender's extension tool was not found. `pip install bpy==4.5.*`, or "
                 "pass --blender-ext <.../bl_pkg/cli/blender_ext.py> or --blender <blender executable>")
    return [sys.executable, str(tool)]


def stage(target: Path, wheels: list[Path], platforms: list[str] | None) -> Path:
    """Assemble the extension's files in ``target``; returns its manifest path."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ADDON, target, ignore=IGNORE)
    eng = target / ENGINE_DIR_IN_EXT / "diffproxy"
    # the engine's example photo (assets/) is for its command line, not needed in Blender
    shutil.copytree(ENGINE, eng, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "*.egg-info", "weights", "assets"))
    weights = [p for p in (ENGINE / "weights").glob("*") if p.suffix in (".safetensors", ".json")]
    if weights:
        (eng / "weights").mkdir()
        for p in weights:
            shutil.copy2(p, eng / "weights" / p.name)
    if wheels:
        (target / "wheels").mkdir()
        for w in wheels:
            shutil.copy2(w, target / "wheels" / w.name)
    text = MANIFEST.read_text(encoding="utf-8")
    wheel_list = ", ".join(f'"./wheels/{w.name}"' for w in sorted(wheels, key=lambda p: p.name))
    text = re.sub(r"(?m)^wheels = \[.*\]$", f"wheels = [{wheel_list}]" if wheels else "", text)
    if platforms is None:
        text = re.sub(r"(?m)^platforms = \[.*\]$", "", text)
    else:
        text = re.sub(r"(?m)^platforms = \[.*\]$",
                      "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    (target / "blender_manifest.toml").write_text(text, encoding="utf-8")
    tomllib.loads(text)  # fail here, not in Blender, if the edit broke the file
    return target / "blender_manifest.toml"


def pip_platform_args(platform: str, cuda: str) -> list[str]:
    tags, index = PLATFORMS[platform]
    out = ["--only-binary=:all:", "--python-version", PY, "--implementation", "cp", "--abi", "cp311"]
    for t in tags:
        out += ["--platform", t]
    return out + ([a.format(cuda=cuda) for a in index] if cuda != "none" else [])


def check_cuda_build(platform: str, cuda: str, wheels: list[tuple[str, str, list[str]]],
                     strict: bool) -> str:
    """Windows wheels on PyPI are CPU-only: make sure torch came from PyTorch's CUDA index."""
    if platform != "windows-x64" or cuda == "none":
        return ""
    url = next((u for n, u, _ in wheels if n.lower().startswith("torch-")), "")
    if "download.pytorch.org" in url:
        return ""
    msg = (f"{platform}: torch did not come from https://download.pytorch.org/whl/{cuda} (unreachable "
           "from here?), pip fell back to PyPI's CPU-only build; pass --cuda none to bundle that on purpose")
    if strict:
        raise SystemExit("build.py: " + msg)
    return msg


def _public_index_env() -> dict[str, str]:
    """pip with no local configuration: a machine's mirror or find-links folder (say, one with a
    CPU-only torch) must not end up in a bundle meant for other machines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _resolve_one(req: str, platform: str, cuda: str) -> dict:
    """pip's dry-run report for one requirement on ``platform`` (no dependencies, no download)."""
    report = BUILD / "pip-report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
           "--quiet", "--report", str(report), "--target", str(BUILD / "pip-dry-run-target"),
           *pip_platform_args(platform, cuda), req]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_public_index_env())
    if r.returncode != 0:
        raise SystemExit(f"build.py: pip cannot find {req!r} for {platform}:\n{r.stderr.strip()[-1500:]}")
    return json.loads(report.read_text())["install"][0]


def resolve(platform: str, cuda: str, torch: str) -> list[tuple[str, str, list[str]]]:
    """Every wheel (name, url, requirement) the bundle needs on ``platform``.

    pip evaluates dependency markers for the machine it runs on, not for ``--platform``, so a
    Linux build would pull Linux-only CUDA packages into the macOS bundle. Dependencies are
    therefore walked here, one ``--no-deps`` resolution each, with markers evaluated for the
    target platform. numpy is left out: Blender ships its own.
    """
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = default_environment()
    env.update(TARGET_MARKERS[platform])
    env.update(python_version=PY, python_full_version=PY + ".9", implementation_name="cpython",
               platform_python_implementation="CPython")
    todo = [torch, *BUNDLED]
    seen: set[str] = {"numpy"}
    out = []
    while todo:
        req = Requirement(todo.pop(0))
        name = req.name.lower().replace("_", "-")
        if name in seen or (req.marker is not None and not req.marker.evaluate({**env, "extra": ""})):
            continue
        seen.add(name)
        item = _resolve_one(str(req).split(";")[0].strip(), platform, cuda)
        url = item["download_info"]["url"]
        out.append((url.rsplit("/", 1)[-1].split("#")[0], url, [str(req)]))
        todo += item["metadata"].get("requires_dist") or []
    return out


def download_wheels(platform: str, cuda: str, torch: str) -> list[Path]:
    """Download the bundle's wheels for ``platform`` into ``wheels/<platform>/``."""
    dest = WHEELS / platform
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    resolved = resolve(platform, cuda, torch)
    check_cuda_build(platform, cuda, resolved, strict=True)
    for name, url, _req in resolved:
        target = dest / name
        if not target.exists():
            print(f"  downloading {name}", flush=True)
            tmp = target.with_suffix(".part")
            with urllib.request.urlopen(url, timeout=600) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
            tmp.rename(target)
        wheels.append(target)
    return wheels


def resolve_sizes(platform: str, cuda: str, torch: str) -> list[tuple[str, int]]:
    """Wheels the bundle would hold for ``platform`` and their sizes (HTTP HEAD; nothing saved)."""
    out = []
    resolved = resolve(platform, cuda, torch)
    if warning := check_cuda_build(platform, cuda, resolved, strict=False):
        print("WARNING: " + warning, file=sys.stderr)
    for name, url, _req in resolved:
        size = -1
        if url.startswith("file://"):
            size = Path(urllib.request.url2pathname(url[7:])).stat().st_size
        else:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as r:
                    size = int(r.headers.get("Content-Length", -1))
            except OSError as e:
                print(f"  size of {name}: {e}", file=sys.stderr)
        out.append((name, size))
    return out


def run_tool(tool: list[str], *args: str) -> None:
    cmd = [*tool, *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-torch", action="store_true",
                    help="light zip without wheels (use your own Python with torch)")
    ap.add_argument("--platforms", nargs="+", default=list(PLATFORMS), choices=list(PLATFORMS),
                    help="platforms of the full build")
    ap.add_argument("--cuda", default="cu128",
                    help="PyTorch CUDA index for the Windows torch (cu126, cu128...; none: CPU build)")
    ap.add_argument("--torch", default=TORCH, help=f"torch requirement to bundle (default {TORCH!r})")
    ap.add_argument("--out", default=str(BUILD / "dist"), help="folder for the zips")
    ap.add_argument("--sizes", action="store_true",
                    help="only report the wheel download size per platform (no build)")
    ap.add_argument("--blender-ext", default="", help="path of Blender's bl_pkg/cli/blender_ext.py")
    ap.add_argument("--blender", default="", help="a Blender executable (uses --command extension)")
    args = ap.parse_args(argv)

    if args.sizes:
        for plat in args.platforms:
            items = resolve_sizes(plat, args.cuda, args.torch)
            total = sum(s for _, s in items if s > 0)
            print(f"{plat}: {len(items)} wheels, {total / 2**20:.0f} MiB")
            for name, size in sorted(items, key=lambda x: -x[1]):
                print(f"  {size / 2**20:9.1f} MiB  {name}")
        return 0

    tool = ext_tool(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    version = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["version"]
    if args.no_torch:
        src = BUILD / "stage-no-torch" / "diffproxy"
        stage(src, [], None)
        zip_path = out / f"diffproxy-{version}-no-torch.zip"
        zip_path.unlink(missing_ok=True)
        run_tool(tool, "build", "--source-dir", str(src), "--output-filepath", str(zip_path))
        zips = [zip_path]
    else:
        wheels: list[Path] = []
        for plat in args.platforms:
            wheels += download_wheels(plat, args.cuda, args.torch)
        unique = list({w.name: w for w in wheels}.values())
        src = BUILD / "stage-full" / "diffproxy"
        stage(src, unique, args.platforms)
        before = set(out.glob("*.zip"))
        run_tool(tool, "build", "--source-dir", str(src), "--output-dir", str(out), "--split-platforms")
        zips = sorted(set(out.glob("*.zip")) - before) or sorted(out.glob(f"diffproxy-{version}-*.zip"))
    for z in zips:
        run_tool(tool, "validate", str(z))
        print(f"{z}: {z.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
