"""Procedural parameters as the material's own ID custom properties (sliders with UI data).

Keys on the material:

* ``diffproxy_graph``: the graph's name (str).
* ``diffproxy_resolution``: side of the current maps (int).
* ``diffproxy_spec``: JSON ``{"hash": spec hash, "groups": [[group, [param names]]]}`` so the
  panel can draw the groups the engine defined, without asking the engine.
* ``diffproxy_unusual``: JSON ``{parameter name: [usual value, how far is unusual]}`` of the
  fitted values the engine found far from the material's usual ones (a proceduralize result's
  ``unusual``: ``usual``, ``limit`` x ``sd``); the panel marks such a slider while it stays that
  far (:func:`unusual_names`).
* ``diffproxy_others``: JSON ``[{"graph", "style", "params", "unusual"}]``, the graphs the engine
  fitted beside the kept one (a proceduralize result's ``other_graphs``), so the panel can make
  one of them without fitting again (:func:`read_others`).
* ``dp.<parameter name>``: one property per parameter (float, int, bool; a choice is an int
  holding its index, with enum items where Blender supports them), with min, max, soft limits,
  step, default, description and subtype from the engine's ``describe``.

Custom properties are part of the material datablock, so undo, copy and save just work.
"""

from __future__ import annotations

import json
from typing import Any

import bpy

KEY_GRAPH = "diffproxy_graph"
KEY_RES = "diffproxy_resolution"
KEY_SPEC = "diffproxy_spec"
KEY_UNUSUAL = "diffproxy_unusual"
KEY_OTHERS = "diffproxy_others"
PREFIX = "dp."
MAX_KEY = 63  # Blender's ID property name limit
_SUBTYPES = {"FACTOR", "PERCENTAGE", "PIXEL", "DISTANCE", "UNSIGNED", "TIME", "POWER"}
_layout_cache: dict[str, list[tuple[str, list[str]]]] = {}


def key(name: str) -> str:
    k = PREFIX + name
    if len(k) > MAX_KEY:
        raise ValueError(f"parameter name {name!r} is too long for a Blender custom property")
    return k


def label(name: str) -> str:
    """A parameter's slider label in the panel (``roughness.mortar`` -> ``roughness: mortar``);
    the report names sliders the same way."""
    return name.replace("_", " ").replace(".", ": ")


def is_diffproxy(mat: Any) -> bool:
    return (isinstance(mat, bpy.types.Material) and isinstance(mat.get(KEY_GRAPH), str)
            and isinstance(mat.get(KEY_SPEC), str))


def groups(mat: bpy.types.Material) -> list[tuple[str, list[str]]]:
    """``[(group, [parameter names])]`` in the engine's order (parsed once per distinct spec)."""
    raw = mat.get(KEY_SPEC, "")
    if raw not in _layout_cache:
        try:
            _layout_cache[raw] = [(g, list(ns)) for g, ns in json.loads(raw)["groups"]]
        except (ValueError, KeyError, TypeError):
            _layout_cache[raw] = []
    return _layout_cache[raw]


def write_unusual(mat: bpy.types.Material, unusual: Any) -> None:
    """Record a proceduralize result's ``unusual`` values (``[{param, value, usual, sd,
    limit}]``) on the material, so the panel can mark their sliders; malformed entries are
    skipped."""
    keep = {}
    for u in unusual if isinstance(unusual, list) else []:
        if (isinstance(u, dict) and isinstance(u.get("param"), str)
                and all(isinstance(u.get(k), (int, float)) for k in ("usual", "sd", "limit"))):
            keep[u["param"]] = [float(u["usual"]), float(u["sd"]) * float(u["limit"])]
    mat[KEY_UNUSUAL] = json.dumps(keep)
    _ui(mat, KEY_UNUSUAL, description="DiffProxy: fitted values far from the material's usual ones "
                                      "(their sliders are marked in the panel)")


def unusual_names(mat: bpy.types.Material) -> dict[str, float]:
    """``{parameter name: usual value}`` of the sliders to mark: recorded by
    :func:`write_unusual` and still that far from the usual value (a slider the user moved back
    is no longer marked)."""
    try:
        recorded = json.loads(mat.get(KEY_UNUSUAL, "{}"))
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, pair in recorded.items() if isinstance(recorded, dict) else ():
        value = mat.get(PREFIX + name)
        if (isinstance(value, (int, float)) and isinstance(pair, list) and len(pair) == 2
                and abs(float(value) - pair[0]) > pair[1]):
            out[name] = float(pair[0])
    return out


def write_others(mat: bpy.types.Material, others: Any) -> None:
    """Record the graphs a proceduralize result fitted beside the kept one (its
    ``other_graphs``: graph, final losses, parameters, ``unusual``); entries without a graph
    name or parameters are skipped."""
    keep = []
    for o in others if isinstance(others, list) else []:
        if isinstance(o, dict) and isinstance(o.get("graph"), str) and isinstance(o.get("params"), dict):
            final = o.get("final")
            style = final.get("style") if isinstance(final, dict) else None
            keep.append({"graph": o["graph"], "style": float(style) if isinstance(style, (int, float)) else None,
                         "params": o["params"], "unusual": o.get("unusual") if isinstance(o.get("unusual"), list) else []})
    mat[KEY_OTHERS] = json.dumps(keep)
    _ui(mat, KEY_OTHERS, description="DiffProxy: other graphs fitted to the same photo (the panel "
                                     "makes a material from one without fitting again)")


def read_others(mat: bpy.types.Material) -> list[dict[str, Any]]:
    """What :func:`write_others` recorded, ``[{"graph", "style", "params", "unusual"}]`` (a
    damaged record reads as none)."""
    try:
        recorded = json.loads(mat.get(KEY_OTHERS, "[]"))
    except (TypeError, ValueError):
        return []
    return [o for o in recorded if isinstance(o, dict) and isinstance(o.get("graph"), str)
            and isinstance(o.get("params"), dict)] if isinstance(recorded, list) else []


def write(mat: bpy.types.Material, spec: dict[str, Any], values: dict[str, Any], resolution: int) -> None:
    """Store the graph, the layout and every parameter of ``spec`` (a ``describe`` result).

    ``values`` are JSON values by parameter name (choices by name or index); missing ones take
    the spec's default.
    """
    mat[KEY_GRAPH] = spec["graph"]
    mat[KEY_RES] = int(resolution)
    mat[KEY_SPEC] = json.dumps({"hash": spec["spec_hash"],
                                "groups": [[g["name"], [p["name"] for p in g["params"]]]
                                           for g in spec["groups"]]})
    _ui(mat, KEY_GRAPH, description="DiffProxy graph that synthesises this material's maps")
    _ui(mat, KEY_RES, description="Side of the current DiffProxy maps (Bake to change it)",
        min=8, max=16384)
    _ui(mat, KEY_SPEC, description="DiffProxy parameter layout (the engine's spec)")
    for p in spec["params"]:
        _write_param(mat, p, values.get(p["name"], p["default"]))


def _write_param(mat: bpy.types.Material, p: dict[str, Any], value: Any) -> None:
    k = key(p["name"])
    kind = p["kind"]
    desc = p.get("description") or p["name"]
    if p.get("role") == "generator":
        desc += " (pattern parameter: a change regenerates the pattern)"
    if kind == "bool":
        mat[k] = bool(value)
        _ui(mat, k, description=desc, default=bool(p["default"]))
    elif kind == "choice":
        choices = list(p["choices"])
        idx = choices.index(value) if isinstance(value, str) else int(value)
        default = choices.index(p["default"]) if isinstance(p["default"], str) else int(p["default"])
        mat[k] = idx
        items = [(c, c.replace("_", " ").title(), desc, i) for i, c in enumerate(choices)]
        try:
            _ui(mat, k, description=desc, default=default, items=items)
        except TypeError:  # Blender without enum custom properties: an int with the names listed
            _ui(mat, k, description=f"{desc} ({', '.join(f'{i}={c}' for i, c in enumerate(choices))})",
                default=default, min=0, max=len(choices) - 1)
    elif kind == "int":
        mat[k] = int(round(float(value)))
        lo, hi = int(p["min"]), int(p["max"])
        _ui(mat, k, description=desc, default=int(p["default"]), min=lo, max=hi,
            soft_min=int(p.get("soft_min", lo)), soft_max=int(p.get("soft_max", hi)), step=1)
    else:
        mat[k] = float(value)
        flo, fhi = float(p["min"]), float(p["max"])
        unit = str(p.get("unit", "")).upper()
        _ui(mat, k, description=desc, default=float(p["default"]), min=flo, max=fhi,
            soft_min=float(p.get("soft_min", flo)), soft_max=float(p.get("soft_max", fhi)),
            # Blender's float step is in hundredths: about 1/100 of the range per click
            step=min(100.0, max(0.01, fhi - flo)), precision=3,
            subtype=unit if unit in _SUBTYPES else "NONE")


def _ui(mat: bpy.types.Material, k: str, **kw: Any) -> None:
    # fake-bpy-module types id_properties_ui as returning None; it returns the UI manager
    mat.id_properties_ui(k).update(**kw)  # type: ignore[func-returns-value, attr-defined]


def read(mat: bpy.types.Material) -> dict[str, Any]:
    """Current parameter values as the engine's JSON (choices as indices)."""
    out: dict[str, Any] = {}
    for _, names in groups(mat):
        for name in names:
            v = mat.get(PREFIX + name)
            if v is None:
                continue  # deleted by the user: the engine uses the default
            out[name] = v if isinstance(v, (bool, int, float, str)) else float(v)
    return out
