"""DiffProxy engine: procedural material graphs, differentiable filters, a flash renderer,
differentiable proxies and the photo -> procedural material optimisation.

Imports as ``diffproxy`` (source folder ``engine/``). Never imports bpy.
"""

import os as _os

# OpenMP threads that spin while waiting make every op 10-30x slower when the cores are shared
# (Blender's UI, other processes): measured on the 2-core CI machine. Must be set before torch
# loads; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Intel MKL (torch's CPU matrix products: the descriptor's Gram matrices) picks its kernels by
# the memory alignment of its inputs when it runs on more than one thread, so the same run
# differed from one time to the next in the last bits, and the searches' argmins turned those
# bits into different results (measured: a fit's losses from the 7th digit up to 1e-3). Strict
# conditional numerical reproducibility makes them bit-identical; read at MKL's first call, so
# set before any; a user's own setting wins.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
