"""Add-on preferences (keyed by the package name) and the settings every job reads from them."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

PRESETS = (
    ("fast", "Fast", "About 30 s on a laptop CPU; one graph"),
    ("balanced", "Balanced", "About 2 min on a laptop CPU; the best two graphs"),
    ("full", "Full", "Balanced's fit from four starts per graph, the best kept; up to three graphs. "
                     "A closer fit for 2-6x Balanced's time"),
)
RESOLUTIONS = (
    ("1024", "1K", "1024 x 1024 maps"),
    ("2048", "2K", "2048 x 2048 maps"),
    ("4096", "4K", "4096 x 4096 maps"),
    ("8192", "8K", "8192 x 8192 maps"),
)
DEVICES = (
    ("auto", "Auto", "CUDA, else Apple MPS, else CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "An NVIDIA GPU (needs a CUDA build of torch)"),
    ("mps", "Apple MPS", "Apple silicon GPU"),
)
OUTPUTS = (
    ("PACK", "Pack into .blend", "Maps are packed into the .blend file"),
    ("SAVE", "Save next to .blend", "Maps are PNG files in a 'textures' folder next to the saved .blend"),
)

# Graph names the engine reported (filled by the first hello); used for suggestions only.
KNOWN_GRAPHS: list[str] = []


def _graph_search(self, context, edit_text):
    return ["auto", *KNOWN_GRAPHS]


@dataclass
class Settings:
    """Plain values of the preferences (also built directly by batch.py without the UI)."""

    python: str = ""
    output: str = "PACK"
    preset: str = "balanced"
    graph: str = "auto"
    resolution: int = 2048
    device: str = "auto"
    seed: int = 0
    top_k: int = 0  # graphs optimised with graph "auto"; 0: the preset's

    def options(self) -> dict:
        """The engine's proceduralize ``options`` object."""
        extra = {"top_k": self.top_k} if self.top_k > 0 else {}
        return {"graph": self.graph or "auto", "preset": self.preset, "method": "diffproxy",
                "device": self.device, "res_out": self.resolution, "seed": self.seed, **extra}


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
        name="Preset", items=PRESETS, default="balanced",
        description="Speed/quality budget of Proceduralize")
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
        name="Device", items=DEVICES, default="auto",
        description="Where the engine computes")
    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed", default=0, min=0, description="Seeds the engine's random choices")

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
                    output=prefs.output, preset=prefs.preset, graph=prefs.graph.strip() or "auto",
                    resolution=int(prefs.resolution), device=prefs.device, seed=prefs.seed,
                    top_k=prefs.top_k)
