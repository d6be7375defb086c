"""Engine jobs seen from Blender: what to send, how to wait (modal or blocking), what to build.

An :class:`EngineJob` wraps one long request. Operators poll it from a modal timer (UI) or wait
on it (background mode, where timers do not run); the Cancel button and ESC call
:meth:`EngineJob.request_cancel`, and a request the engine does not stop within
``engine_client.CANCEL_GRACE_S`` gets the engine killed (it restarts on the next request).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any

import bpy

from . import engine_client, material_params, node_tree
from .engine_client import EngineClient, EngineError, Request
from . import preferences
from .preferences import Settings

ADDON_DIR = os.path.dirname(os.path.abspath(__file__))
# Image formats the engine's photo loader (Pillow) reads from the file bytes as they are (8-bit
# ones: Blender loads 16-bit and float files into float buffers, which go as pixels). Anything
# else Blender reads (OpenEXR, Radiance HDR, DPX, Cineon, JPEG 2000, IRIS) goes as pixels too.
_PILLOW_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp",
                   "TARGA": ".tga"}

ACTIVE: "EngineJob | None" = None  # the job the panel's Cancel button stops


def client_for(settings: Settings) -> EngineClient:
    return engine_client.get_client(settings.python, ADDON_DIR)


def work_dir(create: bool = True) -> str:
    """This Blender session's scratch folder for engine outputs (one sub-folder per request)."""
    d = os.path.join(tempfile.gettempdir(), f"diffproxy-blender-{os.getpid()}")
    if create:
        os.makedirs(d, exist_ok=True)
    return d


def new_out_dir(tag: str) -> str:
    return tempfile.mkdtemp(prefix=f"{bpy.path.clean_name(tag)[:40]}-", dir=work_dir())


def remove_dir(path: str | None) -> None:
    """Remove a scratch folder of this session (never anything outside :func:`work_dir`)."""
    if path and os.path.dirname(os.path.abspath(path)) == work_dir(create=False):
        shutil.rmtree(path, ignore_errors=True)


def remove_work_dir() -> None:
    """Blender quits or the add-on is disabled: remove the session's scratch folder (the engine
    is stopped first, so nothing writes there any more)."""
    shutil.rmtree(work_dir(create=False), ignore_errors=True)


def remember_hello(client: EngineClient, context: Any = None) -> list[str]:
    """Graphs, presets and devices from the engine's hello; a preference the engine no longer
    offers is reset (returns what was, for the report)."""
    preferences.remember_hello(client.hello)
    prefs = preferences.get_preferences(context)
    return preferences.keep_valid(prefs) if prefs is not None and client.hello else []


def shown_progress(shown: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The progress to show once ``event`` arrives. A message inside the stage on show (no
    ``total``: the engine's ``Reporter.message``) keeps that stage's step, total and loss, so the
    bar does not drop to 0 until the stage's next step; any other event replaces what is shown."""
    if not event.get("total") and shown.get("total") and event.get("stage") == shown.get("stage"):
        return shown
    return event


class EngineJob:
    """One long request: progress for the UI, cancellation with a deadline, the final result."""

    def __init__(self, client: EngineClient, req: Request, title: str, scratch: str | None = None):
        self.client = client
        self.req = req
        self.title = title
        self.scratch = scratch  # the request's scratch folder, removed by discard()
        self.started = time.perf_counter()
        self.progress: dict[str, Any] = {}
        self.cancel_requested = False
        self.hard_cancel = False

    @property
    def fraction(self) -> float:
        total = self.progress.get("total") or 0
        return min(1.0, max(0.0, float(self.progress.get("step") or 0) / total)) if total else 0.0

    def describe_progress(self) -> str:
        p = self.progress
        if not p:
            return f"{self.title}: starting the engine..."
        text = f"{p.get('stage') or self.title}"
        msg = p.get("message") or ""
        if msg.startswith("[") and "]" in msg:  # the graph of a run that fits several
            text = f"{msg[:msg.index(']') + 1]} {text}"
        if p.get("total"):
            text += f" {p.get('step', 0)}/{p['total']}"
        if isinstance(p.get("loss"), (int, float)):
            text += f"  loss {p['loss']:.4f}"
        return text

    def request_cancel(self, hard: bool = True) -> None:
        """Ask the engine to stop. ``hard``: kill it if it has not stopped within the grace
        period (the user pressed Cancel); soft cancels (a superseded slider edit) just wait."""
        self.cancel_requested = True
        self.hard_cancel = self.hard_cancel or hard
        self.client.cancel(self.req)

    def poll(self) -> bool:
        """Take new progress; enforce the cancel deadline. True once the request has ended."""
        for ev in self.req.drain():
            self.progress = shown_progress(self.progress, ev)
        if self.cancel_requested and self.hard_cancel:
            return self.client.enforce_cancel(self.req)
        return self.req.done.is_set()

    def wait(self) -> dict[str, Any]:
        """Blocking wait (background mode); raises EngineError (code 'cancelled' if cancelled)."""
        while not self.poll():
            time.sleep(0.02)
        self.poll()
        return self.req.wait(0)

    def result(self) -> dict[str, Any]:
        return self.req.wait(0)

    def discard(self) -> None:
        """The job's outputs are in Blender (or not wanted): remove its scratch folder."""
        remove_dir(self.scratch)
        self.scratch = None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


# --- proceduralize -----------------------------------------------------------------------------
def image_input(image: bpy.types.Image, scratch: str) -> dict[str, str]:
    """The photo as the engine reads it: the file itself, the packed bytes, or a pixels file
    (edited images, and formats or bit depths only Blender reads: EXR, HDR, float TIFF...)."""
    as_file = _engine_reads(image)
    if image.source == 'FILE' and image.packed_file is None and as_file:
        path = bpy.path.abspath(image.filepath, library=image.library)
        if os.path.isfile(path):
            return {"image": path}
    if image.packed_file is not None and as_file:
        path = os.path.join(scratch, "photo" + _PILLOW_FORMATS[image.file_format])
        with open(path, "wb") as f:
            f.write(image.packed_file.data)
        return {"image": path}
    import numpy as np  # Blender ships numpy

    w, h = image.size
    if w * h == 0 or not image.has_data and not _loads(image):
        raise EngineError(f"Image '{image.name}' has no pixels (missing or unreadable file).",
                          "not_found")
    w, h = image.size
    buf = np.empty(w * h * 4, dtype=np.float32)
    pixels: Any = image.pixels  # a bpy_prop_array (fake-bpy-module says float)
    pixels.foreach_get(buf)
    rgb = buf.reshape(h, w, 4)[::-1, :, :3]  # Blender stores rows bottom-up
    assert image.colorspace_settings is not None
    if image.is_float and not image.colorspace_settings.is_data:
        # float buffers hold scene-linear values: encode to sRGB like a photo file
        rgb = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * np.power(np.clip(rgb, 0.0031308, None), 1 / 2.4) - 0.055)
    path = os.path.join(scratch, "photo.npy")
    np.save(path, np.clip(rgb, 0.0, 1.0).astype(np.float32))
    return {"pixels": path}


def _engine_reads(image: bpy.types.Image) -> bool:
    """True if the engine's loader reads the image's file (or packed bytes) as it is: an unedited
    8-bit image in a format Pillow reads. An image Blender cannot load goes as a file too, so
    that the engine says what is wrong with it."""
    if image.is_dirty or image.file_format not in _PILLOW_FORMATS:
        return False
    return not _loads(image) or not image.is_float


def _loads(image: bpy.types.Image) -> bool:
    try:
        image.update()
    except RuntimeError:
        return False
    return bool(image.has_data) and image.size[0] * image.size[1] > 0


def start_proceduralize(image: bpy.types.Image, settings: Settings,
                        out_dir: str | None = None) -> EngineJob:
    """Send the photo to the engine. A pixels file, and the maps when there is no ``out_dir``,
    go to a scratch folder that the finish step (or a failure to start) removes."""
    client = client_for(settings)
    scratch = new_out_dir(image.name)  # never the caller's folder: it gets only the maps
    try:
        inp = image_input(image, scratch)
        req = client.request("proceduralize", out_dir=out_dir or scratch, options=settings.options(),
                             overwrite=True, **inp)
    except BaseException:
        remove_dir(scratch)
        raise
    return EngineJob(client, req, f"Proceduralize '{image.name}'", scratch)


def finish_proceduralize(job: EngineJob, image_name: str, settings: Settings, obj: Any,
                         mode: str | None = None) -> tuple[bpy.types.Material, str]:
    """Build the material from a finished job; returns it and a one-line report."""
    try:
        result = job.result()
        name = os.path.splitext(image_name)[0] or "DiffProxy"
        mat, assigned = _build(job, name, result, settings, obj, mode)
    finally:
        job.discard()
    loss = format_losses(result.get("losses"))
    text = (f"Created material '{mat.name}' (graph {result['graph']}"
            + (f", {loss}" if loss else "")
            + f", {job.seconds:.0f} s)" + (f", {assigned}" if assigned else ""))
    check = unusual_values(result)
    if check:
        text += f"; check {check}"
    turned = photo_turn(result)
    if turned:
        text += f"; {turned}"
    others = other_graphs(result)
    guesses = other_guesses(result)
    if others:
        return mat, text + f"; also fitted {others} (the panel's 'Also fitted' makes one)"
    if guesses:
        return mat, text + f"; the graph classifier's next guesses: {guesses} (set Graph in the panel to force one)"
    return mat, text


def other_graphs(result: dict[str, Any]) -> str:
    """The other graphs a job optimised and their final style loss, e.g. ``"leather (style
    0.0362)"``: the automatic choice is often debatable on real photos, and this names what an
    artist can force instead."""
    parts = []
    for o in result.get("other_graphs") or []:
        if isinstance(o, dict) and o.get("graph"):
            style = final_losses(o.get("final")).get("style")
            parts.append(str(o["graph"]) + (f" (style {style:.4f})" if style is not None else ""))
    return ", ".join(parts)


def photo_turn(result: dict[str, Any]) -> str:
    """What the engine did to a photo taken a little off square, e.g. ``"the photo was turned
    1.5 degrees clockwise to square its lines (97 % of its side kept)"``; empty where it was
    fitted as it is."""
    photo = result.get("photo")
    turn = photo.get("turn") if isinstance(photo, dict) else None
    if not (isinstance(turn, dict) and turn.get("turned") is True and isinstance(turn.get("degrees"), (int, float))
            and isinstance(turn.get("kept"), (int, float))):
        return ""
    way = "counter-clockwise" if turn["degrees"] > 0 else "clockwise"
    return (f"the photo was turned {abs(turn['degrees']):.1f} degrees {way} to square its lines "
            f"({100 * turn['kept']:.0f} % of its side kept)")


def unusual_values(result: dict[str, Any]) -> str:
    """The fitted roughness values the engine found far from the material's usual ones, e.g.
    ``"roughness: mortar 0.38 (usually 0.92)"`` (named as the panel's slider): a flash photo
    hardly tells roughness, and fits often make light joints glossy, which shows only under the
    scene's lights."""
    parts = []
    for u in result.get("unusual") or []:
        if isinstance(u, dict) and isinstance(u.get("value"), (int, float)) and isinstance(u.get("usual"), (int, float)):
            parts.append(f"{material_params.label(str(u.get('param')))} {u['value']:.2f} (usually {u['usual']:.2f})")
    return ", ".join(parts)


def other_guesses(result: dict[str, Any], at_least: float = 0.1) -> str:
    """The graph classifier's other likely graphs that the job did not fit, e.g. ``"stone
    (21 %)"``: with a confident classifier only one graph is fitted, and an artist who disagrees
    needs to know what else it saw."""
    fitted = {result.get("graph")} | {o.get("graph") for o in result.get("other_graphs") or [] if isinstance(o, dict)}
    parts = []
    for r in result.get("ranking") or []:
        p = r.get("probability") if isinstance(r, dict) else None
        if isinstance(p, (int, float)) and p >= at_least and r.get("graph") not in fitted:
            parts.append(f"{r['graph']} ({100 * p:.0f} %)")
    return ", ".join(parts)


def start_new_material(graph: str, settings: Settings, out_dir: str | None = None) -> EngineJob:
    """Synthesise a graph at its default parameters (a starting point without a photo)."""
    client = client_for(settings)
    scratch = None if out_dir else new_out_dir(graph)
    try:
        req = client.request("synthesize", graph=graph, params={}, resolution=settings.resolution,
                             out_dir=out_dir or scratch, overwrite=True, device=settings.device)
    except BaseException:
        remove_dir(scratch)
        raise
    return EngineJob(client, req, f"New '{graph}' material", scratch)


def finish_new_material(job: EngineJob, settings: Settings, obj: Any,
                        mode: str | None = None) -> tuple[bpy.types.Material, str]:
    try:
        result = job.result()
        mat, assigned = _build(job, result["graph"], result, settings, obj, mode)
    finally:
        job.discard()
    return mat, (f"Created material '{mat.name}' from graph {result['graph']} "
                 f"({job.seconds:.1f} s)" + (f", {assigned}" if assigned else ""))


def start_other_fit(mat: bpy.types.Material, graph: str, settings: Settings) -> EngineJob:
    """Make the maps of a graph the engine fitted beside ``mat``'s (recorded on it by
    :func:`material_params.write_others`) from its fitted parameters: no new fit."""
    entry = next((o for o in material_params.read_others(mat) if o["graph"] == graph), None)
    if entry is None:
        raise EngineError(f"Material '{mat.name}' records no {graph} fit; proceduralize the photo "
                          f"with Graph '{graph}' instead.", "not_found")
    client = client_for(settings)
    scratch = new_out_dir(f"{mat.name}-{graph}")
    res = mat.get(material_params.KEY_RES)
    try:
        req = client.request("synthesize", graph=graph, params=entry["params"],
                             resolution=int(res) if isinstance(res, int) and res > 0 else settings.resolution,
                             out_dir=scratch, overwrite=True, device=settings.device)
    except BaseException:
        remove_dir(scratch)
        raise
    return EngineJob(client, req, f"'{mat.name}' as {graph}", scratch)


def finish_other_fit(job: EngineJob, source: str, others: list[dict[str, Any]], graph: str,
                     settings: Settings, obj: Any) -> tuple[bpy.types.Material, str]:
    """A new material from a finished :func:`start_other_fit` (``source``: the material's name,
    ``others``: what it recorded); the source material is left as it was. The new material
    records the source's other fits but its own, and the engine's ``unusual`` values of its fit."""
    entry = next(o for o in others if o["graph"] == graph)
    rest = [{"graph": o["graph"], "final": {"style": o["style"]}, "params": o["params"],
             "unusual": o["unusual"]} for o in others if o["graph"] != graph]
    try:
        result = {**job.result(), "unusual": entry["unusual"], "other_graphs": rest}
        mat, assigned = _build(job, f"{source} ({graph})", result, settings, obj, None)
    finally:
        job.discard()
    style = f", style {entry['style']:.4f}" if isinstance(entry.get("style"), float) else ""
    text = (f"Created material '{mat.name}' from the {graph} fit of '{source}'{style}, "
            f"{job.seconds:.1f} s" + (f", {assigned}" if assigned else ""))
    check = unusual_values(result)
    return mat, text + (f"; check {check}" if check else "")


def _build(job: EngineJob, name: str, result: dict[str, Any], settings: Settings, obj: Any,
           mode: str | None) -> tuple[bpy.types.Material, str]:
    remember_hello(job.client)
    spec = job.client.call("describe", graph=result["graph"], timeout=60)
    mode = mode or settings.output
    mat = node_tree.build_material(name, result["paths"], mode)
    res = _image_side(result["paths"]) or settings.resolution
    material_params.write(mat, spec, result.get("params") or {}, res)
    material_params.write_unusual(mat, result.get("unusual"))
    material_params.write_others(mat, result.get("other_graphs"))
    assigned = node_tree.assign_to_object(mat, obj)
    if mode == "EXTERNAL" and job.scratch in {os.path.dirname(p) for p in result["paths"].values()}:
        job.scratch = None  # the material references the maps where they are
    return mat, assigned


def final_losses(losses: Any) -> dict[str, float]:
    """The final losses of a run (``{"feature": .., "style": ..}``), whatever the nesting
    (floats only: the final entry also names the stage and the maps' size, ``maps_px``)."""
    if isinstance(losses, dict):
        final = losses.get("final", losses)
        if isinstance(final, dict):
            return {k: float(v) for k, v in final.items() if isinstance(v, float)}
    if isinstance(losses, (int, float)):
        return {"loss": float(losses)}
    return {}


def format_losses(losses: Any) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in final_losses(losses).items())


def _image_side(paths: dict[str, str]) -> int | None:
    """Width of the written base colour PNG, read from its header."""
    try:
        with open(paths["basecolor"], "rb") as f:
            head = f.read(24)
        return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else None
    except (OSError, KeyError):
        return None


# --- synthesize (bake and sliders) ----------------------------------------------------------
def start_synthesize(mat: bpy.types.Material, settings: Settings, resolution: int,
                     values: dict[str, Any] | None = None, out_dir: str | None = None) -> EngineJob:
    client = client_for(settings)
    scratch = None if out_dir else new_out_dir(mat.name)
    try:
        req = client.request("synthesize", graph=mat[material_params.KEY_GRAPH],
                             params=values if values is not None else material_params.read(mat),
                             resolution=int(resolution), out_dir=out_dir or scratch, overwrite=True,
                             device=settings.device)
    except BaseException:
        remove_dir(scratch)
        raise
    return EngineJob(client, req, f"Synthesize '{mat.name}' at {resolution} px", scratch)


def finish_synthesize(job: EngineJob, mat: bpy.types.Material, settings: Settings,
                      cleanup: bool = True, record_resolution: bool = True) -> dict[str, Any]:
    """Put a finished synthesis into the material's images (``record_resolution``: it is the
    material's new resolution, not a preview; ``cleanup``: remove the job's scratch folder,
    which it does also when the job failed)."""
    try:
        result = job.result()
        node_tree.update_images(mat, result["paths"])
        if record_resolution:
            mat[material_params.KEY_RES] = int(result["resolution"])
    except BaseException:
        job.discard()
        raise
    if cleanup:
        job.discard()
    return result
