"""Name -> object registries built on first use (generators, graphs).

A registry lists its entries as ``{name: "module:attribute"}`` inside its package: adding a
generator or a graph is one module and one line there. Nothing is imported until the registry
is first read, so a single module still imports on its own, and :attr:`Registry.names` answers
without importing anything (a proxy can name its generator while a sibling module is broken).
An attribute that is a class is instantiated once.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Mapping


class Registry(Mapping[str, Any]):
    """Read-only mapping ``name -> object`` of ``entries`` in ``package``, loaded on first use.

    ``kind`` names the objects in messages ("generator", "graph"); ``hint`` ends the message of
    an unknown name (where to list them)."""

    def __init__(self, package: str, kind: str, entries: Mapping[str, str], hint: str = "") -> None:
        for name, target in entries.items():
            if target.count(":") != 1:
                raise ValueError(f"{kind} registry entry {name!r}: expected 'module:attribute', got {target!r}")
        self.package, self.kind, self.hint = package, kind, hint
        self.entries = dict(entries)
        self._items: dict[str, Any] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in order, without importing any module."""
        return tuple(self.entries)

    def load_one(self, name: str) -> Any:
        """The object of ``name`` imported on its own (the rest of the registry untouched)."""
        if name not in self.entries:
            raise KeyError(self._unknown(name, self.names))
        module, attr = self.entries[name].split(":")
        obj = getattr(importlib.import_module(f"{self.package}.{module}"), attr)
        return obj() if isinstance(obj, type) else obj

    def _build(self) -> dict[str, Any]:
        items = {}
        for name in self.entries:
            obj = self.load_one(name)
            if getattr(obj, "name", name) != name:
                raise RuntimeError(f"{self.kind} registry: entry {name!r} holds {obj.name!r}")
            items[name] = obj
        return items

    def _loaded(self) -> dict[str, Any]:
        if self._items is None:
            self._items = self._build()
        return self._items

    def _unknown(self, name: object, available) -> str:
        return f"unknown {self.kind} {name!r}; available: {', '.join(available)}{self.hint}"

    def __getitem__(self, name: str) -> Any:
        items = self._loaded()
        if name not in items:
            raise KeyError(self._unknown(name, items))
        return items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self.names)})"
