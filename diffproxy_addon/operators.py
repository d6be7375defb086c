"""Operators: Proceduralize from image, Cancel, Bake at a resolution, Release / check the engine.

Long operators run modal with a timer in the UI (progress in the panel, ESC or the Cancel
button stops them within a second) and block in background mode, where timers do not run.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty

from . import engine_client, jobs, material_params, node_tree, properties
from .engine_client import EngineError
from .preferences import KNOWN_GRAPHS, RESOLUTIONS, get_settings

TIMER_S = 0.1


def _graph_search(self, context, edit_text):
    return list(KNOWN_GRAPHS)


def source_image(context: Any, name: str = "") -> bpy.types.Image | None:
    """The photo to use: by name, the Image Editor's image, the active Image Texture node's image,
    or the one picked in the panel."""
    if name:
        return bpy.data.images.get(name)
    space = getattr(context, "space_data", None)
    if space is not None and space.type == 'IMAGE_EDITOR' and space.image is not None:
        return space.image
    if space is not None and space.type == 'NODE_EDITOR' and getattr(space, "edit_tree", None) is not None:
        node = space.edit_tree.nodes.active
        if node is not None and node.type == 'TEX_IMAGE' and node.image is not None:
            return node.image
    scene = getattr(context, "scene", None)
    picked = getattr(getattr(scene, "diffproxy", None), "image", None)
    return picked


def active_diffproxy_material(context: Any) -> bpy.types.Material | None:
    mat = getattr(context, "material", None)
    if mat is None:
        obj = getattr(context, "object", None)
        mat = obj.active_material if obj is not None else None
    return mat if material_params.is_diffproxy(mat) else None


class _EngineJobOperator:
    """Shared modal/blocking runner: subclasses implement ``start`` and ``finish``."""

    _job: "jobs.EngineJob | None" = None
    _timer: Any = None
    report: Any  # from bpy.types.Operator, which every subclass also derives from

    @classmethod
    def poll(cls, context) -> bool:
        # one engine job at a time; subclasses add their own context checks after this one
        if jobs.ACTIVE is not None:
            cls.poll_message_set("DiffProxy is already working")  # type: ignore[attr-defined]
            return False
        return True

    def start(self, context) -> "jobs.EngineJob":
        raise NotImplementedError

    def finish(self, context, job: "jobs.EngineJob") -> str:
        raise NotImplementedError

    def _begin(self, context) -> bool:
        if jobs.ACTIVE is not None:
            self.report({'WARNING'}, "DiffProxy is already working; wait or press Cancel")
            return False
        try:
            self._job = self.start(context)
        except (EngineError, node_tree.BuildError, OSError) as e:
            _set_status(context, running=False, message=str(e))
            self.report({'ERROR'}, str(e))
            return False
        jobs.ACTIVE = self._job
        _set_status(context, running=True, stage=self._job.describe_progress(), progress=0.0,
                    loss=-1.0, message="")
        return True

    def _end(self, context) -> set[str]:
        job = self._job
        jobs.ACTIVE = None
        self._job = None
        assert job is not None
        try:
            text = self.finish(context, job)
        except EngineError as e:
            _set_status(context, running=False, message=str(e))
            if e.code == "cancelled":
                self.report({'WARNING'}, f"{job.title}: cancelled after {job.seconds:.1f} s")
            else:
                self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        except (node_tree.BuildError, OSError, RuntimeError, KeyError, ValueError) as e:
            _set_status(context, running=False, message=str(e))
            self.report({'ERROR'}, f"{job.title}: {e}")
            return {'CANCELLED'}
        finally:
            job.discard()  # whatever happened, the request's scratch folder is not needed
        _set_status(context, running=False, message=text, progress=1.0)
        self.report({'INFO'}, text)
        return {'FINISHED'}

    def execute(self, context):
        if not self._begin(context):
            return {'CANCELLED'}
        assert self._job is not None
        try:
            self._job.wait()
        except EngineError:
            pass  # reported by _end
        return self._end(context)

    def invoke(self, context, event):
        if bpy.app.background:  # no event loop: block
            return self.execute(context)
        if not self._begin(context):
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        job = self._job
        if job is None:
            return {'CANCELLED'}
        if event.type == 'ESC' and event.value == 'PRESS':
            job.request_cancel()
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        done = job.poll()
        _set_status(context, stage=job.describe_progress(), progress=job.fraction,
                    loss=float(job.progress.get("loss")) if isinstance(job.progress.get("loss"), (int, float)) else -1.0)
        _tag_redraw(context)
        if not done:
            return {'RUNNING_MODAL'}
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None
        result = self._end(context)
        _tag_redraw(context)
        return result


class DIFFPROXY_OT_proceduralize(_EngineJobOperator, bpy.types.Operator):
    """Fit a procedural material to the photo and create it as a new material"""

    bl_idname = "diffproxy.proceduralize"
    bl_label = "Proceduralize from Image"
    bl_options = {'REGISTER', 'UNDO'}

    image: StringProperty(  # type: ignore[valid-type]
        name="Image", default="", options={'SKIP_SAVE'},
        description="Name of the image to use (empty: the editor's or the panel's image)")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if source_image(context) is None:
            cls.poll_message_set("Open a photo in the Image Editor, select an Image Texture node, "
                                 "or pick a photo in the DiffProxy panel")
            return False
        return True

    def start(self, context):
        image = source_image(context, self.image)
        if image is None:
            raise EngineError(f"No image named '{self.image}'." if self.image else "No image to use.",
                              "not_found")
        self._image_name = image.name
        self._object = context.object if hasattr(context, "object") else None
        return jobs.start_proceduralize(image, get_settings(context))

    def finish(self, context, job):
        _mat, text = jobs.finish_proceduralize(job, self._image_name, get_settings(context),
                                               self._object)
        return text


class DIFFPROXY_OT_new_material(_EngineJobOperator, bpy.types.Operator):
    """Create a new material from a procedural graph at its default parameters"""

    bl_idname = "diffproxy.new_material"
    bl_label = "New Material from Graph"
    bl_options = {'REGISTER', 'UNDO'}

    graph: StringProperty(  # type: ignore[valid-type]
        name="Graph", default="", search=_graph_search, options={'SKIP_SAVE'},
        description="Graph to start from (names come from the engine)")

    def start(self, context):
        if not self.graph.strip():
            raise EngineError("Choose a graph (its name; suggestions appear once the engine has "
                              "started: Preferences > Check Engine).", "bad_request")
        self._object = getattr(context, "object", None)
        return jobs.start_new_material(self.graph.strip(), get_settings(context))

    def finish(self, context, job):
        _mat, text = jobs.finish_new_material(job, get_settings(context), self._object)
        return text


class DIFFPROXY_OT_other_fit(_EngineJobOperator, bpy.types.Operator):
    """Create a new material from another graph fitted to the same photo (no new fit; the active
    material is kept as it is)"""

    bl_idname = "diffproxy.other_fit"
    bl_label = "Material from Another Fit"
    bl_options = {'REGISTER', 'UNDO'}

    graph: StringProperty(  # type: ignore[valid-type]
        name="Graph", default="", options={'SKIP_SAVE'},
        description="One of the graphs fitted beside the active material's")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        mat = active_diffproxy_material(context)
        if mat is None or not material_params.read_others(mat):
            cls.poll_message_set("The active material records no other fitted graph")
            return False
        return True

    def start(self, context):
        mat = active_diffproxy_material(context)
        if mat is None:
            raise EngineError("The active material was not made by DiffProxy.", "not_found")
        self._source, self._others = mat.name, material_params.read_others(mat)
        self._object = getattr(context, "object", None)
        return jobs.start_other_fit(mat, self.graph.strip(), get_settings(context))

    def finish(self, context, job):
        _mat, text = jobs.finish_other_fit(job, self._source, self._others, self.graph.strip(),
                                           get_settings(context), self._object)
        return text


class DIFFPROXY_OT_bake(_EngineJobOperator, bpy.types.Operator):
    """Re-synthesise the active DiffProxy material's maps at this resolution"""

    bl_idname = "diffproxy.bake"
    bl_label = "Bake Maps"
    bl_options = {'REGISTER'}

    resolution: EnumProperty(  # type: ignore[valid-type]
        name="Resolution", items=RESOLUTIONS, default="2048")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if active_diffproxy_material(context) is None:
            cls.poll_message_set("The active material was not made by DiffProxy")
            return False
        return True

    def start(self, context):
        mat = active_diffproxy_material(context)
        self._material_name = mat.name
        return jobs.start_synthesize(mat, get_settings(context), int(self.resolution))

    def finish(self, context, job):
        mat = bpy.data.materials.get(self._material_name)
        if mat is None:
            raise KeyError(f"material '{self._material_name}' no longer exists")
        result = jobs.finish_synthesize(job, mat, get_settings(context))
        return f"Baked '{mat.name}' at {result['resolution']} px in {job.seconds:.1f} s"


class DIFFPROXY_OT_cancel(bpy.types.Operator):
    """Stop the running DiffProxy job (within a second)"""

    bl_idname = "diffproxy.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return jobs.ACTIVE is not None

    def execute(self, context):
        assert jobs.ACTIVE is not None
        jobs.ACTIVE.request_cancel()
        self.report({'INFO'}, "Cancelling...")
        return {'FINISHED'}


class DIFFPROXY_OT_release_engine(bpy.types.Operator):
    """Stop the engine process and free its memory (it restarts on the next request)"""

    bl_idname = "diffproxy.release_engine"
    bl_label = "Release Engine"

    @classmethod
    def poll(cls, context):
        if jobs.ACTIVE is not None:
            cls.poll_message_set("Cancel the running job first")
            return False
        return True

    def execute(self, context):
        was = engine_client.release()
        self.report({'INFO'}, "Engine released" if was else "The engine was not running")
        return {'FINISHED'}


class DIFFPROXY_OT_check_engine(bpy.types.Operator):
    """Start the engine if needed and report its versions and device"""

    bl_idname = "diffproxy.check_engine"
    bl_label = "Check Engine"

    def execute(self, context):
        client = jobs.client_for(get_settings(context))
        try:
            info = client.wait_ready()
        except EngineError as e:
            _set_status(context, message=str(e))
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        reset = jobs.remember_hello(client, context)
        self.report({'INFO'}, f"DiffProxy engine {info['engine_version']}: torch {info['torch_version']}, "
                              f"Python {info['python']}, device {info['device']}, "
                              f"{len(info['graphs'])} graphs"
                              + (f"; not offered by this engine, reset: {', '.join(reset)}" if reset else ""))
        return {'FINISHED'}


def _set_status(context, **values) -> None:
    s = properties.status(context)
    if s is None:
        return
    for k, v in values.items():
        setattr(s, k, v)


def _tag_redraw(context) -> None:
    screen = getattr(context, "screen", None)
    for area in (screen.areas if screen else ()):
        if area.type in {'NODE_EDITOR', 'IMAGE_EDITOR'}:
            area.tag_redraw()


def shutdown() -> None:
    """Add-on disabled or Blender quits: stop any job and the engine, then remove the session's
    scratch folder (per-request folders of jobs that never finished)."""
    if jobs.ACTIVE is not None:
        jobs.ACTIVE.request_cancel()
        jobs.ACTIVE = None
    engine_client.release()
    jobs.remove_work_dir()
