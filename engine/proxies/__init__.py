"""Differentiable proxies: neural networks that imitate the (non-differentiable) generators.

Public API (what the optimisation pipeline uses)::

    proxy = load_proxy("brick", device)          # nn.Module, frozen weights, eval mode
    img = proxy(params, res)                     # params: {name: Tensor(B,)} natural units
    img.shape == (B, 1, res, res)                # in [0, 1], tileable, differentiable w.r.t.
                                                 # every parameter tensor (discrete ones too)
    available_proxies()                          # generators with usable shipped weights

A missing or stale weights file raises :class:`ProxyUnavailable` (a :class:`ProxyMismatch` when
the file belongs to another generator or an older spec), whose message says how to train it.

Conventions: parameters arrive unrounded and unclamped (the optimiser moves them freely); they
are normalised with the generator's spec (``(v - low) / (high - low)``) and fed to the network
as they are, so a discrete parameter between two whole values blends the two patterns and has
a gradient towards its neighbours. The network draws at its own resolution
(``proxy.resolution``, e.g. 64) and the result is resized to ``res`` with a wrap-around cubic
kernel (:func:`.resample.wrap_resize`), so it tiles at any size.

Modules: :mod:`.network` (the StyleGAN2-like network), :mod:`.resample`, :mod:`.checkpoint`
(files), :mod:`.train` (``diffproxy proxy-train``), :mod:`.evaluate` (``diffproxy proxy-eval``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .checkpoint import (WEIGHTS_DIR, ProxyMismatch, ProxyUnavailable, check_metadata, load_network,
                         read_metadata, weights_path)
from .network import ProxyNetwork
from .resample import wrap_resize

__all__ = ["Proxy", "ProxyMismatch", "ProxyNetwork", "ProxyUnavailable", "available_proxies",
           "generator_names", "load_proxy", "param_levels", "resolve_generator"]

def generator_names() -> list[str]:
    """Names of the registered generators (read from the registry's entries: no generator
    module is imported, so a broken sibling does not hide the others)."""
    from ..generators import GENERATORS
    return list(GENERATORS.names)


def resolve_generator(name: str):
    """Generator by name; falls back to importing its module alone when the registry cannot be
    built (a sibling generator module missing or broken must not block this one)."""
    from ..generators import GENERATORS
    try:
        return GENERATORS[name]
    except KeyError:
        raise
    except Exception as registry_error:
        try:
            return GENERATORS.load_one(name)
        except ModuleNotFoundError:
            raise KeyError(f"unknown generator {name!r} (and the generator registry does not "
                           f"load: {registry_error})") from None


def param_levels(spec) -> list[int]:
    """Per parameter of ``spec``: 0 if continuous, else its number of discrete values."""
    return [p.n_values if p.discrete else 0 for p in spec]


def valid_levels(spec) -> dict[int, list[int]]:
    """Per discrete parameter whose prior gives some values weight 0 (brick ``rows``: even
    only), the level indices it can draw (:meth:`ParamEncoder.set_valid_levels`)."""
    out = {}
    for i, p in enumerate(spec):
        if p.discrete and p.weights is not None and any(w == 0 for w in p.weights):
            out[i] = [k for k, w in enumerate(p.weights) if w > 0]
    return out


class Proxy(nn.Module):
    """A trained proxy with the generator's call signature.

    Args:
        generator: the :class:`~diffproxy.generators.Generator` it imitates (spec, name).
        network: a :class:`ProxyNetwork` with one input per spec parameter.
        info: the weights file's metadata (training figures), kept for reports.
        kernel: resampling kernel to the requested resolution (``"cubic"`` or ``"linear"``).
    """

    def __init__(self, generator, network: ProxyNetwork, info: Mapping[str, Any] | None = None,
                 kernel: str = "cubic"):
        super().__init__()
        if network.num_params != len(generator.spec):
            raise ValueError(f"network has {network.num_params} inputs, generator {generator.name!r} "
                             f"has {len(generator.spec)} parameters")
        self.generator_name = generator.name
        self.spec = generator.spec
        self.spec_hash = generator.spec_hash()
        self.network = network
        self.info = dict(info or {})
        self.kernel = kernel

    @property
    def resolution(self) -> int:
        return self.network.resolution

    def forward(self, params: Mapping[str, torch.Tensor], res: int | None = None) -> torch.Tensor:
        """``params: {name: (B,)}`` natural units -> ``(B, 1, res, res)`` in [0, 1] (``res``
        defaults to the network's own resolution)."""
        missing = [n for n in self.spec.names if n not in params]
        if missing:
            raise KeyError(f"proxy {self.generator_name!r}: missing parameter(s) {missing}")
        device = self.network.synthesis.const.device
        u = self.spec.normalize({n: params[n].to(device, torch.float32) for n in self.spec.names})
        img = self.network(u)
        return wrap_resize(img, int(res) if res is not None else self.resolution, self.kernel)


def load_proxy(generator_name: str, device: Any = "cpu", weights_dir: str | Path | None = None) -> Proxy:
    """The shipped proxy of ``generator_name`` on ``device``: frozen (no weight gradients),
    eval mode; gradients flow to the parameter tensors only.

    Raises:
        ProxyUnavailable: no weights file (message: how to train one).
        ProxyMismatch: the file belongs to another generator or an older spec of this one.
        KeyError: unknown generator name.
    """
    gen = resolve_generator(generator_name)
    net, meta = load_network(weights_path(gen.name, weights_dir), gen, device)
    net.freeze()  # no weight gradients, eval mode, scaled weights precomputed
    return Proxy(gen, net, info=meta)


def available_proxies(weights_dir: str | Path | None = None) -> list[str]:
    """Generators whose weights file exists and matches the generator's current spec hash."""
    names = []
    for name in generator_names():
        path = weights_path(name, weights_dir)
        if not path.is_file():
            continue
        try:
            check_metadata(read_metadata(path), resolve_generator(name), path)
        except (ProxyUnavailable, KeyError):
            continue
        names.append(name)
    return names
