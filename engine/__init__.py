"""DiffProxy engine: procedural material graphs, differentiable filters, a flash renderer,
differentiable proxies and the photo -> procedural material optimisation.

Imports as ``diffproxy`` (source folder ``engine/``). Never imports bpy.
"""

__version__ = "0.1.0"
