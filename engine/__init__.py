"""DiffProxy engine: procedural material graphs, differentiable filters, a flash renderer,
differentiable proxies and the photo -> procedural material optimisation.

Imports as ``diffproxy`` (source folder ``engine/``). Never imports bpy.
"""

import os as _os

# OpenMP threads that spin while waiting make every op 10-30x slower when the cores are shared
# (Blender's UI, other processes): measured on the 2-core CI machine. Must be set before torch
# loads; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
