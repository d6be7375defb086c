"""DiffProxy for Blender: turn a photo of a material into a procedural material.

The add-on is UI, operators, a node-tree builder and a client for the engine child process
(``engine_client``); the numerics live in the engine (torch), which Blender's process never
imports. Every class is registered from :data:`CLASSES`.
"""

from __future__ import annotations

import atexit

import bpy

from . import operators, panel, preferences, properties, sliders

CLASSES = (
    preferences.DIFFPROXY_AP_preferences,
    properties.DIFFPROXY_PG_scene,
    properties.DIFFPROXY_PG_status,
    operators.DIFFPROXY_OT_proceduralize,
    operators.DIFFPROXY_OT_new_material,
    operators.DIFFPROXY_OT_other_fit,
    operators.DIFFPROXY_OT_cancel,
    operators.DIFFPROXY_OT_bake,
    operators.DIFFPROXY_OT_release_engine,
    operators.DIFFPROXY_OT_check_engine,
    panel.DIFFPROXY_PT_shader_editor,
    panel.DIFFPROXY_PT_image_editor,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()
    sliders.start()
    # Blender does not disable add-ons when it quits: stop the engine and remove the scratch
    # folder then too
    atexit.register(operators.shutdown)


def unregister() -> None:
    atexit.unregister(operators.shutdown)
    sliders.stop()
    operators.shutdown()
    properties.detach()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
