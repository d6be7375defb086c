"""Add-on preferences (keyed by the package name) and the settings every job reads from them.

The preset and device lists come from the engine's ``hello`` (:func:`remember_hello`), so the
engine decides what is offered; until an engine has answered, the built-in lists below stand in
(Blender needs the items before the engine starts).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

# Built-in lists until an engine answers. Their positions are the enums' stored numbers (as when
# these were fixed enums), so preferences saved by older versions keep their meaning.
PRESETS = (
    ("fast", "Fast", "About 30 s on a laptop CPU; one graph"),
    ("balanced", "Balanced", "About 2 min on a laptop CPU; the best two graphs, or the one it is sure of "
                             "from two starts"),
    ("full", "Full", "Balanced's fit from four starts per graph (more with fewer graphs), the best kept; up to "
                     "three graphs. A closer fit for 2-6x Balanced's time"),
)
DEVICES = (
    ("auto", "Auto", "CUDA, else Apple MPS, else CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "An NVIDIA GPU (needs a CUDA build of torch)"),
    ("mps", "Apple MPS", "Apple silicon GPU"),
)
DEFAULT_PRESET, DEFAULT_DEVICE = "balanced", "auto"
RESOLUTIONS = (
    ("1024", "1K", "1024 x 1024 maps"),
    ("2048", "2K", "2048 x 2048 maps"),
    ("4096", "4K", "4096 x 4096 maps"),
    ("8192", "8K", "8192 x 8192 maps"),
)
OUTPUTS = (
    ("PACK", "Pack into .blend", "Maps are packed into the .blend file"),
    ("SAVE", "Save next to .blend", "Maps are PNG files in a 'textures' folder next to the saved .blend"),
)

# Graph names the engine reported (filled by hello); used for suggestions only.
KNOWN_GRAPHS: list[str] = []
# The last hello's presets for artists and devices as (name, label, description, icon) rows, in
# the engine's order; empty: no engine has answered yet (the built-in lists are offered).
ENGINE_PRESETS: list[tuple[str, str, str, str]] = []
ENGINE_DEVICES: list[tuple[str, str, str, str]] = []
UNAVAILABLE = " (not available on this machine)"
# Every items list handed to Blender, kept alive: Blender keeps pointers to the strings an items
# callback returns, and a freed string shows as garbage or crashes it (a known bpy pitfall).
_KEPT: dict[tuple, list] = {}


def _graph_search(self, context, edit_text):
    return ["auto", *KNOWN_GRAPHS]


def _number(name: str, builtin: tuple) -> int:
    """The enum's stored number for ``name``: its place in the built-in list, else one derived from
    the name (stable across sessions and engines, whatever order an engine lists it in)."""
    names = [row[0] for row in builtin]
    return names.index(name) if name in names else 1000 + zlib.crc32(name.encode("utf-8")) % 1_000_000


def _items(rows: list | tuple, builtin: tuple) -> list:
    """(identifier, label, description, icon, number) items; one kept list per distinct content."""
    items = [(*row[:3], row[3] if len(row) > 3 else 'NONE', _number(row[0], builtin)) for row in rows]
    return _KEPT.setdefault(tuple(items), items)


def preset_items(self: Any = None, context: Any = None) -> list:
    """Items of the Preset enum: the engine's presets for artists, else the built-in ones."""
    return _items(ENGINE_PRESETS or PRESETS, PRESETS)


def device_items(self: Any = None, context: Any = None) -> list:
    """Items of the Device enum: every device the engine accepts (those this machine lacks say
    so and carry a warning icon), else the built-in ones."""
    return _items(ENGINE_DEVICES or DEVICES, DEVICES)


def remember_hello(hello: dict[str, Any] | None) -> None:
    """Take graphs, presets and devices from an engine's ``hello``. An engine that lists no presets
    or devices (an older one) leaves the built-in lists in place."""
    if not hello:
        return
    labels = {row[0]: row[1] for row in PRESETS + DEVICES}

    def rows(key: str) -> list[dict[str, Any]]:
        got = hello.get(key)
        return [r for r in got if isinstance(r, dict) and isinstance(r.get("name"), str) and r["name"]] \
            if isinstance(got, list) else []
    graphs = [g["name"] for g in rows("graphs")]
    if graphs:
        KNOWN_GRAPHS[:] = graphs
    ENGINE_PRESETS[:] = [(p["name"], labels.get(p["name"], p["name"].replace("_", " ").title()),
                          str(p.get("description") or ""), 'NONE')
                         for p in rows("presets") if p.get("artist", True)]
    ENGINE_DEVICES[:] = [(d["name"], labels.get(d["name"], d["name"].upper()),
                          str(d.get("description") or "") + ("" if d.get("available", True) else UNAVAILABLE),
                          'NONE' if d.get("available", True) else 'ERROR')
                         for d in rows("devices")]


def _offered(value: str, items: list, default: str) -> str:
    """``value`` if it is among ``items``, else ``default`` if offered, else the first item. A
    stored enum value the items no longer hold reads as '' in Blender."""
    names = [it[0] for it in items]
    return value if value in names else default if default in names else names[0]


def keep_valid(prefs: Any) -> list[str]:
    """Reset a preference the engine no longer offers to the default (Blender would show it
    empty); returns what was reset, for the report. Call where properties may be written (an
    operator), not from ``draw``."""
    changed = []
    for prop, items, default in (("preset", preset_items(), DEFAULT_PRESET),
                                 ("device", device_items(), DEFAULT_DEVICE)):
        value = getattr(prefs, prop)
        good = _offered(value, items, default)
        if good != value:
            setattr(prefs, prop, good)
            changed.append(f"{prop} {value or '(not offered)'} -> {good}")
    return changed


@dataclass
class Settings:
    """Plain values of the preferences (also built directly by batch.py without the UI)."""

    python: str = ""
    output: str = "PACK"
    preset: str = DEFAULT_PRESET
    graph: str = "auto"
    resolution: int = 2048
    device: str = DEFAULT_DEVICE
    seed: int = 0
    top_k: int = 0  # graphs optimised with graph "auto"; 0: the preset's
    straighten: bool = True  # a photo a little off square turned square before the fit

    def options(self) -> dict:
        """The engine's proceduralize ``options`` object."""
        extra: dict = {"top_k": self.top_k} if self.top_k > 0 else {}
        if not self.straighten:  # sent only when off: the engine's default
            extra["straighten"] = False
        # exif_orientation False: the photo as Blender shows it. Blender ignores a file's EXIF
        # orientation tag; turned upright by the engine, a phone photo stored sideways would give
        # a material whose grain or courses run across the image the artist picked, on its UVs
        return {"graph": self.graph or "auto", "preset": self.preset, "method": "diffproxy",
                "device": self.device, "res_out": self.resolution, "seed": self.seed,
                "exif_orientation": False, **extra}


class DIFFPROXY_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python: StringProperty(  # type: ignore[valid-type]
        name="Python interpreter",
        description="Python that runs the engine (needs torch). Empty: Blender's own Python with "
                    "the extension's bundled wheels and engine",
        subtype='FILE_PATH', default="")
    output: EnumProperty(  # type: ignore[valid-type]
        name="Maps", items=OUTPUTS, default="PACK",
        description="Where the synthesised maps are stored")
    preset: EnumProperty(  # type: ignore[valid-type]
        name="Preset", items=preset_items, default=_number(DEFAULT_PRESET, PRESETS),
        description="Speed/quality budget of Proceduralize (the list comes from the engine)")
    graph: StringProperty(  # type: ignore[valid-type]
        name="Graph", default="auto", search=_graph_search,
        description="'auto' lets the engine pick the best graph; or a graph name "
                    "(suggestions appear once the engine has started)")
    top_k: IntProperty(  # type: ignore[valid-type]
        name="Graphs to Try", default=0, min=0, max=8,
        description="With Graph 'auto': how many of the best-ranked graphs are fitted before the "
                    "best is kept (0: up to the preset's, Fast 1, Balanced 2, Full 3, leaving out "
                    "graphs the engine's graph classifier finds unlikely). More graphs, better "
                    "odds of the right one, longer runs (on a CPU they run side by side as the "
                    "cores allow)")
    resolution: EnumProperty(  # type: ignore[valid-type]
        name="Resolution", items=RESOLUTIONS, default="2048",
        description="Side of the synthesised maps")
    device: EnumProperty(  # type: ignore[valid-type]
        name="Device", items=device_items, default=_number(DEFAULT_DEVICE, DEVICES),
        description="Where the engine computes (the list comes from the engine)")
    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed", default=0, min=0, description="Seeds the engine's random choices")
    straighten: BoolProperty(  # type: ignore[valid-type]
        name="Square the Photo", default=True,
        description="A photo whose joints, planks or threads run 2-10 degrees off the image's "
                    "axes is turned square to them before the fit (the largest square inside is "
                    "kept; the report says by how much). Off: the photo is fitted as it is")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "python")
        layout.prop(self, "output")
        col = layout.column(heading="Defaults")
        col.prop(self, "preset")
        col.prop(self, "graph")
        col.prop(self, "top_k")
        col.prop(self, "resolution")
        col.prop(self, "device")
        col.prop(self, "seed")
        col.prop(self, "straighten")
        row = layout.row()
        row.operator("diffproxy.check_engine", icon='CONSOLE')
        row.operator("diffproxy.release_engine", icon='X')


def get_preferences(context=None):
    """The registered preferences, or None when the add-on is loaded without registering."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def get_settings(context=None) -> Settings:
    prefs = get_preferences(context)
    if prefs is None:
        return Settings()
    return Settings(python=bpy.path.abspath(prefs.python) if prefs.python else "",
                    output=prefs.output, preset=_offered(prefs.preset, preset_items(), DEFAULT_PRESET),
                    graph=prefs.graph.strip() or "auto", resolution=int(prefs.resolution),
                    device=_offered(prefs.device, device_items(), DEFAULT_DEVICE), seed=prefs.seed,
                    top_k=prefs.top_k, straighten=prefs.straighten)
