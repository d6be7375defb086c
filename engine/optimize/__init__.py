"""Photo -> procedural material: the DiffProxy optimisation (three stages), graph choice and
baselines. The add-on's server and the CLI use exactly this API::

    from diffproxy.optimize import proceduralize, Options, Cancelled
    result = proceduralize("photo.jpg", Options(preset="fast"), progress=print)
    result.write("out/")

Modules: ``options`` (Options, presets), ``control`` (progress, cancellation), ``fit`` (one
graph against one photo), ``stages`` (Stage I-III), ``choose`` (graph ranking), ``baselines``
(MATch, random search / ES), ``pipeline`` (proceduralize), ``result`` (Result, export),
``bench`` (the Fig. 8 benchmark).
"""

from .control import Cancelled
from .options import PRESETS, Options, Preset
from .pipeline import proceduralize
from .result import Result

__all__ = ["proceduralize", "Options", "Cancelled", "Result", "Preset", "PRESETS"]
