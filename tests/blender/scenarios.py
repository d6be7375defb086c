"""Scenarios that run inside a fresh Blender (the PyPI ``bpy`` module), one per process.

Each installs the built extension zip into a throwaway repository with Blender's own
``extensions.package_install_files``, enables it, points its interpreter preference at a Python
that has torch, and drives the real operators. Failures are assertions; results (timings,
messages) are returned to the test as JSON.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from types import ModuleType
from typing import Any

import bpy

REPO = "dpx_test"
MAPS = ("basecolor", "normal", "roughness", "metallic", "height")


# --- setup -------------------------------------------------------------------------------------
def install(zip_path: str, python: str) -> tuple[ModuleType, Any]:
    user = os.environ["BLENDER_USER_RESOURCES"]
    assert user and "blender-user" in user, "refusing to run outside a throwaway user folder"
    repos = bpy.context.preferences.extensions.repos
    if REPO not in [r.module for r in repos]:
        repos.new(name=REPO, module=REPO, custom_directory=os.path.join(user, "repo"), source='USER')
    r = bpy.ops.extensions.package_install_files(filepath=zip_path, repo=REPO, enable_on_install=True)
    assert r == {'FINISHED'}, r
    name = f"bl_ext.{REPO}.diffproxy"
    assert name in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.python = python
    return sys.modules[name], prefs


def call(op: Any, **kw: Any) -> set:
    """Run an operator; an ERROR report raises RuntimeError from Python: count it as cancelled
    (the message is in the status line the panel shows)."""
    try:
        return op(**kw)
    except RuntimeError as e:
        print(f"operator reported: {e}")
        return {'CANCELLED'}


def status() -> Any:
    return bpy.context.window_manager.diffproxy_status


def plane() -> Any:
    bpy.ops.mesh.primitive_plane_add(size=2.0)
    return bpy.context.view_layer.objects.active


def pixels(img: Any) -> Any:
    import numpy as np
    buf = np.empty(img.size[0] * img.size[1] * img.channels, dtype=np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(img.size[1], img.size[0], img.channels)


def digest(img: Any) -> str:
    return hashlib.sha1(pixels(img).tobytes()).hexdigest()


def digests(addon: ModuleType, mat: Any) -> dict[str, str]:
    return {m: digest(n.image) for m, n in addon.node_tree.image_nodes(mat).items()}


def wait_synced(addon: ModuleType, before: int, timeout: float = 300.0) -> float:
    """Drive the slider timer by hand (background Blender runs no timers) until one update."""
    w = addon.sliders.WATCHER
    t0 = time.perf_counter()
    while w.updates <= before:
        w.tick()
        assert not w.last_error, w.last_error
        assert time.perf_counter() - t0 < timeout, "slider edit never reached the images"
        time.sleep(0.01)
    while w.busy():  # a superseded request may still be finishing
        w.tick()
        time.sleep(0.01)
    return time.perf_counter() - t0


def run_in_thread_after(delay_fn, action) -> threading.Thread:
    t = threading.Thread(target=lambda: (delay_fn(), action()), daemon=True)
    t.start()
    return t


# --- checks ----------------------------------------------------------------------------------
def check_material(addon: ModuleType, mat: Any, spec: dict, res: int) -> None:
    nt = mat.node_tree
    nodes = {n.name: n for n in nt.nodes}
    bsdf = next(n for n in nt.nodes if n.type == 'BSDF_PRINCIPLED')
    out = next(n for n in nt.nodes if n.type == 'OUTPUT_MATERIAL')
    mapping = next(n for n in nt.nodes if n.type == 'MAPPING')
    coords = next(n for n in nt.nodes if n.type == 'TEX_COORD')
    assert out.inputs["Surface"].links[0].from_node == bsdf
    assert mapping.inputs["Vector"].links[0].from_node == coords
    assert mapping.inputs["Vector"].links[0].from_socket.name == "UV"
    images = addon.node_tree.image_nodes(mat)
    assert sorted(images) == sorted(MAPS), sorted(images)
    for m, node in images.items():
        img = node.image
        assert img is not None and img.name.startswith(mat.name), (m, img and img.name)
        assert tuple(img.size) == (res, res), (m, tuple(img.size))
        want = "sRGB" if m == "basecolor" else "Non-Color"
        assert img.colorspace_settings.name == want, (m, img.colorspace_settings.name)
        assert node.inputs["Vector"].links[0].from_node == mapping, m
        assert node.extension == 'REPEAT'
        assert node.label, m
    for sock, m in (("Base Color", "basecolor"), ("Roughness", "roughness"), ("Metallic", "metallic")):
        assert bsdf.inputs[sock].links[0].from_node == images[m], sock
    nmap = bsdf.inputs["Normal"].links[0].from_node
    assert nmap.type == 'NORMAL_MAP' and nmap.inputs["Color"].links[0].from_node == images["normal"]
    disp = out.inputs["Displacement"].links[0].from_node
    assert disp.type == 'DISPLACEMENT' and disp.mute
    assert disp.inputs["Height"].links[0].from_node == images["height"]
    assert "DiffProxy basecolor" in nodes

    mp = addon.material_params
    assert mat[mp.KEY_GRAPH] == spec["graph"]
    assert mat[mp.KEY_RES] == res
    assert mp.groups(mat) == [(g["name"], [p["name"] for p in g["params"]]) for g in spec["groups"]]
    for p in spec["params"]:
        k = mp.PREFIX + p["name"]
        assert k in mat.keys(), k
        ui = mat.id_properties_ui(k).as_dict()
        assert p["description"] in ui.get("description", ""), (k, ui)
        if p["kind"] == "float":
            assert abs(ui["min"] - p["min"]) < 1e-6 and abs(ui["max"] - p["max"]) < 1e-6, (k, ui)
            assert abs(ui["default"] - p["default"]) < 1e-6 and isinstance(mat[k], float)
            assert ui["soft_min"] >= ui["min"] and ui["soft_max"] <= ui["max"]
            assert ui["step"] > 0
        elif p["kind"] == "int":
            assert (ui["min"], ui["max"], ui["default"]) == (p["min"], p["max"], p["default"]), (k, ui)
            assert isinstance(mat[k], int)
        elif p["kind"] == "bool":
            assert isinstance(mat[k], bool) and ui["default"] == bool(p["default"])
        else:  # choice: an int with enum items
            assert [it[0] for it in ui["items"]] == p["choices"], (k, ui)
            assert mat[k] == p["choices"].index(p["default"])


def pick_float(spec: dict, role: str) -> dict:
    return next(p for p in spec["params"] if p["role"] == role and p["kind"] == "float")


def far_value(p: dict) -> float:
    return p["max"] if p["default"] - p["min"] < p["max"] - p["default"] else p["min"]


# --- scenarios -------------------------------------------------------------------------------
def material_from_graph(zip_path: str, python: str, graph: str) -> dict:
    """New material from a graph; checks; slider edits (latest wins); undo; bake; save/reopen."""
    addon, prefs = install(zip_path, python)
    out: dict[str, Any] = {}
    for cls in ("DIFFPROXY_PT_shader_editor", "DIFFPROXY_PT_image_editor"):
        assert hasattr(bpy.types, cls), cls
    assert bpy.ops.diffproxy.check_engine() == {'FINISHED'}
    assert graph in addon.preferences.KNOWN_GRAPHS
    ext_dir = os.path.dirname(addon.__file__)
    hello = addon.engine_client.current_client().hello
    out["engine_path"] = hello["engine_path"]
    assert hello["engine_path"].startswith(os.path.realpath(ext_dir)), (hello["engine_path"], ext_dir)
    # the default interpreter (empty preference): this process's Python + its sys.path
    prefs.python = ""
    assert bpy.ops.diffproxy.check_engine() == {'FINISHED'}
    default = addon.engine_client.current_client()
    assert default.hello["engine_path"].startswith(os.path.realpath(ext_dir))
    out["default_interpreter_python"] = default.hello["python"]
    prefs.python = python
    prefs.resolution = "1024"
    obj = plane()
    t = time.perf_counter()
    assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
    out["new_material_1k_s"] = time.perf_counter() - t
    mat = obj.active_material
    assert mat is not None and addon.material_params.is_diffproxy(mat), mat
    assert mat.name.startswith(graph)
    client = addon.engine_client.current_client()
    spec = client.call("describe", graph=graph)
    check_material(addon, mat, spec, 1024)
    for m, node in addon.node_tree.image_nodes(mat).items():
        assert node.image.packed_file is not None, m
    out["engine_pid"] = client.pid

    w = addon.sliders.WATCHER
    w.tick()  # first sight of the material: its images are in sync
    before = digests(addon, mat)

    # one filter edit: the images change in place
    fp = pick_float(spec, "filter")
    key = addon.material_params.PREFIX + fp["name"]
    mat[key] = far_value(fp)
    out["slider_filter_1k_s"] = wait_synced(addon, w.updates)
    after = digests(addon, mat)
    out["filter_param"] = fp["name"]
    out["maps_changed_by_filter"] = [m for m in MAPS if after[m] != before[m]]
    assert out["maps_changed_by_filter"], f"{fp['name']} changed no map"
    assert all(n.image.packed_file is not None for n in addon.node_tree.image_nodes(mat).values())

    # a generator (pattern) edit
    gp = pick_float(spec, "generator")
    gkey = addon.material_params.PREFIX + gp["name"]
    mat[gkey] = far_value(gp)
    out["slider_generator_1k_s"] = wait_synced(addon, w.updates)
    after_g = digests(addon, mat)
    assert any(after_g[m] != after[m] for m in MAPS), f"{gp['name']} changed no map"

    # rapid edits: the images end at the latest value
    lo, hi = fp["min"], fp["max"]
    n0 = w.updates
    for v in (lo + 0.25 * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.75 * (hi - lo)):
        mat[key] = v
        for _ in range(3):
            w.tick()
            time.sleep(0.02)
    wait_synced(addon, n0)
    out["updates_for_3_rapid_edits"] = w.updates - n0
    import numpy as np

    from_engine = client.call("synthesize", graph=graph, params=addon.material_params.read(mat),
                              resolution=1024, out_dir=os.path.join(os.getcwd(), "check"),
                              overwrite=True)
    ref = bpy.data.images.load(from_engine["paths"]["basecolor"], check_existing=False)
    shown = addon.node_tree.image_nodes(mat)["basecolor"].image
    assert np.array_equal(pixels(ref), pixels(shown)), "images do not show the latest value"
    bpy.data.images.remove(ref)

    # undo restores the slider, and the images follow
    bpy.ops.ed.undo_push(message="before edit")
    latest = digests(addon, mat)
    value_before = mat[key]
    mat[key] = lo if value_before != lo else hi
    bpy.ops.ed.undo_push(message="edit")
    wait_synced(addon, w.updates)
    assert digests(addon, mat) != latest
    obj_name, mat_name = obj.name, mat.name
    r = bpy.ops.ed.undo()
    out["undo"] = str(r)
    obj = bpy.data.objects[obj_name]  # undo rebuilt the datablocks: old references are gone
    mat = bpy.data.materials[mat_name]
    assert obj.active_material == mat
    out["undo_value_restored"] = abs(mat[key] - value_before) < 1e-6
    if out["undo_value_restored"]:
        wait_synced(addon, w.updates)
        out["undo_images_restored"] = digests(addon, mat) == latest

    # bake at 2K
    t = time.perf_counter()
    assert bpy.ops.diffproxy.bake(resolution="2048") == {'FINISHED'}, status().message
    out["bake_2k_s"] = time.perf_counter() - t
    for m, node in addon.node_tree.image_nodes(mat).items():
        assert tuple(node.image.size) == (2048, 2048), m
    assert mat[addon.material_params.KEY_RES] == 2048

    # saved and reopened without the engine: packed maps and sliders are in the file
    path = os.path.join(os.getcwd(), "saved.blend")
    values = addon.material_params.read(mat)
    name = mat.name
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    mat = bpy.data.materials[name]
    assert addon.material_params.read(mat) == values
    assert all(n.image.packed_file is not None and tuple(n.image.size) == (2048, 2048)
               for n in addon.node_tree.image_nodes(mat).values())
    assert bpy.ops.diffproxy.release_engine() == {'FINISHED'}
    assert "torch" not in sys.modules, "Blender's process imported torch"
    return out


def engine_failures(zip_path: str, python: str, graph: str, no_torch_python: str) -> dict:
    """Wrong interpreter, no torch, a killed engine, a cancelled job: one message each, then it works."""
    addon, prefs = install(zip_path, python)
    out: dict[str, Any] = {}
    prefs.resolution = "1024"
    obj = plane()

    prefs.python = "/nonexistent/bin/python3"
    assert call(bpy.ops.diffproxy.new_material, graph=graph) == {'CANCELLED'}
    out["missing_python"] = status().message
    assert "does not exist" in out["missing_python"], out["missing_python"]

    prefs.python = no_torch_python
    assert call(bpy.ops.diffproxy.new_material, graph=graph) == {'CANCELLED'}
    out["no_torch"] = status().message
    assert "has no torch" in out["no_torch"], out["no_torch"]

    prefs.python = python
    assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
    mat = obj.active_material
    client = addon.engine_client.current_client()

    # kill the engine while a 4K bake runs
    def kill_when_running():
        while addon.jobs.ACTIVE is None:
            time.sleep(0.01)
        time.sleep(0.3)
        out["killed_pid"] = client.pid
        os.kill(client.pid, 9)

    run_in_thread_after(lambda: None, kill_when_running)
    assert call(bpy.ops.diffproxy.bake, resolution="4096") == {'CANCELLED'}
    out["killed_message"] = status().message
    assert "stopped unexpectedly" in out["killed_message"], out["killed_message"]
    assert bpy.ops.diffproxy.bake(resolution="1024") == {'FINISHED'}, status().message
    out["restarted_pid"] = addon.engine_client.current_client().pid
    assert out["restarted_pid"] != out["killed_pid"]

    # cancel a 4K bake: the operator returns within a second of the request
    stamps: dict[str, float] = {}

    def cancel_when_running():
        while addon.jobs.ACTIVE is None:
            time.sleep(0.01)
        time.sleep(0.3)
        stamps["cancel"] = time.perf_counter()
        addon.jobs.ACTIVE.request_cancel()

    run_in_thread_after(lambda: None, cancel_when_running)
    r = call(bpy.ops.diffproxy.bake, resolution="4096")
    out["cancel_to_return_s"] = time.perf_counter() - stamps["cancel"]
    out["cancel_result"] = str(r)
    out["cancel_message"] = status().message
    assert r == {'CANCELLED'} and "ancel" in out["cancel_message"], out
    assert out["cancel_to_return_s"] < 1.0, out
    assert bpy.ops.diffproxy.bake(resolution="1024") == {'FINISHED'}, status().message
    assert tuple(addon.node_tree.image_nodes(mat)["basecolor"].image.size) == (1024, 1024)
    addon.engine_client.release()
    return out


def proceduralize(zip_path: str, python: str, image: str, preset: str = "fast",
                  graph: str = "auto") -> dict:
    """The button: photo -> new material assigned to the plane; then a cancel and a kill mid-run."""
    addon, prefs = install(zip_path, python)
    out: dict[str, Any] = {}
    prefs.preset, prefs.graph, prefs.resolution = preset, graph, "1024"
    obj = plane()
    img = bpy.data.images.load(image, check_existing=False)
    bpy.context.scene.diffproxy.image = img
    user_materials = set(bpy.data.materials.keys())
    user_images = {i.name: digest(i) for i in bpy.data.images if i.has_data}

    t = time.perf_counter()
    r = bpy.ops.diffproxy.proceduralize()
    out["button_to_material_s"] = time.perf_counter() - t
    assert r == {'FINISHED'}, status().message
    out["report"] = status().message
    assert " style " in out["report"] and "maps_px" not in out["report"], out["report"]  # losses only
    other = {"other_graphs": [{"graph": "leather", "final": {"style": 0.0362, "maps_px": 1024}}]}
    assert addon.jobs.other_graphs(other) == "leather (style 0.0362)"
    ranked = {"graph": "bricks", "other_graphs": [], "ranking": [
        {"graph": "bricks", "probability": 0.7}, {"graph": "paving", "probability": 0.21},
        {"graph": "wood", "probability": 0.05}, {"graph": "stone", "probability": None}]}
    assert addon.jobs.other_guesses(ranked) == "paving (21 %)"
    assert addon.jobs.unusual_values({"unusual": [
        {"param": "roughness.mortar", "value": 0.38, "usual": 0.92, "sd": 0.05, "limit": 4.0}, "junk",
        {"param": "x"}]}) \
        == "roughness: mortar 0.38 (usually 0.92)"
    assert addon.jobs.unusual_values({}) == ""
    assert addon.jobs.photo_turn({"photo": {"turn": {"degrees": -1.5, "peak": 6.1, "turned": True, "kept": 0.974}}}) \
        == "the photo was turned 1.5 degrees clockwise to square its lines (97 % of its side kept)"
    assert addon.jobs.photo_turn({"photo": {"turn": {"degrees": 0.25, "turned": False, "kept": 1.0}}}) == ""
    assert addon.jobs.photo_turn({"photo": None}) == addon.jobs.photo_turn({}) == ""
    mat = obj.active_material
    assert mat is not None and mat.name not in user_materials
    assert mat.name.startswith(os.path.splitext(img.name)[0])
    client = addon.engine_client.current_client()
    spec = client.call("describe", graph=mat[addon.material_params.KEY_GRAPH])
    check_material(addon, mat, spec, 1024)
    assert {i.name: digest(i) for i in bpy.data.images if i.name in user_images} == user_images
    out["graph"] = mat[addon.material_params.KEY_GRAPH]
    # the sliders the engine found unusual are recorded, marked while they stay far, then not
    mp = addon.material_params
    assert isinstance(mp.unusual_names(mat), dict)  # what this fit recorded (maybe nothing)
    fp = pick_float(spec, "filter")
    k = mp.PREFIX + fp["name"]
    value = float(mat[k])
    mp.write_unusual(mat, [{"param": fp["name"], "value": value, "usual": value + 1.0, "sd": 0.1, "limit": 4.0},
                           {"param": "junk"}, "junk"])
    assert mp.unusual_names(mat) == {fp["name"]: value + 1.0}
    mat[k] = value + 0.7  # moved to within 4 sd of the usual value: no longer marked
    assert mp.unusual_names(mat) == {}
    mat[k] = value
    mp.write_unusual(mat, None)
    assert mp.unusual_names(mat) == {}

    # cancel after the first progress event
    stamps: dict[str, float] = {}

    def cancel_when_progress():
        while addon.jobs.ACTIVE is None or not addon.jobs.ACTIVE.progress:
            time.sleep(0.01)
        stamps["cancel"] = time.perf_counter()
        addon.jobs.ACTIVE.request_cancel()

    run_in_thread_after(lambda: None, cancel_when_progress)
    prefs.preset = "balanced"
    r = call(bpy.ops.diffproxy.proceduralize)
    out["cancel_to_return_s"] = time.perf_counter() - stamps["cancel"]
    out["cancel_message"] = status().message
    assert r == {'CANCELLED'} and "ancel" in out["cancel_message"], out
    assert out["cancel_to_return_s"] < 1.0, out

    # kill the engine mid-run, then run again
    def kill_when_progress():
        while addon.jobs.ACTIVE is None or not addon.jobs.ACTIVE.progress:
            time.sleep(0.01)
        os.kill(addon.engine_client.current_client().pid, 9)

    run_in_thread_after(lambda: None, kill_when_progress)
    assert call(bpy.ops.diffproxy.proceduralize) == {'CANCELLED'}
    out["killed_message"] = status().message
    assert "stopped unexpectedly" in out["killed_message"], out["killed_message"]
    prefs.preset = preset
    prefs.top_k = 2  # two graphs, side by side in the engine's worker processes
    assert addon.preferences.get_settings().options()["top_k"] == 2
    assert "straighten" not in addon.preferences.get_settings().options()  # on: the engine's default
    prefs.straighten = False
    assert addon.preferences.get_settings().options()["straighten"] is False
    prefs.straighten = True
    n = len(bpy.data.materials)
    assert bpy.ops.diffproxy.proceduralize() == {'FINISHED'}, status().message
    assert len(bpy.data.materials) == n + 1
    assert "also fitted" in status().message, status().message  # the other graph is reported
    # ... and recorded on the material: a new material from it, without a new fit
    fitted = obj.active_material
    others = mp.read_others(fitted)
    assert len(others) == 1 and others[0]["graph"] != fitted[mp.KEY_GRAPH], others
    kept_values, kept_images = mp.read(fitted), digests(addon, fitted)
    n = len(bpy.data.materials)
    t = time.perf_counter()
    assert bpy.ops.diffproxy.other_fit(graph=others[0]["graph"]) == {'FINISHED'}, status().message
    out["other_fit_s"] = time.perf_counter() - t
    made = obj.active_material
    assert len(bpy.data.materials) == n + 1 and made != fitted, status().message
    assert made[mp.KEY_GRAPH] == others[0]["graph"] and made.name.startswith(fitted.name), made.name
    assert "from the " + others[0]["graph"] + " fit" in status().message, status().message
    spec2 = addon.engine_client.current_client().call("describe", graph=others[0]["graph"])
    check_material(addon, made, spec2, int(fitted[mp.KEY_RES]))
    got = mp.read(made)
    for name, v in others[0]["params"].items():
        if isinstance(v, float):
            assert abs(got[name] - v) < 1e-6, (name, got[name], v)
        elif isinstance(v, int) and not isinstance(v, bool):
            assert got[name] == v, (name, got[name], v)
    assert mp.read_others(made) == []  # the source's other fits but its own: none left
    assert mp.read(fitted) == kept_values and digests(addon, fitted) == kept_images  # source untouched
    fitted[mp.KEY_OTHERS] = "not json"  # a damaged record: nothing offered, the button greyed out
    assert mp.read_others(fitted) == [] and not bpy.ops.diffproxy.other_fit.poll()
    job = addon.jobs.EngineJob.__new__(addon.jobs.EngineJob)
    job.title, job.progress = "Proceduralize", {"stage": "stage2", "step": 3, "total": 60, "loss": 0.25,
                                                "message": "[paving]"}
    assert job.describe_progress() == "[paving] stage2 3/60  loss 0.2500", job.describe_progress()
    # a message inside the stage keeps its bar; a new stage's message starts the bar again
    job.progress = addon.jobs.shown_progress(job.progress, {"stage": "stage2", "step": 0, "total": 0,
                                                            "loss": None, "message": "[paving] note"})
    assert job.fraction == 0.05 and job.describe_progress().startswith("[paving] stage2 3/60")
    job.progress = addon.jobs.shown_progress(job.progress, {"stage": "stage3", "step": 0, "total": 0,
                                                            "loss": None, "message": "[paving] next"})
    assert job.fraction == 0.0 and job.describe_progress() == "[paving] stage3", job.describe_progress()
    addon.engine_client.release()
    assert "torch" not in sys.modules, "Blender's process imported torch"
    return out


# --- measurements (tests/blender/measure.py) ---------------------------------------------------
def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1.0


def measure_sliders(zip_path: str, python: str, graph: str, resolution: str, edits: int) -> dict:
    """Slider edit -> images updated, ``edits`` times, alternating a filter parameter; engine RSS."""
    addon, prefs = install(zip_path, python)
    prefs.resolution = resolution
    obj = plane()
    t = time.perf_counter()
    assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
    out: dict[str, Any] = {"new_material_s": time.perf_counter() - t}
    mat = obj.active_material
    client = addon.engine_client.current_client()
    spec = client.call("describe", graph=graph)
    fp = pick_float(spec, "filter")
    key = addon.material_params.PREFIX + fp["name"]
    w = addon.sliders.WATCHER
    w.tick()
    lat, prev, parts, rss = [], [], [], {"after_material": rss_mib(client.pid)}
    lo, hi = fp["min"], fp["max"]
    for i in range(edits):
        mat[key] = lo + (0.3 if i % 2 == 0 else 0.7) * (hi - lo) + 1e-4 * i
        n, p = w.updates, w.previews
        t = time.perf_counter()
        # the debounce is part of what a user waits for: start the clock at the edit
        while w.updates == n:
            w.tick()
            assert not w.last_error, w.last_error
            if w.previews != p and len(prev) == i:
                prev.append(time.perf_counter() - t)
            time.sleep(0.005)
        lat.append(time.perf_counter() - t)
        parts.append(dict(w.last_timings))
        if i == 0:
            rss["after_first_edit"] = rss_mib(client.pid)
    rss[f"after_{edits}_edits"] = rss_mib(client.pid)

    def stats(xs: list) -> dict:
        s = sorted(xs)
        return {"first": xs[0], "median": s[len(s) // 2], "max": s[-1]} if xs else {}

    out.update(resolution=int(resolution), edits=edits, param=fp["name"],
               full_res_s=stats(lat), preview_s=stats(prev),
               preview_res=addon.sliders.PREVIEW_RES, debounce_s=addon.sliders.DEBOUNCE_S,
               full_res_parts_median_s={k: sorted(p[k] for p in parts)[len(parts) // 2]
                                        for k in parts[0] if k != "resolution"},
               engine_rss_mib=rss, engine_pid=client.pid)
    addon.engine_client.release()
    return out


def measure_button(zip_path: str, python: str, image: str, preset: str = "fast") -> dict:
    """Proceduralize button to finished material (blocking run, as in background Blender)."""
    addon, prefs = install(zip_path, python)
    prefs.preset, prefs.resolution, prefs.device = preset, "1024", "cpu"
    plane()
    img = bpy.data.images.load(image, check_existing=False)
    bpy.context.scene.diffproxy.image = img
    t = time.perf_counter()
    r = bpy.ops.diffproxy.proceduralize()
    dt = time.perf_counter() - t
    assert r == {'FINISHED'}, status().message
    out = {"button_to_material_s": dt, "report": status().message, "preset": preset}
    addon.engine_client.release()
    return out


def flash_rig(scene: Any, fov_deg: float = 50.0, irradiance: float = 0.25 / 0.3 ** 2,
              beside: tuple[float, float] = (0.0, 0.0), size: float = 0.0) -> None:
    """The engine's capture in Blender: a pinhole camera of ``fov_deg`` and a point light at it
    (``beside``: offset from the lens, scene units; ``size``: its radius), looking down at a 2 x 2
    sample centred at the origin that fills the frame; the light gives ``irradiance`` at the
    centre (the engine's: ``I / d^2 = 0.25 / 0.3^2``)."""
    import math
    fov = math.radians(fov_deg)
    dist = 1.0 / math.tan(fov / 2)  # half side 1 fills the view
    cam_data = bpy.data.cameras.new("flash camera")
    cam_data.angle = fov
    cam_data.sensor_fit = 'HORIZONTAL'
    cam = bpy.data.objects.new("flash camera", cam_data)
    cam.location = (0.0, 0.0, dist)
    scene.collection.objects.link(cam)
    scene.camera = cam
    light_data = bpy.data.lights.new("flash", 'POINT')
    light_data.shadow_soft_size = size
    light_data.energy = irradiance * 4 * math.pi * dist ** 2  # point light: E = P / (4 pi r^2)
    light = bpy.data.objects.new("flash", light_data)
    light.location = (beside[0], beside[1], dist)
    scene.collection.objects.link(light)


def cycles_settings(scene: Any, size: int, samples: int, world: float) -> None:
    """Cycles on the CPU, ``samples`` per pixel without denoising, a ``size`` px square PNG, the
    world's light at ``world``, the Standard view transform (the engine clamps and encodes sRGB)."""
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.use_nodes = True
    scene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = world
    scene.render.engine = 'CYCLES'
    scene.cycles.device = 'CPU'
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = 'Standard'
    scene.view_settings.look = 'None'
    scene.render.image_settings.file_format = 'PNG'


def cycles_vs_engine(zip_path: str, python: str, graph: str, out_png: str, size: int = 256,
                     samples: int = 64) -> dict:
    """Cycles render of a DiffProxy material under a flash (point light at the camera) next to
    the engine's own render.png of the same maps, as one small side-by-side image."""
    import numpy as np
    addon, prefs = install(zip_path, python)
    prefs.resolution = "1024"
    scene = bpy.context.scene
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    obj = plane()  # 2 x 2 units, UVs 0..1, centred at the origin
    assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
    mat = obj.active_material
    client = addon.engine_client.current_client()
    ref = client.call("synthesize", graph=graph, params=addon.material_params.read(mat),
                      resolution=1024, out_dir=os.path.join(os.getcwd(), "engine"),
                      overwrite=True, render=True)

    flash_rig(scene)  # the engine's capture: camera and point light together, fov 50 deg
    cycles_settings(scene, size, samples, world=0.0)
    scene.render.filepath = os.path.join(os.getcwd(), "cycles.png")
    t = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    render_s = time.perf_counter() - t

    def load(path: str) -> Any:
        im = bpy.data.images.load(path, check_existing=False)
        if tuple(im.size) != (size, size):
            im.scale(size, size)
        a = pixels(im)[::-1, :, :3].copy()  # top row first
        bpy.data.images.remove(im)
        return a

    cyc = load(scene.render.filepath)
    eng = load(ref["paths"]["render"])
    diff = np.abs(cyc - eng)
    sheet = np.concatenate([cyc, np.ones((size, 8, 3), np.float32), eng], axis=1)
    h, w_ = sheet.shape[:2]
    img = bpy.data.images.new("sheet", w_, h, alpha=False)
    rgba = np.concatenate([sheet[::-1], np.ones((h, w_, 1), np.float32)], axis=2)
    img.pixels.foreach_set(rgba.ravel())
    img.filepath_raw = out_png
    img.file_format = 'PNG'
    img.save()
    addon.engine_client.release()
    return {"graph": graph, "size": size, "samples": samples, "cycles_render_s": render_s,
            "mean_abs_diff": float(diff.mean()), "mean_cycles": float(cyc.mean()),
            "mean_engine": float(eng.mean()), "out": out_png}


def save_next_to_blend(zip_path: str, python: str, graph: str) -> dict:
    """Maps saved as files next to the .blend (unique names); slider edits rewrite those files."""
    addon, prefs = install(zip_path, python)
    prefs.resolution, prefs.output = "1024", "SAVE"
    plane()
    assert call(bpy.ops.diffproxy.new_material, graph=graph) == {'CANCELLED'}
    out: dict[str, Any] = {"unsaved_message": status().message}
    assert "Save the .blend file first" in out["unsaved_message"], out
    blend = os.path.join(os.getcwd(), "project", "scene.blend")
    os.makedirs(os.path.dirname(blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    # a file of the user's with the name the first material's map would take stays untouched
    textures = os.path.join(os.path.dirname(blend), "textures")
    os.makedirs(textures, exist_ok=True)
    user_file = os.path.join(textures, f"{graph}_basecolor.png")
    with open(user_file, "wb") as f:
        f.write(b"not ours")
    mats = []
    for _ in range(2):
        assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
        mats.append(bpy.context.object.active_material)
    files = {m.name: {k: bpy.path.abspath(n.image.filepath) for k, n in addon.node_tree.image_nodes(m).items()}
             for m in mats}
    out["files"] = files
    all_files = [p for f in files.values() for p in f.values()]
    assert len(set(all_files)) == len(all_files) == 10, all_files
    for m in mats:
        for k, n in addon.node_tree.image_nodes(m).items():
            assert n.image.packed_file is None and n.image.filepath.startswith("//textures/"), n.image.filepath
            assert os.path.isfile(files[m.name][k])
    with open(user_file, "rb") as f:
        assert f.read() == b"not ours"

    mat = mats[0]
    spec = addon.engine_client.current_client().call("describe", graph=graph)
    fp = pick_float(spec, "filter")
    w = addon.sliders.WATCHER
    w.tick()
    path = files[mat.name]["basecolor"]
    before = open(path, "rb").read()
    img_before = digest(addon.node_tree.image_nodes(mat)["basecolor"].image)
    mat[addon.material_params.PREFIX + fp["name"]] = far_value(fp)
    wait_synced(addon, w.updates)
    assert open(path, "rb").read() != before, "the map file was not rewritten"
    assert digest(addon.node_tree.image_nodes(mat)["basecolor"].image) != img_before
    addon.engine_client.release()
    return out


def user_data_kept(zip_path: str, python: str, graph: str) -> dict:
    """The user's data survives: the material a new one replaces in the active slot is still in
    the .blend after save and reopen, with its nodes; no deprecation warning from the add-on
    (Blender 5.0 deprecates ``Material.use_nodes``); a slider edit reaches the images; no
    per-request scratch folder is left after jobs that finish, fail or cannot start, and none
    at all once the add-on is disabled. Quick (one 1K synthesis): also the Blender versions check
    (tests/blender/versions.py)."""
    import warnings
    addon, prefs = install(zip_path, python)
    out: dict[str, Any] = {"blender": bpy.app.version_string}
    prefs.resolution = "1024"
    obj = plane()
    user = bpy.data.materials.new("My Material")
    if bpy.app.version < (5, 0, 0):  # 5.0 materials always have nodes (use_nodes deprecated)
        user.use_nodes = True
    node = user.node_tree.nodes.new("ShaderNodeRGB")
    node.name = "my colour"
    node.outputs[0].default_value = (0.1, 0.2, 0.3, 1.0)
    obj.data.materials.append(user)
    assert user.users == 1 and not user.use_fake_user

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
        out["report"] = status().message
        mat = obj.active_material
        assert mat is not None and mat != user and addon.material_params.is_diffproxy(mat)
        # a slider edit: the engine synthesises, the images follow
        spec = addon.engine_client.current_client().call("describe", graph=graph)
        fp = pick_float(spec, "filter")
        w = addon.sliders.WATCHER
        w.tick()
        before = digests(addon, mat)
        mat[addon.material_params.PREFIX + fp["name"]] = far_value(fp)
        wait_synced(addon, w.updates)
        assert digests(addon, mat) != before, "the slider edit changed no map"
    out["warnings"] = [f"{w_.category.__name__}: {w_.message}" for w_ in caught]
    assert not [m for m in out["warnings"] if "use_nodes" in m or "Deprecation" in m], out["warnings"]

    # scratch folders: none left by finished jobs, a failed job or one that could not start
    scratch = addon.jobs.work_dir()
    assert os.listdir(scratch) == [], os.listdir(scratch)
    assert call(bpy.ops.diffproxy.new_material, graph="no such graph") == {'CANCELLED'}
    out["bad_graph_message"] = status().message
    assert os.listdir(scratch) == [], os.listdir(scratch)
    gone = save_float_image(os.path.join(os.getcwd(), "gone.exr"), 'OPEN_EXR', [[0.5, 0.5, 0.5]])
    missing = bpy.data.images.load(gone, check_existing=False)
    os.remove(gone)  # the file went away before the photo was used
    bpy.context.scene.diffproxy.image = missing
    assert call(bpy.ops.diffproxy.proceduralize, image=missing.name) == {'CANCELLED'}
    out["missing_image_message"] = status().message
    assert "no pixels" in out["missing_image_message"], out["missing_image_message"]
    assert os.listdir(scratch) == [], os.listdir(scratch)

    # save and reopen: the user's material is there, nodes and values intact
    path = os.path.join(os.getcwd(), "kept.blend")
    obj_name, mat_name = obj.name, mat.name  # reopening replaces every datablock
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    kept = bpy.data.materials.get("My Material")
    assert kept is not None, sorted(bpy.data.materials.keys())
    assert kept.use_fake_user
    assert "'My Material'" in out["report"] and "kept" in out["report"], out["report"]
    node = kept.node_tree.nodes.get("my colour")
    assert node is not None and tuple(round(v, 4) for v in node.outputs[0].default_value) == (0.1, 0.2, 0.3, 1.0)
    assert bpy.data.objects[obj_name].active_material.name == mat_name

    # a job left running when the add-on is disabled: its folder goes with the add-on's
    addon.jobs.new_out_dir("left behind")
    bpy.ops.preferences.addon_disable(module=addon.__name__)
    out["scratch_after_disable"] = os.path.exists(scratch)
    assert not out["scratch_after_disable"], os.listdir(scratch)
    assert "torch" not in sys.modules, "Blender's process imported torch"
    return out


def save_float_image(path: str, file_format: str, rows: list, depth: str = "") -> str:
    """Write linear RGB values (``rows`` top to bottom, each a list of (r, g, b)) to ``path``."""
    import numpy as np
    a = np.asarray(rows, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    h, w = a.shape[:2]
    img = bpy.data.images.new("to save", w, h, alpha=False, float_buffer=True)
    rgba = np.concatenate([a[::-1], np.ones((h, w, 1), np.float32)], axis=2)  # bottom row first
    img.pixels.foreach_set(rgba.ravel())
    scene = bpy.context.scene
    scene.view_settings.view_transform = 'Standard'  # 8/16-bit files: plain sRGB encoding
    scene.view_settings.look = 'None'
    settings = scene.render.image_settings
    settings.file_format = file_format
    settings.color_mode = 'RGB'
    if depth:
        settings.color_depth = depth
    img.save_render(path)
    bpy.data.images.remove(img)
    return path


def with_exif_orientation(path: str, orientation: int) -> str:
    """Give the JPEG at ``path`` an EXIF block with only an orientation tag (as a phone writes
    for a photo taken sideways), inserted after its first segment (JFIF's APP0)."""
    import struct
    data = open(path, "rb").read()
    assert data[:4] == b"\xff\xd8\xff\xe0", "Blender's JPEG starts with SOI and JFIF's APP0"
    end = 4 + struct.unpack(">H", data[4:6])[0]
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) \
        + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    with open(path, "wb") as f:
        f.write(data[:end] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[end:])
    return path


def photo_formats(zip_path: str, python: str) -> dict:
    """Photos the engine cannot read as files (OpenEXR, Radiance HDR, 16-bit TIFF, which Blender
    loads as linear float buffers) go to it as pixels: sRGB-encoded, in [0, 1], top row first;
    an 8-bit PNG goes as its file. A started and cancelled request leaves no scratch folder."""
    import numpy as np
    addon, prefs = install(zip_path, python)
    linear = [[[0.0, 0.0031308, 0.18], [0.5, 1.0, 4.0]],  # top row
              [[0.01, 0.05, 0.2], [0.7, 0.9, 0.03]]]
    lin = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
    want = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    out: dict[str, Any] = {"blender": bpy.app.version_string}
    scratch = os.path.join(os.getcwd(), "scratch")
    os.makedirs(scratch, exist_ok=True)
    for fmt, ext, depth in (("OPEN_EXR", ".exr", "32"), ("HDR", ".hdr", ""), ("TIFF", ".tif", "16")):
        path = save_float_image(os.path.join(os.getcwd(), "photo" + ext), fmt, linear, depth)
        img = bpy.data.images.load(path, check_existing=False)
        sent = addon.jobs.image_input(img, scratch)
        assert list(sent) == ["pixels"], (fmt, sent)
        got = np.load(sent["pixels"])
        assert got.shape == (2, 2, 3) and got.dtype == np.float32, (fmt, got.shape, got.dtype)
        err = float(np.abs(got - want).max())
        out[fmt] = {"max_abs_error": err, "file_format": img.file_format}
        # HDR stores 8-bit mantissas with a shared exponent: ~1 % of the value
        assert err < (0.02 if fmt == "HDR" else 2e-3), (fmt, got.tolist(), want.tolist())
        os.remove(sent["pixels"])
    png = os.path.join(os.getcwd(), "photo.png")
    bpy.context.scene.render.image_settings.color_depth = '8'
    save_float_image(png, 'PNG', linear)
    assert addon.jobs.image_input(bpy.data.images.load(png, check_existing=False), scratch) == {"image": png}

    # a JPEG stored sideways with an EXIF orientation tag (a phone photo): Blender shows the
    # pixels as stored, and the engine is asked for the same (the test compares the two)
    rows = [[[0.85, 0.85, 0.85]] * 5 + [[0.02, 0.02, 0.02]] * 11 for _ in range(8)]  # bright left edge
    rows[2][10] = rows[2][11] = rows[3][10] = rows[3][11] = [0.6, 0.02, 0.02]
    jpeg = with_exif_orientation(save_float_image(os.path.join(os.getcwd(), "sideways.jpg"), 'JPEG', rows), 6)
    img = bpy.data.images.load(jpeg, check_existing=False)
    assert addon.jobs.image_input(img, scratch) == {"image": jpeg}
    w, h = img.size
    shown = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(shown)
    out["sideways"] = {"path": jpeg, "size": [w, h],
                       "shown": shown.reshape(h, w, 4)[::-1, :, :3].round(4).tolist(),
                       "options": addon.preferences.get_settings().options()}

    # the request that goes to the engine, then a cancel: nothing left in the scratch folder
    exr = bpy.data.images.load(os.path.join(os.getcwd(), "photo.exr"), check_existing=False)
    job = addon.jobs.start_proceduralize(exr, addon.preferences.get_settings())
    assert "pixels" in job.req.args and "image" not in job.req.args, job.req.args
    request_dir = job.req.args["out_dir"]
    assert os.path.isdir(request_dir) and os.path.dirname(request_dir) == addon.jobs.work_dir()
    job.request_cancel()
    try:
        job.wait()
    except addon.engine_client.EngineError as e:
        out["cancelled"] = str(e)
    try:
        addon.jobs.finish_proceduralize(job, exr.name, addon.preferences.get_settings(), None)
        raise AssertionError("a cancelled job finished")
    except addon.engine_client.EngineError:
        pass
    assert os.listdir(addon.jobs.work_dir()) == [], os.listdir(addon.jobs.work_dir())
    addon.engine_client.release()
    return out


def enum_items(prefs: Any, prop: str) -> list[tuple[str, str, str]]:
    """(identifier, label, description) of an enum whose items come from a callback, read through
    Blender (``bl_rna`` lists no items for those): the identifiers from the error an unknown
    value raises, labels and descriptions from ``UILayout.enum_item_*``."""
    import ast
    try:
        setattr(prefs, prop, "\x01not an item")
        raise AssertionError(f"{prop} took an unknown value")
    except TypeError as e:
        names = ast.literal_eval(str(e)[str(e).rindex(" not found in ") + len(" not found in "):])
    ui = bpy.types.UILayout
    return [(n, ui.enum_item_name(prefs, prop, n), ui.enum_item_description(prefs, prop, n))
            for n in (names if isinstance(names, tuple) else (names,))]


def engine_lists(zip_path: str, python: str) -> dict:
    """Preset and device items: the built-in lists before any engine, the engine's hello after
    Check Engine; a stored value keeps its name when the engine reorders the list, and one the
    engine no longer offers is reset rather than shown empty."""
    import gc
    addon, prefs = install(zip_path, python)
    p = addon.preferences
    out: dict[str, Any] = {}
    out["before"] = {k: enum_items(prefs, k) for k in ("preset", "device")}
    assert [i[0] for i in out["before"]["preset"]] == [r[0] for r in p.PRESETS], out["before"]
    assert [i[0] for i in out["before"]["device"]] == [r[0] for r in p.DEVICES], out["before"]
    assert (prefs.preset, prefs.device) == ("balanced", "auto")

    assert call(bpy.ops.diffproxy.check_engine) == {'FINISHED'}, status().message
    hello = addon.jobs.client_for(p.get_settings()).hello
    out["hello"] = {"presets": hello["presets"], "devices": hello["devices"]}
    out["after"] = {k: enum_items(prefs, k) for k in ("preset", "device")}
    want = [(x["name"], x["description"]) for x in hello["presets"] if x["artist"]]
    assert [(i[0], i[2]) for i in out["after"]["preset"]] == want, (out["after"]["preset"], want)
    devices = [(x["name"], x["description"] + ("" if x["available"] else " (not available on this machine)"))
               for x in hello["devices"]]
    assert [(i[0], i[2]) for i in out["after"]["device"]] == devices, (out["after"]["device"], devices)
    assert (prefs.preset, prefs.device) == ("balanced", "auto")
    for _ in range(50):  # items callbacks called again and again: the strings must stay valid
        p.preset_items(prefs, bpy.context), p.device_items(prefs, bpy.context)
    gc.collect()
    assert {k: enum_items(prefs, k) for k in ("preset", "device")} == out["after"]

    # an engine with other presets, in another order: "full" stays "full"; when the stored one
    # is gone it reads empty in Blender, the settings and Check Engine use the default
    prefs.preset = "full"
    other = {**hello, "presets": [{"name": "ultra", "description": "U", "artist": True},
                                  {"name": "full", "description": "F", "artist": True},
                                  {"name": "fast", "description": "Q", "artist": True},
                                  {"name": "paper", "description": "P", "artist": False}]}
    p.remember_hello(other)
    assert [i[0] for i in enum_items(prefs, "preset")] == ["ultra", "full", "fast"]
    assert prefs.preset == "full", prefs.preset
    prefs.preset = "ultra"
    assert call(bpy.ops.diffproxy.check_engine) == {'FINISHED'}, status().message
    assert prefs.preset == "balanced", prefs.preset  # reset: this engine has no "ultra"
    p.remember_hello({**hello, "presets": other["presets"][2:]})
    assert prefs.preset == "" and p.get_settings().preset == "fast"
    assert p.keep_valid(prefs) == ["preset (not offered) -> fast"] and prefs.preset == "fast"
    addon.engine_client.release()
    return out


def grazing_light(zip_path: str, python: str, params_files: list, out_png: str, size: int = 192,
                  samples: int = 32, elevation_deg: float = 12.0) -> dict:
    """Fitted materials (``params.json`` files of ``diffproxy proceduralize``) made in Blender
    by the add-on (new material, the fitted values written to its sliders, baked at 1024 px),
    each rendered by Cycles on a plane under a sun ``elevation_deg`` above the surface (a
    grazing light, where a flat normal map reads as wallpaper), seen from straight above; the
    renders side by side in ``out_png``. Returns per material: graph, its relief parameters as
    written, and the render's brightness spread (standard deviation, a flat surface's is its
    albedo's alone)."""
    import json as _json
    import math

    import numpy as np
    addon, prefs = install(zip_path, python)
    prefs.resolution = "1024"
    scene = bpy.context.scene
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    obj = plane()
    cam_data = bpy.data.cameras.new("top")
    cam_data.type = 'ORTHO'
    cam_data.ortho_scale = 2.0
    cam = bpy.data.objects.new("top", cam_data)
    cam.location = (0.0, 0.0, 3.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    sun_data = bpy.data.lights.new("grazing sun", 'SUN')
    sun_data.energy = 3.0 / math.sin(math.radians(elevation_deg))  # the same irradiance at any elevation
    sun_data.angle = math.radians(0.5)
    sun = bpy.data.objects.new("grazing sun", sun_data)
    sun.rotation_euler = (math.radians(90.0 - elevation_deg), 0.0, math.radians(90.0))  # light from the +x side
    scene.collection.objects.link(sun)
    cycles_settings(scene, size, samples, world=0.05)
    client = None
    tiles, rows = [], []
    for i, path in enumerate(params_files):
        with open(path, encoding="utf-8") as f:
            fitted = _json.load(f)
        graph = fitted["graph"]
        assert bpy.ops.diffproxy.new_material(graph=graph) == {'FINISHED'}, status().message
        mat = obj.active_material
        client = addon.engine_client.current_client()
        spec = client.call("describe", graph=graph)
        addon.material_params.write(mat, spec, fitted["params"], 1024)
        assert bpy.ops.diffproxy.bake(resolution="1024") == {'FINISHED'}, status().message
        scene.render.filepath = os.path.join(os.getcwd(), f"grazing_{i}.png")
        bpy.ops.render.render(write_still=True)
        im = bpy.data.images.load(scene.render.filepath, check_existing=False)
        a = pixels(im)[::-1, :, :3].copy()
        bpy.data.images.remove(im)
        tiles.append(a)
        relief = {k: v for k, v in fitted["params"].items() if k == "normal.intensity" or k.startswith("height.")}
        rows.append({"params": path, "graph": graph, "relief_params": relief,
                     "brightness_std": float(a.mean(axis=2).std())})
    gap = np.ones((size, 6, 3), np.float32)
    parts = []
    for t in tiles:
        parts += [t, gap]
    sheet = np.concatenate(parts[:-1], axis=1)
    h, w_ = sheet.shape[:2]
    img = bpy.data.images.new("sheet", w_, h, alpha=False)
    img.pixels.foreach_set(np.concatenate([sheet[::-1], np.ones((h, w_, 1), np.float32)], axis=2).ravel())
    img.filepath_raw = out_png
    img.file_format = 'PNG'
    img.save()
    addon.engine_client.release()
    return {"size": size, "samples": samples, "elevation_deg": elevation_deg, "materials": rows, "out": out_png}
