"""Properties: the scene's source image and the window manager's run status (not saved)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, PointerProperty, StringProperty


class DIFFPROXY_PG_scene(bpy.types.PropertyGroup):
    image: PointerProperty(  # type: ignore[valid-type]
        name="Photo", type=bpy.types.Image,
        description="Photo of a flat material sample to proceduralize (the Image Editor's image "
                    "or the active Image Texture node are used first)")


class DIFFPROXY_PG_status(bpy.types.PropertyGroup):
    """What the panel shows while the engine works; updated by the operators and the slider timer."""

    running: BoolProperty(default=False)  # type: ignore[valid-type]
    stage: StringProperty(default="")  # type: ignore[valid-type]
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype='FACTOR')  # type: ignore[valid-type]
    loss: FloatProperty(default=-1.0)  # type: ignore[valid-type]
    message: StringProperty(default="")  # type: ignore[valid-type]
    syncing: IntProperty(default=0)  # type: ignore[valid-type]  # slider re-syntheses in flight


def attach() -> None:
    # fake-bpy-module types the property functions as returning None
    setattr(bpy.types.Scene, "diffproxy",
            PointerProperty(type=DIFFPROXY_PG_scene))  # type: ignore[func-returns-value]
    setattr(bpy.types.WindowManager, "diffproxy_status",
            PointerProperty(type=DIFFPROXY_PG_status))  # type: ignore[func-returns-value]


def detach() -> None:
    delattr(bpy.types.WindowManager, "diffproxy_status")
    delattr(bpy.types.Scene, "diffproxy")


def status(context=None):
    """The status group, or None when the add-on's classes are not registered (batch.py)."""
    wm = (context or bpy.context).window_manager
    return getattr(wm, "diffproxy_status", None) if wm is not None else None
