"""Labelled "photos" the project owns, made by another pattern generator and another renderer.

    python tests/blender/photoset.py --out DIR [--size 512] [--samples 32] [--only NAME ...]

Writes ``DIR/NAME.png`` for every material of :data:`MATERIALS` and ``DIR/LABELS.json`` in the
schema of ``../shared/photos/LABELS.json`` (``accept``, ``rows``, ``per_row``, ``relief``,
``note``), so that ``diffproxy bench --synthetic 0 --photos DIR --labels DIR/LABELS.json``
judges the pipeline on them as on the shared photos.

Why: the shared photos are 13, and the project is judged on photos it has never seen. These
share none of the optimiser's blind spots by construction: the patterns come from Blender's
own shader nodes (Brick Texture, Wave, Noise, Voronoi, Math), not from the engine's generators;
the image from Cycles (a point light at the camera, a perspective camera, sampling noise), not from the
engine's renderer; and the counts are exact, read off the node's settings rather than counted by
eye. Each material is a case the issue names as a failure on unseen photos: stack-bond square
tiles fitted as a running bond, tall units fitted with twice their courses, dark units in light
grout inverted, two-coloured bricks fitted one brown, smooth wood and metal with relief, woven
cloth fitted as paving; and families the shared photos hold one of or none: floor boards,
grained leather, flat painted steel.

Needs Blender as a Python module (PyPI ``bpy``, as the add-on tests); nothing of the engine.
The pattern is turned by a degree or two and shifted, as a hand-held camera leaves it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

# Every material: how it is made, and what a person (and the node's settings) say of it.
# Bricks/tiles: ``rows`` courses top to bottom and ``per_row`` units along a course, exactly;
# ``offset`` the bond (0 stack, 0.5 half bond); ``gap`` the joint's width as a share of a course;
# colours as linear RGB; ``depth`` the joints' recess (Bump node distance, scene units; the
# sample is 2 units wide); ``grain`` the units' grain (noise in colour and height).
MATERIALS: dict[str, dict] = {
    "red_running_bond": dict(
        kind="brick", rows=6, per_row=3, offset=0.5, gap=0.14, turn=1.5,
        c1=(0.30, 0.06, 0.03), c2=(0.42, 0.12, 0.05), mortar=(0.55, 0.52, 0.45), depth=0.02, grain=0.35,
        accept=["bricks"], relief=True, note="red bricks, light mortar, running bond"),
    "two_colour_bricks": dict(
        kind="brick", rows=8, per_row=3, offset=0.5, gap=0.12, turn=-1.0,
        c1=(0.38, 0.08, 0.04), c2=(0.20, 0.20, 0.19), mortar=(0.45, 0.43, 0.40), depth=0.02, grain=0.3,
        accept=["bricks"], relief=True, note="red and grey bricks mixed, grey mortar, running bond"),
    "stack_square_tiles": dict(
        kind="brick", rows=8, per_row=8, offset=0.0, gap=0.10, turn=0.8,
        c1=(0.42, 0.40, 0.36), c2=(0.47, 0.45, 0.40), mortar=(0.20, 0.19, 0.17), depth=0.01, grain=0.08,
        rough=0.25, accept=["ceramic_tiles"], relief=True, note="8 x 8 square glazed tiles, stack bond, darker grout"),
    "subway_tiles": dict(
        kind="brick", rows=9, per_row=3, offset=0.5, gap=0.12, turn=-0.7,
        c1=(0.50, 0.52, 0.50), c2=(0.55, 0.56, 0.53), mortar=(0.16, 0.16, 0.15), depth=0.01, grain=0.05,
        rough=0.2, accept=["ceramic_tiles", "bricks"], relief=True,
        note="white subway tiles 3:1 in a half bond, dark grout"),
    "dark_units_light_grout": dict(
        kind="brick", rows=10, per_row=5, offset=0.5, gap=0.16, turn=1.2,
        c1=(0.03, 0.05, 0.08), c2=(0.06, 0.08, 0.10), mortar=(0.55, 0.55, 0.52), depth=0.012, grain=0.1,
        rough=0.25, accept=["ceramic_tiles", "bricks", "mosaic"], relief=True,
        note="dark glass bricks in white grout, half bond (joints lighter than the units)"),
    "large_floor_tiles": dict(
        kind="brick", rows=3, per_row=3, offset=0.0, gap=0.03, turn=-1.3,
        c1=(0.45, 0.36, 0.26), c2=(0.50, 0.40, 0.29), mortar=(0.12, 0.10, 0.08), depth=0.006, grain=0.25,
        rough=0.35, accept=["ceramic_tiles"], relief=True, note="3 x 3 large stone-look floor tiles, thin dark grout"),
    "concrete_pavers": dict(
        kind="brick", rows=5, per_row=5, offset=0.0, gap=0.08, turn=2.0,
        c1=(0.30, 0.29, 0.27), c2=(0.36, 0.35, 0.32), mortar=(0.08, 0.08, 0.07), depth=0.02, grain=0.6,
        accept=["ceramic_tiles", "paving"], relief=True, note="square concrete pavers, stack bond, dark joints"),
    "dark_wood": dict(
        kind="wood", color=(0.10, 0.045, 0.02), turn=1.0, accept=["wood", "wood_planks"], relief=False,
        note="smooth varnished wood, grain along the frame"),
    "brushed_steel": dict(
        kind="brushed", color=(0.55, 0.55, 0.56), turn=0.0, accept=["brushed_metal", "metal"], relief=False,
        note="brushed steel, horizontal brush lines, smooth"),
    "plain_weave": dict(
        kind="weave", threads=28, warp=(0.05, 0.09, 0.22), weft=(0.45, 0.43, 0.38), turn=1.2, depth=0.012,
        accept=["fabric"], relief=True, note="plain-weave cloth, dark blue warp and pale weft, 28 threads a frame"),
    "wood_planks": dict(
        kind="brick", rows=6, per_row=2, offset=0.5, gap=0.04, turn=-0.8, wood=True,
        c1=(0.20, 0.09, 0.035), c2=(0.26, 0.13, 0.05), mortar=(0.05, 0.025, 0.012), depth=0.004, grain=0.6,
        rough=0.35, accept=["wood_planks", "parquet"], relief=True,
        note="wooden floor boards 3:1, 6 courses a frame, staggered, grain along the boards, thin dark joints"),
    "grain_leather": dict(
        kind="leather", cells=60.0, color=(0.30, 0.13, 0.05), turn=0.0, depth=0.01,
        accept=["leather"], relief=True, note="brown grained leather, small pebbled grain"),
    "painted_steel": dict(
        kind="painted", paint=(0.20, 0.24, 0.27), turn=0.0, accept=["metal"], relief=False,
        note="flat grey-blue painted steel, paint chipped to bare metal in small spots, smooth"),
}


def _link(tree, a, b):
    tree.links.new(a, b)


def _node(tree, kind: str, **inputs):
    n = tree.nodes.new(kind)
    for k, v in inputs.items():
        n.inputs[k].default_value = v
    return n


def _coords(tree, turn_deg: float, shift=(0.137, 0.291)):
    """UV turned about the sample's centre by ``turn_deg`` and shifted by a fraction of a unit."""
    uv = tree.nodes.new("ShaderNodeTexCoord")
    m = tree.nodes.new("ShaderNodeMapping")
    m.inputs["Location"].default_value = (shift[0], shift[1], 0.0)
    m.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(turn_deg))
    _link(tree, uv.outputs["UV"], m.inputs["Vector"])
    return m.outputs["Vector"]


def _brick_material(tree, bsdf, s: dict):
    """Brick Texture node: brick width 1/per_row and row height 1/rows of the UV square, so the
    frame holds exactly ``rows`` courses of ``per_row`` units."""
    vec = _coords(tree, s["turn"], shift=(0.13 / s["per_row"], 0.29 / s["rows"]))
    # hand-laid: the joints wander by a few thousandths of the frame
    wob = _node(tree, "ShaderNodeTexNoise", Scale=7.0, Detail=2.0)
    _link(tree, vec, wob.inputs["Vector"])
    warp = tree.nodes.new("ShaderNodeVectorMath")
    warp.operation = 'MULTIPLY_ADD'
    warp.inputs[1].default_value = (0.006, 0.006, 0.0)
    warp.inputs[2].default_value = (-0.003, -0.003, 0.0)
    _link(tree, wob.outputs["Color"], warp.inputs[0])
    add = tree.nodes.new("ShaderNodeVectorMath")
    add.operation = 'ADD'
    _link(tree, vec, add.inputs[0])
    _link(tree, warp.outputs[0], add.inputs[1])
    vec = add.outputs[0]
    brick = tree.nodes.new("ShaderNodeTexBrick")
    brick.offset = s["offset"]
    brick.offset_frequency = 2
    brick.squash = 1.0
    brick.squash_frequency = 2
    h = 1.0 / s["rows"]
    brick.inputs["Scale"].default_value = 1.0
    brick.inputs["Brick Width"].default_value = 1.0 / s["per_row"]
    brick.inputs["Row Height"].default_value = h
    brick.inputs["Mortar Size"].default_value = s["gap"] * h / 2  # each unit's border: half a joint
    brick.inputs["Mortar Smooth"].default_value = 0.15
    brick.inputs["Bias"].default_value = 0.0
    brick.inputs["Color1"].default_value = (*s["c1"], 1.0)
    brick.inputs["Color2"].default_value = (*s["c2"], 1.0)
    brick.inputs["Mortar"].default_value = (*s["mortar"], 1.0)
    _link(tree, vec, brick.inputs["Vector"])
    # grain: fine noise darkening the colour and roughening the height, units and joints alike;
    # wood (``wood``): fibres, the noise stretched along the boards
    noise = _node(tree, "ShaderNodeTexNoise", Scale=60.0, Detail=8.0, Roughness=0.6)
    if s.get("wood"):
        fibres = tree.nodes.new("ShaderNodeMapping")
        fibres.inputs["Scale"].default_value = (0.04, 1.0, 1.0)
        _link(tree, vec, fibres.inputs["Vector"])
        _link(tree, fibres.outputs["Vector"], noise.inputs["Vector"])
    else:
        _link(tree, vec, noise.inputs["Vector"])
    blotch = _node(tree, "ShaderNodeTexNoise", Scale=4.0, Detail=3.0)
    _link(tree, vec, blotch.inputs["Vector"])
    soil = tree.nodes.new("ShaderNodeMixRGB")  # weathering: large soft blotches
    soil.blend_type = 'OVERLAY'
    soil.inputs["Fac"].default_value = 0.5 * s["grain"]
    _link(tree, brick.outputs["Color"], soil.inputs["Color1"])
    _link(tree, blotch.outputs["Fac"], soil.inputs["Color2"])
    mix = tree.nodes.new("ShaderNodeMixRGB")
    mix.blend_type = 'MULTIPLY'
    mix.inputs["Fac"].default_value = s["grain"]
    _link(tree, soil.outputs["Color"], mix.inputs["Color1"])
    _link(tree, noise.outputs["Fac"], mix.inputs["Color2"])
    # the mortar factor (1 in the joints) gives a height 1 on the units, 0 in the joints
    height = tree.nodes.new("ShaderNodeMath")
    height.operation = 'SUBTRACT'
    height.inputs[0].default_value = 1.0
    _link(tree, brick.outputs["Fac"], height.inputs[1])
    rough = tree.nodes.new("ShaderNodeMath")
    rough.operation = 'MULTIPLY_ADD'
    rough.inputs[1].default_value = 0.08 * s["grain"]
    rough.inputs[2].default_value = 1.0 - 0.04 * s["grain"]
    _link(tree, noise.outputs["Fac"], rough.inputs[0])
    total = tree.nodes.new("ShaderNodeMath")
    total.operation = 'MULTIPLY'
    _link(tree, height.outputs[0], total.inputs[0])
    _link(tree, rough.outputs[0], total.inputs[1])
    bump = _node(tree, "ShaderNodeBump", Strength=1.0, Distance=s["depth"])
    _link(tree, total.outputs[0], bump.inputs["Height"])
    _link(tree, mix.outputs["Color"], bsdf.inputs["Base Color"])
    _link(tree, bump.outputs["Normal"], bsdf.inputs["Normal"])
    bsdf.inputs["Roughness"].default_value = s.get("rough", 0.8)


def _wood_material(tree, bsdf, s: dict):
    """Wave texture bands distorted by noise: growth rings seen along the board, no relief."""
    vec = _coords(tree, s["turn"])
    wave = _node(tree, "ShaderNodeTexWave", Scale=3.0, Distortion=6.0, Detail=3.0, **{"Detail Scale": 1.5})
    wave.wave_type = 'BANDS'
    wave.bands_direction = 'Y'
    _link(tree, vec, wave.inputs["Vector"])
    fine = _node(tree, "ShaderNodeTexNoise", Scale=80.0, Detail=4.0)
    m = tree.nodes.new("ShaderNodeMapping")
    m.inputs["Scale"].default_value = (1.0, 0.08, 1.0)  # long fibres along y
    _link(tree, vec, m.inputs["Vector"])
    _link(tree, m.outputs["Vector"], fine.inputs["Vector"])
    ramp = tree.nodes.new("ShaderNodeMixRGB")
    ramp.blend_type = 'MULTIPLY'
    ramp.inputs["Color1"].default_value = (*s["color"], 1.0)
    both = tree.nodes.new("ShaderNodeMath")
    both.operation = 'MULTIPLY_ADD'
    both.inputs[1].default_value = 0.6
    both.inputs[2].default_value = 0.6
    _link(tree, wave.outputs["Fac"], both.inputs[0])
    both2 = tree.nodes.new("ShaderNodeMath")
    both2.operation = 'MULTIPLY_ADD'
    both2.inputs[1].default_value = 0.5
    _link(tree, fine.outputs["Fac"], both2.inputs[0])
    _link(tree, both.outputs[0], both2.inputs[2])
    _link(tree, both2.outputs[0], ramp.inputs["Fac"])
    ramp.inputs["Color2"].default_value = (2.0, 2.0, 2.0, 1.0)
    _link(tree, ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.3


def _brushed_material(tree, bsdf, s: dict):
    """Noise stretched along x: brush lines; metallic, smooth (no bump)."""
    vec = _coords(tree, s["turn"])
    m = tree.nodes.new("ShaderNodeMapping")
    m.inputs["Scale"].default_value = (0.02, 1.0, 1.0)
    _link(tree, vec, m.inputs["Vector"])
    noise = _node(tree, "ShaderNodeTexNoise", Scale=300.0, Detail=6.0)
    _link(tree, m.outputs["Vector"], noise.inputs["Vector"])
    mix = tree.nodes.new("ShaderNodeMixRGB")
    mix.blend_type = 'MULTIPLY'
    mix.inputs["Fac"].default_value = 0.35
    mix.inputs["Color1"].default_value = (*s["color"], 1.0)
    _link(tree, noise.outputs["Fac"], mix.inputs["Color2"])
    _link(tree, mix.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Metallic"].default_value = 1.0
    r = tree.nodes.new("ShaderNodeMath")
    r.operation = 'MULTIPLY_ADD'
    r.inputs[1].default_value = 0.25
    r.inputs[2].default_value = 0.45
    _link(tree, noise.outputs["Fac"], r.inputs[0])
    _link(tree, r.outputs[0], bsdf.inputs["Roughness"])


def _math(tree, op: str, a, b=None, c=None):
    """A Math node ``op`` of inputs that are sockets or numbers; returns its output."""
    n = tree.nodes.new("ShaderNodeMath")
    n.operation = op
    for i, x in enumerate((a, b, c)):
        if x is None:
            continue
        if isinstance(x, (int, float)):
            n.inputs[i].default_value = float(x)
        else:
            _link(tree, x, n.inputs[i])
    return n.outputs[0]


def _mix(tree, blend: str, fac, c1, c2):
    """A MixRGB node; ``fac``, ``c1``, ``c2`` sockets or values (colours as RGB tuples)."""
    n = tree.nodes.new("ShaderNodeMixRGB")
    n.blend_type = blend
    for sock, x in ((n.inputs["Fac"], fac), (n.inputs["Color1"], c1), (n.inputs["Color2"], c2)):
        if isinstance(x, tuple):
            sock.default_value = (*x, 1.0)
        elif isinstance(x, (int, float)):
            sock.default_value = float(x)
        else:
            _link(tree, x, sock)
    return n.outputs["Color"]


def _weave_material(tree, bsdf, s: dict):
    """Plain weave: ``threads`` warp threads (along y) and as many weft threads (along x) a
    frame, each passing over one and under the next; the thread on top is rounded (its height
    and shade ``|sin|`` across it) and fuzzy (fine noise)."""
    vec = _coords(tree, s["turn"])
    xyz = tree.nodes.new("ShaderNodeSeparateXYZ")
    _link(tree, vec, xyz.inputs["Vector"])
    n = float(s["threads"])
    x, y = _math(tree, "MULTIPLY", xyz.outputs["X"], n), _math(tree, "MULTIPLY", xyz.outputs["Y"], n)
    # which thread is on top: the parity of the cell (floor(x) + floor(y)) mod 2
    parity = _math(tree, "FLOORED_MODULO", _math(tree, "ADD", _math(tree, "FLOOR", x), _math(tree, "FLOOR", y)), 2.0)
    across_warp = _math(tree, "ABSOLUTE", _math(tree, "SINE", _math(tree, "MULTIPLY", x, math.pi)))
    across_weft = _math(tree, "ABSOLUTE", _math(tree, "SINE", _math(tree, "MULTIPLY", y, math.pi)))
    # on top, a thread also arches along its length between the two threads it crosses
    warp_h = _math(tree, "MULTIPLY", across_warp, _math(tree, "MULTIPLY_ADD", across_weft, 0.4, 0.6))
    weft_h = _math(tree, "MULTIPLY", across_weft, _math(tree, "MULTIPLY_ADD", across_warp, 0.4, 0.6))
    fuzz = _node(tree, "ShaderNodeTexNoise", Scale=220.0, Detail=6.0)
    _link(tree, vec, fuzz.inputs["Vector"])
    height = _math(tree, "MULTIPLY_ADD", fuzz.outputs["Fac"], 0.15,
                   _mix_value(tree, parity, weft_h, warp_h))
    warp_c = _mix(tree, "MULTIPLY", 1.0, s["warp"], _gray(tree, _math(tree, "MULTIPLY_ADD", warp_h, 0.7, 0.45)))
    weft_c = _mix(tree, "MULTIPLY", 1.0, s["weft"], _gray(tree, _math(tree, "MULTIPLY_ADD", weft_h, 0.7, 0.45)))
    color = _mix(tree, "MIX", parity, weft_c, warp_c)
    color = _mix(tree, "MULTIPLY", 0.25, color, _gray(tree, fuzz.outputs["Fac"]))
    bump = _node(tree, "ShaderNodeBump", Strength=1.0, Distance=s["depth"])
    _link(tree, height, bump.inputs["Height"])
    _link(tree, color, bsdf.inputs["Base Color"])
    _link(tree, bump.outputs["Normal"], bsdf.inputs["Normal"])
    bsdf.inputs["Roughness"].default_value = 0.85


def _mix_value(tree, fac, a, b):
    """``a`` where ``fac`` is 0, ``b`` where it is 1 (values, not colours)."""
    return _math(tree, "ADD", _math(tree, "MULTIPLY", a, _math(tree, "SUBTRACT", 1.0, fac)),
                 _math(tree, "MULTIPLY", b, fac))


def _gray(tree, value):
    """A value socket as a grey colour."""
    c = tree.nodes.new("ShaderNodeCombineXYZ")
    for k in ("X", "Y", "Z"):
        _link(tree, value, c.inputs[k])
    return c.outputs["Vector"]


def _leather_material(tree, bsdf, s: dict):
    """Grained leather: Voronoi cells (distance to their edge) make small domed pebbles parted
    by narrow creases, seen mostly by their shading (the bump); a fine noise mottles the colour."""
    vec = _coords(tree, s["turn"])
    cells = tree.nodes.new("ShaderNodeTexVoronoi")
    cells.feature = 'DISTANCE_TO_EDGE'
    cells.inputs["Scale"].default_value = s["cells"]
    cells.inputs["Randomness"].default_value = 0.9
    wob = _node(tree, "ShaderNodeTexNoise", Scale=12.0, Detail=2.0)
    _link(tree, vec, wob.inputs["Vector"])
    warped = _mix(tree, "LINEAR_LIGHT", 0.04, vec, wob.outputs["Color"])
    _link(tree, warped, cells.inputs["Vector"])
    near_edge = _math(tree, "MINIMUM", _math(tree, "MULTIPLY", cells.outputs["Distance"], 14.0), 1.0)
    crease = _math(tree, "POWER", near_edge, 0.5)  # 0 in a crease, 1 on a pebble's dome
    mottle = _node(tree, "ShaderNodeTexNoise", Scale=40.0, Detail=4.0)
    _link(tree, vec, mottle.inputs["Vector"])
    shade = _math(tree, "MULTIPLY_ADD", crease, 0.15, 0.85)
    color = _mix(tree, "MULTIPLY", 1.0, s["color"], _gray(tree, shade))
    color = _mix(tree, "OVERLAY", 0.35, color, _gray(tree, mottle.outputs["Fac"]))
    bump = _node(tree, "ShaderNodeBump", Strength=1.0, Distance=s["depth"])
    _link(tree, crease, bump.inputs["Height"])
    _link(tree, color, bsdf.inputs["Base Color"])
    _link(tree, bump.outputs["Normal"], bsdf.inputs["Normal"])
    rough = _math(tree, "MULTIPLY_ADD", crease, -0.2, 0.75)
    _link(tree, rough, bsdf.inputs["Roughness"])


def _painted_material(tree, bsdf, s: dict):
    """Painted steel: a flat, satin paint coat chipped to bare metal where a fine noise is
    high (small spots, a few per cent of the surface); no bump."""
    vec = _coords(tree, s["turn"])
    chips = _node(tree, "ShaderNodeTexNoise", Scale=30.0, Detail=6.0, Roughness=0.65)
    _link(tree, vec, chips.inputs["Vector"])
    bare = _math(tree, "GREATER_THAN", chips.outputs["Fac"], 0.68)
    tone = _node(tree, "ShaderNodeTexNoise", Scale=5.0, Detail=3.0)
    _link(tree, vec, tone.inputs["Vector"])
    paint = _mix(tree, "OVERLAY", 0.15, s["paint"], _gray(tree, tone.outputs["Fac"]))
    color = _mix(tree, "MIX", bare, paint, (0.55, 0.55, 0.56))
    _link(tree, color, bsdf.inputs["Base Color"])
    _link(tree, bare, bsdf.inputs["Metallic"])
    _link(tree, _math(tree, "MULTIPLY_ADD", bare, -0.15, 0.45), bsdf.inputs["Roughness"])


BUILDERS = {"brick": _brick_material, "wood": _wood_material, "brushed": _brushed_material,
            "weave": _weave_material, "leather": _leather_material, "painted": _painted_material}


def render(name: str, spec: dict, out: Path, size: int, samples: int) -> None:
    import bpy
    from scenarios import cycles_settings, flash_rig, plane  # this folder; Blender's module only in Blender's process

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    obj = plane()  # 2 x 2 units, UVs 0..1
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    tree = mat.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    BUILDERS[spec["kind"]](tree, bsdf, spec)
    obj.data.materials.append(mat)

    # a flash photo (the engine's capture, scenarios.flash_rig), the flash a little beside the
    # lens and not a point, as on a phone
    flash_rig(scene, irradiance=2.8, beside=(0.03, 0.02), size=0.02)

    cycles_settings(scene, size, samples, world=0.02)
    scene.render.filepath = str(out / f"{name}.png")
    bpy.ops.render.render(write_still=True)


def label(spec: dict) -> dict:
    keys = ("accept", "rows", "per_row", "relief", "note")
    return {k: spec[k] for k in keys if k in spec}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--only", nargs="*", default=[])
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.only or list(MATERIALS)
    unknown = [n for n in names if n not in MATERIALS]
    if unknown:
        print(f"unknown material(s) {unknown}; known: {', '.join(MATERIALS)}", file=sys.stderr)
        return 2
    labels = {"_about": "Made by tests/blender/photoset.py (Blender's shader nodes, Cycles); counts exact."}
    for n in names:
        render(n, MATERIALS[n], out, a.size, a.samples)
        labels[n] = label(MATERIALS[n])
        print(f"{n}: {out / (n + '.png')}", flush=True)
    (out / "LABELS.json").write_text(json.dumps(labels, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
