"""The add-on in a real Blender (the PyPI `bpy` module): install the built zip, drive the operators.

Every scenario runs in a fresh Blender process with a throwaway user folder (see
tests/blender/harness.py); the engine is this interpreter (which has torch), set in the
add-on's preferences exactly as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "blender"))
import harness  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def light_zip(tmp_path_factory) -> Path:
    harness.require_bpy()
    return harness.build_light_zip(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def graph_name() -> str:
    from diffproxy.graphs import GRAPHS
    return next(iter(GRAPHS))


@pytest.fixture(scope="module")
def photo(tmp_path_factory, graph_name) -> Path:
    """A flash photo of a procedural material, rendered by the engine (no external files)."""
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.render import render
    g = get_graph(graph_name)
    params = g.spec.sample(1, generator=__import__("torch").Generator().manual_seed(3))
    maps = g.maps(g.spec.round(params), 256)
    path = tmp_path_factory.mktemp("photo") / "sample_photo.png"
    save_png(render(maps)[0], path)
    return path


def test_light_zip_is_a_valid_extension_with_the_engine_inside(light_zip):
    with zipfile.ZipFile(light_zip) as z:
        names = set(z.namelist())
        manifest = z.read("blender_manifest.toml").decode()
    assert {"__init__.py", "batch.py", "engine_client.py", "node_tree.py", "blender_manifest.toml",
            "_engine/diffproxy/__init__.py", "_engine/diffproxy/server.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".whl") for n in names)
    import tomllib
    m = tomllib.loads(manifest)
    assert m["id"] == "diffproxy" and m["type"] == "add-on" and m["blender_version_min"] == "4.2.0"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"] and len(m["tagline"]) <= 64
    assert "files" in m["permissions"] and "wheels" not in m


def test_material_from_graph_sliders_undo_bake(light_zip, graph_name, tmp_path):
    r = harness.run_scenario("material_from_graph", tmp_path, zip_path=str(light_zip),
                             python=sys.executable, graph=graph_name)
    print(json.dumps({k: v for k, v in r.items() if k != "_log"}, indent=1))
    assert r["maps_changed_by_filter"]
    assert r["undo_value_restored"], "undo did not restore the slider value"
    assert r.get("undo_images_restored"), "after undo the images did not follow the slider"


def test_engine_failures_kill_and_cancel(light_zip, graph_name, tmp_path):
    venv = tmp_path / "venv-no-torch"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    no_torch = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    r = harness.run_scenario("engine_failures", tmp_path, zip_path=str(light_zip),
                             python=sys.executable, graph=graph_name, no_torch_python=str(no_torch))
    print(json.dumps({k: v for k, v in r.items() if k != "_log"}, indent=1))
    assert r["cancel_to_return_s"] < 1.0


def _pipeline_ready() -> bool:
    try:
        from diffproxy.optimize import proceduralize  # noqa: F401
        from diffproxy.optimize.pipeline import proceduralize as _p  # noqa: F401
    except ImportError:
        return False
    return True


def test_proceduralize_button_cancel_and_kill(light_zip, photo, tmp_path):
    if not _pipeline_ready():
        pytest.skip("the photo pipeline (diffproxy.optimize) is not there yet")
    r = harness.run_scenario("proceduralize", tmp_path, zip_path=str(light_zip),
                             python=sys.executable, image=str(photo), preset="fast")
    print(json.dumps({k: v for k, v in r.items() if k != "_log"}, indent=1))
    assert r["cancel_to_return_s"] < 1.0


def test_batch_two_images_one_corrupt(light_zip, photo, tmp_path):
    if not _pipeline_ready():
        pytest.skip("the photo pipeline (diffproxy.optimize) is not there yet")
    ext = tmp_path / "ext"
    with zipfile.ZipFile(light_zip) as z:
        z.extractall(ext)
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    out = tmp_path / "out"
    scratch = tmp_path / "tmp"  # the batch's temp folder: its scratch folders must go
    scratch.mkdir()
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user"), "TMPDIR": str(scratch)}
    env.pop("PYTHONPATH", None)
    r = subprocess.run([sys.executable, str(ext / "batch.py"), "--", "--images", str(photo), str(bad),
                        "--out", str(out), "--preset", "fast", "--resolution", "256", "--no-straighten",
                        "--python", sys.executable, "--blend", str(out / "batch.blend")],
                       capture_output=True, text=True, timeout=1800, env=env, cwd=str(tmp_path))
    print(r.stdout[-3000:], r.stderr[-3000:])
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    rows = json.loads((out / "summary.json").read_text())
    assert [Path(x["image"]).name for x in rows] == [photo.name, "corrupt.png"]
    assert rows[0]["status"] == "ok" and rows[0]["graph"]
    assert rows[1]["status"].startswith("FAILED") and "corrupt" in rows[1]["status"].lower()
    for m in ("basecolor", "normal", "roughness", "metallic", "height"):
        assert (out / photo.stem / f"{m}.png").is_file()
    assert (out / "batch.blend").is_file()
    assert not (out / "corrupt").exists(), "the failed image left an empty maps folder"
    assert not list(scratch.glob("diffproxy-blender-*")), list(scratch.iterdir())
    assert "image" in r.stdout and "graph" in r.stdout and "losses" in r.stdout  # the table


def test_maps_saved_next_to_the_blend(light_zip, graph_name, tmp_path):
    r = harness.run_scenario("save_next_to_blend", tmp_path, zip_path=str(light_zip),
                             python=sys.executable, graph=graph_name)
    assert "Save the .blend file first" in r["unsaved_message"]


def test_user_material_kept_on_save_no_deprecation_no_scratch_left(light_zip, graph_name, tmp_path):
    r = harness.run_scenario("user_data_kept", tmp_path, zip_path=str(light_zip),
                             python=sys.executable, graph=graph_name)
    print(json.dumps({k: v for k, v in r.items() if k != "_log"}, indent=1))
    assert "use_nodes" not in r["_log"], r["_log"]
    assert not r["scratch_after_disable"]


def test_exr_hdr_16bit_tiff_photos_go_as_srgb_pixels(light_zip, tmp_path):
    r = harness.run_scenario("photo_formats", tmp_path, zip_path=str(light_zip), python=sys.executable)
    print(json.dumps({k: v for k, v in r.items() if k not in ("_log", "sideways")}, indent=1))
    # a photo stored sideways with an EXIF orientation tag: Blender shows the stored pixels (it
    # ignores the tag), and the add-on asks the engine for the photo as Blender shows it
    harness.check_sideways_photo(r)


def test_preset_and_device_lists_come_from_the_engines_hello(light_zip, tmp_path):
    import torch
    r = harness.run_scenario("engine_lists", tmp_path, zip_path=str(light_zip), python=sys.executable)
    print(json.dumps({k: v for k, v in r.items() if k != "_log"}, indent=1))
    devices = {d[0]: d[2] for d in r["after"]["device"]}
    assert ("not available" in devices["cuda"]) == (not torch.cuda.is_available())
    assert "not available" not in devices["cpu"] and "paper" not in [p[0] for p in r["after"]["preset"]]


def test_normal_map_relief_shows_under_a_grazing_light_in_cycles(light_zip, tmp_path):
    """The add-on's material carries the relief into Cycles: the same bricks with and without
    normal strength, rendered under a sun 12 degrees above the plane, differ in shading (the
    brick edges lit on one side, shadowed on the other), and a fit's ``params.json`` with step
    "relief" is shown before and after it (``measure.py --grazing``)."""
    from diffproxy.graphs import get_graph

    g = get_graph("bricks")
    values = g.spec.to_json(g.spec.defaults())
    flat = {**values, **{n: 0.0 for n in g.relief_params}}
    files = []
    for name, params in (("flat", flat), ("flat_again", flat), ("relief", values)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"graph": "bricks", "params": params}))
        files.append(str(p))
    out_png = tmp_path / "grazing.png"
    r = harness.run_scenario("grazing_light", tmp_path / "run", zip_path=str(light_zip), python=sys.executable,
                             params_files=files, out_png=str(out_png), size=96, samples=8)
    flat_std, _, relief_std = (m["brightness_std"] for m in r["materials"])
    assert relief_std > 1.05 * flat_std, r["materials"]  # shading adds to the albedo's spread
    assert r["materials"][0]["relief_params"]["normal.intensity"] == 0.0
    import numpy as np
    from PIL import Image
    sheet = np.asarray(Image.open(out_png).convert("L"), dtype=np.float32) / 255
    assert sheet.shape == (96, 3 * 96 + 12)
    tiles = [sheet[:, i * 102:i * 102 + 96] for i in range(3)]
    same = float(np.abs(tiles[0] - tiles[1]).mean())  # the render's own noise: the same scene twice
    diff = float(np.abs(tiles[0] - tiles[2]).mean())  # same albedo: the light on the relief
    assert diff > 0.015 and diff > 5 * same, (diff, same)

    sys.path.insert(0, str(Path(__file__).resolve().parent / "blender"))
    from measure import grazing_pairs
    fitted = tmp_path / "fit" / "params.json"
    fitted.parent.mkdir()
    fitted.write_text(json.dumps({"graph": "bricks", "params": values,
                                  "losses": {"relief": {"params": {"normal.intensity": [0.1, 2.5]}}}}))
    pair, labels = grazing_pairs([str(fitted)], tmp_path / "pairs")
    assert len(pair) == 2 and labels == ["fit: no relief step", "fit: with it"]
    assert json.loads(Path(pair[0]).read_text())["params"]["normal.intensity"] == 0.1
    # the filters a refit moved go back too: the fit as it was before the whole step
    fitted.write_text(json.dumps({"graph": "bricks", "params": values, "losses": {"relief": {
        "params": {"normal.intensity": [0.1, 2.5]}, "refit": {"params": {"color.grain": [0.2, 0.3]}}}}}))
    pair, _ = grazing_pairs([str(fitted)], tmp_path / "pairs2")
    before = json.loads(Path(pair[0]).read_text())["params"]
    assert before["normal.intensity"] == 0.1 and before["color.grain"] == 0.2
