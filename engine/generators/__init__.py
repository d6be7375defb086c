"""Pattern generators: the non-differentiable black boxes that proxies imitate.

Contract (every generator module follows it):

* ``fn(params: dict[str, Tensor(B,)], res: int) -> Tensor(B, 1, res, res)``, float32 in [0, 1],
  on the device of the parameter tensors; parameters in natural units as declared by the
  module's ``SPEC`` (all with ``role="generator"``); discrete values may arrive unrounded and
  are rounded inside.
* Deterministic given its parameters (seeds are parameters), tileable (period 1 on the unit
  square; pixel centres at ``(i + 0.5) / res``), resolution-independent (the same parameters at
  256 and 2048 give the same pattern, sharper).
* Every generator function also takes an optional ``origin=(x, y)`` (texture units) that shifts
  the sampled window; with whole-pixel shifts it must equal rolling the image (the tests use it
  to check period 1 exactly). Callers of the contract never need it.
* Adding a generator = one module defining ``GENERATOR = Generator(...)`` + one line below.
  Shared helpers (hashing, antialiasing, banded rendering) live in ``_common``; seeded noise
  inputs for graphs in ``noise``; ``python -m diffproxy.generators.benchmark`` times them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..params import Batch, ParamSpec
from ..registry import Registry


@dataclass(frozen=True)
class Generator:
    name: str
    spec: ParamSpec
    fn: Callable[[Batch, int], torch.Tensor]
    description: str
    stochastic: bool = False  # highly stochastic: proxies train with an adversarial term
    version: int = 1  # bump when the output for given parameters changes (invalidates proxies)

    def __call__(self, params: Batch, res: int, **kwargs) -> torch.Tensor:
        # kwargs: optional extras of a generator function (e.g. ``origin`` for period checks)
        return self.fn(params, res, **kwargs)

    def spec_hash(self) -> str:
        """Hash of spec + code version: a proxy checkpoint is valid only for this value."""
        return f"{self.spec.hash()}-v{self.version}"


# Adding a generator: one module exposing ``GENERATOR``, and one line here.
GENERATORS = Registry(__name__, "generator", {
    "brick": "brick:GENERATOR",
    "stripes": "stripes:GENERATOR",
    "scratches": "scratches:GENERATOR",
    "tile_paraboloid": "tile_paraboloid:GENERATOR",
    "tile_brick": "tile_brick:GENERATOR",
    "arc_pavement": "arc_pavement:GENERATOR",
    "cellular": "cellular:GENERATOR",
    "hex_tiles": "hex_tiles:GENERATOR",
    "herringbone": "herringbone:GENERATOR",
    "knit": "knit:GENERATOR",
    "diamond_plate": "diamond_plate:GENERATOR",
})


def get_generator(name: str) -> Generator:
    return GENERATORS[name]
