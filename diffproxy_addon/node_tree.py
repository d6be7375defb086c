"""Material builder: a NEW material whose Principled BSDF is fed by the engine's maps.

Layout (like Node Wrangler's Principled Texture Setup): Texture Coordinate -> Mapping on the
left, one Image Texture per map in a column, labelled with the socket it feeds, Normal Map and
Displacement nodes next to their images, Principled BSDF and Material Output on the right.
Base colour is sRGB, every other map Non-Color. Height drives a Displacement node that is muted
(the normal map already carries the relief); unmute it, or set the material's displacement
method, to use it.

The user's materials and images are never modified: the material and every image are new
datablocks (Blender makes their names unique). A material the new one replaces in an object's
slot gets a fake user if nothing else uses it, so saving the .blend does not drop it. Maps are packed into the .blend (default),
written next to the saved .blend in ``textures/`` under unique file names, or (batch) referenced
where the engine wrote them.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import bpy

# map name -> (label, socket of the Principled BSDF it feeds or None, colour space)
MAPS = (
    ("basecolor", "Base Color", "Base Color", "sRGB"),
    ("roughness", "Roughness", "Roughness", "Non-Color"),
    ("metallic", "Metallic", "Metallic", "Non-Color"),
    ("normal", "Normal", None, "Non-Color"),
    ("height", "Height", None, "Non-Color"),
)
NODE_PREFIX = "DiffProxy "
TEXTURE_DIR = "textures"
GRID_X = 300  # node columns
GRID_Y = 300  # image rows
OUTPUT_MODES = ("PACK", "SAVE", "EXTERNAL")


class BuildError(RuntimeError):
    """The material cannot be built as asked (message says what to do)."""


def image_nodes(mat: bpy.types.Material) -> dict[str, bpy.types.ShaderNodeTexImage]:
    """Map name -> the material's DiffProxy Image Texture node (those still present)."""
    out: dict[str, bpy.types.ShaderNodeTexImage] = {}
    if mat.node_tree is None:
        return out
    for m, *_ in MAPS:
        node = mat.node_tree.nodes.get(NODE_PREFIX + m)
        if node is not None and node.type == 'TEX_IMAGE':
            out[m] = node  # type: ignore[assignment]
    return out


def enable_nodes(mat: bpy.types.Material) -> None:
    """Give ``mat`` a node tree. Blender 5.0+ materials always use nodes and ``use_nodes`` is
    deprecated there (a warning on every set), so it is only set where it still means something."""
    if bpy.app.version < (5, 0, 0) and hasattr(mat, "use_nodes"):
        mat.use_nodes = True


def build_material(name: str, paths: dict[str, str], mode: str = "PACK") -> bpy.types.Material:
    """A new material named ``name`` (made unique by Blender) with the maps in ``paths``."""
    _check_mode(mode)
    missing = [m for m, *_ in MAPS if m not in paths]
    if missing:
        raise BuildError(f"the engine did not return the maps {missing}")
    mat = bpy.data.materials.new(name)
    mat.use_fake_user = True  # kept when saved even if no object uses it (assigning clears it)
    enable_nodes(mat)
    tree = mat.node_tree
    assert tree is not None
    tree.nodes.clear()
    nodes, links = tree.nodes, tree.links

    def add(kind: str, label: str, x: float, y: float, node_name: str | None = None):
        node = nodes.new(kind)
        node.location = (x, y)
        node.label = label
        if node_name:
            node.name = node_name
        return node

    x_img = -3 * GRID_X
    coords = add("ShaderNodeTexCoord", "Texture Coordinate", x_img - 2 * GRID_X, 0)
    mapping = add("ShaderNodeMapping", "Mapping", x_img - GRID_X, 0)
    links.new(coords.outputs["UV"], mapping.inputs["Vector"])
    bsdf = add("ShaderNodeBsdfPrincipled", "Principled BSDF", 0, GRID_Y)
    out = add("ShaderNodeOutputMaterial", "Material Output", 2 * GRID_X, GRID_Y)
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])

    for row, (m, label, socket, colorspace) in enumerate(MAPS):
        y = GRID_Y * (1 - row)
        img = _store_image(mat, m, paths[m], mode, colorspace)
        tex = add("ShaderNodeTexImage", label, x_img, y, NODE_PREFIX + m)
        tex.image = img
        tex.extension = 'REPEAT'  # the maps tile
        tex.interpolation = 'Linear'
        tex.width = 240
        links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        if socket is not None:
            links.new(tex.outputs["Color"], bsdf.inputs[socket])
        elif m == "normal":
            nmap = add("ShaderNodeNormalMap", "Normal Map", -GRID_X - 60, y, NODE_PREFIX + "normal map")
            nmap.space = 'TANGENT'
            links.new(tex.outputs["Color"], nmap.inputs["Color"])
            links.new(nmap.outputs["Normal"], bsdf.inputs["Normal"])
        elif m == "height":
            disp = add("ShaderNodeDisplacement", "Displacement (muted: the normal map has the relief)",
                       -GRID_X - 60, y, NODE_PREFIX + "displacement")
            disp.inputs["Midlevel"].default_value = 0.5
            disp.inputs["Scale"].default_value = 0.02
            links.new(tex.outputs["Color"], disp.inputs["Height"])
            links.new(disp.outputs["Displacement"], out.inputs["Displacement"])
            disp.mute = True
    return mat


def update_images(mat: bpy.types.Material, paths: dict[str, str]) -> list[str]:
    """Replace the pixels of the material's map images in place; returns the maps updated.

    Packed images get the new file packed; file images get the new file copied over theirs
    (files this add-on wrote for this material) and are reloaded.
    """
    done = []
    for m, node in image_nodes(mat).items():
        img = node.image
        if img is None or m not in paths:
            continue
        src = paths[m]
        if img.packed_file is not None:
            # re-packing in place (pack(data=...)) keeps the old pixels; swap the source instead
            img.unpack(method='REMOVE')
            img.filepath = src
            img.reload()
            img.pack()
        else:
            target = bpy.path.abspath(img.filepath, library=img.library)
            if os.path.normcase(os.path.abspath(target)) != os.path.normcase(os.path.abspath(src)):
                shutil.copyfile(src, target)
            img.reload()
        done.append(m)
    return done


def assign_to_object(mat: bpy.types.Material, obj: Any) -> str:
    """Put ``mat`` in the active slot of ``obj`` (a new slot if it has none); returns what was done."""
    if obj is None or not hasattr(obj, "material_slots") or obj.type not in {'MESH', 'CURVE', 'SURFACE', 'META', 'FONT', 'VOLUME', 'CURVES', 'POINTCLOUD'}:
        return ""
    mat.use_fake_user = False
    if len(obj.material_slots) == 0:
        obj.data.materials.append(mat)
        obj.active_material_index = len(obj.material_slots) - 1
        return f"assigned to '{obj.name}'"
    previous = obj.active_material
    obj.active_material = mat
    if previous is None:
        return f"assigned to '{obj.name}'"
    if keep(previous):
        return (f"assigned to '{obj.name}'; your material '{previous.name}' is unchanged and kept "
                "in the file (fake user)")
    return f"assigned to '{obj.name}' (its previous material '{previous.name}' is unchanged)"


def keep(mat: bpy.types.Material) -> bool:
    """Give ``mat`` a fake user if nothing uses it any more, so that saving the .blend keeps it
    (Blender drops datablocks with no users on save); True if it needed one."""
    if mat.users > 0 or mat.use_fake_user or mat.library is not None:
        return False
    mat.use_fake_user = True
    return True


def _check_mode(mode: str) -> None:
    if mode not in OUTPUT_MODES:
        raise ValueError(f"mode must be one of {OUTPUT_MODES}, got {mode!r}")


def _store_image(mat: bpy.types.Material, m: str, src: str, mode: str, colorspace: str) -> bpy.types.Image:
    if mode == "SAVE":
        if not bpy.data.filepath:
            raise BuildError("Save the .blend file first (maps are saved next to it), or set "
                             "Preferences > Add-ons > DiffProxy > Maps to 'Pack into .blend'.")
        folder = os.path.join(os.path.dirname(bpy.data.filepath), TEXTURE_DIR)
        os.makedirs(folder, exist_ok=True)
        target = _unique_path(folder, f"{bpy.path.clean_name(mat.name)}_{m}", ".png")
        shutil.copyfile(src, target)
        img = bpy.data.images.load(target, check_existing=False)
        try:
            img.filepath = bpy.path.relpath(target)
        except ValueError:  # another drive (Windows): keep it absolute
            pass
    else:
        img = bpy.data.images.load(src, check_existing=False)
        if mode == "PACK":
            img.pack()
    img.name = f"{mat.name}_{m}"
    assert img.colorspace_settings is not None
    img.colorspace_settings.name = colorspace  # type: ignore[assignment]  # stub: Literal["NONE"]
    img.alpha_mode = 'NONE'
    return img


def _unique_path(folder: str, stem: str, ext: str) -> str:
    path = os.path.join(folder, stem + ext)
    i = 1
    while os.path.exists(path):
        path = os.path.join(folder, f"{stem}_{i}{ext}")
        i += 1
    return path
