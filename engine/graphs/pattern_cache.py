"""The generator outputs of the last few syntheses, kept for slider edits.

Moving a filter slider re-synthesises the maps with the same generator parameters: the
generators (the costly part at 2-4K) need not run again. :class:`PatternCache` keeps the
patterns of the last ``size`` (graph, resolution, device, generator parameters) keys, least
recently used out first; one 4K slot of a one-slot graph is 64 MiB.
"""

from __future__ import annotations

import collections
from typing import Any

import torch


class PatternCache:
    """LRU cache of ``graph.patterns(params, res)`` by graph, resolution, device and the
    generator parameters' values."""

    def __init__(self, size: int = 2) -> None:
        if not (isinstance(size, int) and size >= 1):
            raise ValueError(f"size must be a whole number >= 1, got {size!r}")
        self.size = size
        self._items: "collections.OrderedDict[tuple, dict[str, torch.Tensor]]" = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    @torch.no_grad()
    def patterns(self, graph: Any, params: dict[str, torch.Tensor], res: int) -> tuple[dict[str, torch.Tensor], bool]:
        """``(patterns, cached)``: the graph's slot patterns for batch-1 ``params`` at ``res``,
        and whether they came from the cache."""
        gen_names = [p.name for p in graph.spec if p.role == "generator"]
        device = next(iter(params.values())).device if params else torch.device("cpu")
        key = (graph.name, res, str(device), tuple(float(params[n]) for n in gen_names))
        pats = self._items.get(key)
        cached = pats is not None
        if pats is None:
            pats = graph.patterns(params, res)
            self._items[key] = pats
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        self._items.move_to_end(key)
        return pats, cached
