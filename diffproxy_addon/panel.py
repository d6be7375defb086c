"""N-panel tab "DiffProxy" in the Shader Editor and the Image Editor (drawing only)."""

from __future__ import annotations

import bpy

from . import jobs, material_params, preferences, properties
from .operators import active_diffproxy_material, source_image


def _draw(layout, context) -> None:
    prefs = preferences.get_preferences(context)
    status = properties.status(context)
    scene_props = getattr(context.scene, "diffproxy", None)

    box = layout.box()
    box.label(text="From a photo", icon='IMAGE_DATA')
    image = source_image(context)
    if scene_props is not None:
        box.prop(scene_props, "image", text="Photo")
    if image is not None and (scene_props is None or image != scene_props.image):
        box.label(text=f"Using '{image.name}'", icon='INFO')
    if prefs is not None:
        col = box.column(align=True)
        col.prop(prefs, "preset")
        col.prop(prefs, "graph")
        sub = col.row(align=True)
        sub.active = prefs.graph.strip() in ("", "auto")
        sub.prop(prefs, "top_k")
        col.prop(prefs, "resolution")
        col.prop(prefs, "device")
    if jobs.ACTIVE is not None and status is not None:
        box.progress(factor=status.progress, type='BAR', text=status.stage or "Working...")
        box.operator("diffproxy.cancel", icon='CANCEL')
    else:
        box.operator("diffproxy.proceduralize", icon='NODE_MATERIAL')
    if status is not None and status.message:
        box.label(text=status.message)
    header, body = box.panel("diffproxy_new_from_graph", default_closed=True)
    header.label(text="New from a graph")
    if body is not None:
        if preferences.KNOWN_GRAPHS:
            col = body.column(align=True)
            for g in preferences.KNOWN_GRAPHS:
                col.operator("diffproxy.new_material", text=g.replace("_", " ").title()).graph = g
        else:
            body.operator("diffproxy.check_engine", text="List Graphs (starts the engine)")

    mat = active_diffproxy_material(context)
    if mat is None:
        return
    box = layout.box()
    box.label(text=f"{mat.name}: graph {mat[material_params.KEY_GRAPH]}", icon='MATERIAL')
    res = mat.get(material_params.KEY_RES)
    row = box.row(align=True)
    row.label(text=f"Maps {res} px" if res else "Maps")
    for value, label, _desc in preferences.RESOLUTIONS:
        op = row.operator("diffproxy.bake", text=label)
        op.resolution = value
    if status is not None and status.syncing:
        box.label(text="Updating maps...", icon='SORTTIME')
    others = material_params.read_others(mat)
    if others:  # graphs fitted beside this one: the user may judge the family otherwise
        header, body = box.panel("diffproxy_other_fits", default_closed=False)
        header.label(text="Also fitted")
        if body is not None:
            col = body.column(align=True)
            for o in others:
                style = f" (style {o['style']:.4f})" if isinstance(o.get("style"), float) else ""
                row = col.row(align=True)
                row.label(text=o["graph"].replace("_", " ") + style)
                row.operator("diffproxy.other_fit", text="New Material", icon='ADD').graph = o["graph"]
    unusual = material_params.unusual_names(mat)
    for group, names in material_params.groups(mat):
        header, body = box.panel(f"diffproxy_{group}", default_closed=False)
        header.label(text=group)
        if body is None:
            continue
        col = body.column(align=True)
        for name in names:
            k = material_params.PREFIX + name
            if mat.get(k) is None:
                continue
            text = material_params.label(name)
            if name in unusual:  # far from the material's usual value: marked until moved back
                row = col.row(align=True)
                row.alert = True
                row.prop(mat, f'["{k}"]', text=f"{text} (usually {unusual[name]:.2f})")
            else:
                col.prop(mat, f'["{k}"]', text=text)


class DIFFPROXY_PT_shader_editor(bpy.types.Panel):
    bl_idname = "DIFFPROXY_PT_shader_editor"
    bl_label = "DiffProxy"
    bl_space_type = 'NODE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "DiffProxy"

    @classmethod
    def poll(cls, context):
        space = context.space_data
        return space is not None and getattr(space, "tree_type", "") == 'ShaderNodeTree'

    def draw(self, context):
        _draw(self.layout, context)


class DIFFPROXY_PT_image_editor(bpy.types.Panel):
    bl_idname = "DIFFPROXY_PT_image_editor"
    bl_label = "DiffProxy"
    bl_space_type = 'IMAGE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "DiffProxy"

    def draw(self, context):
        _draw(self.layout, context)
