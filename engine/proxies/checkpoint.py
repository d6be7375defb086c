"""Proxy files: shipped fp16 weights (safetensors) and resumable training checkpoints.

* **Weights** (``engine/weights/<generator>.safetensors``): the network's state dict in half
  precision, no pickle. The safetensors header metadata (all strings) carries
  ``format`` (:data:`FORMAT`), ``generator`` (name), ``spec_hash`` (``Generator.spec_hash()``:
  spec + code version), ``config`` (JSON of the network's construction arguments) and
  ``training`` (JSON: device, steps, samples, time, losses...). A file whose generator name or
  spec hash differs from the running generator is refused (:class:`ProxyMismatch`): its
  network imitates a pattern the code no longer draws.
* **Training checkpoints** (``<run dir>/checkpoint.pt``): full precision, optimiser and critic
  state, counters and RNG state, written with ``torch.save`` and read back with
  ``weights_only=True`` (plain containers of tensors and numbers only: no code runs on load).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .network import ProxyNetwork

FORMAT = "diffproxy-proxy/1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class ProxyUnavailable(RuntimeError):
    """No usable proxy for a generator (message names it and says how to train one)."""


class ProxyMismatch(ProxyUnavailable):
    """A proxy file exists but belongs to another generator or another version of its spec."""


def train_hint(name: str) -> str:
    return f"train it with `diffproxy proxy-train --generator {name}`"


def weights_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Where the shipped weights of generator ``name`` live."""
    return Path(weights_dir or WEIGHTS_DIR) / f"{name}.safetensors"


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Header metadata of a weights file, JSON fields decoded (reads the header only)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as e:  # truncated file, not a safetensors file
        raise ProxyUnavailable(f"proxy weights {path} cannot be read ({e}); delete the file and "
                               f"retrain or reinstall it") from e
    if meta.get("format") != FORMAT:
        raise ProxyUnavailable(f"{path} is not a DiffProxy proxy file (format {meta.get('format')!r}, "
                               f"expected {FORMAT!r})")
    for key in ("config", "training"):
        meta[key] = json.loads(meta.get(key, "{}"))
    return meta


def check_metadata(meta: dict[str, Any], generator, path: str | os.PathLike) -> None:
    """Raise :class:`ProxyMismatch` unless ``meta`` belongs to ``generator`` as it is now."""
    if meta.get("generator") != generator.name:
        raise ProxyMismatch(f"{path} holds a proxy of generator {meta.get('generator')!r}, not "
                            f"{generator.name!r}; {train_hint(generator.name)}")
    if meta.get("spec_hash") != generator.spec_hash():
        raise ProxyMismatch(
            f"{path} was trained for {generator.name!r} with spec hash {meta.get('spec_hash')!r}, but "
            f"the generator's spec/code is now {generator.spec_hash()!r} (its parameters or "
            f"version changed); the old proxy would imitate a different pattern: "
            f"{train_hint(generator.name)}")


def save_weights(path: str | os.PathLike, network: ProxyNetwork, generator,
                 training: dict[str, Any] | None = None) -> Path:
    """Write ``network`` as fp16 safetensors with the metadata described in the module doc."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in network.state_dict().items()}
    meta = {"format": FORMAT, "generator": generator.name, "spec_hash": generator.spec_hash(),
            "config": json.dumps(network.config, sort_keys=True),
            "training": json.dumps(training or {}, sort_keys=True)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)  # never leave a half-written file under the real name
    return path


def load_network(path: str | os.PathLike, generator, device: Any = "cpu") -> tuple[ProxyNetwork, dict]:
    """Rebuild the network stored at ``path`` (float32 on ``device``) after checking it belongs
    to ``generator``; returns ``(network, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise ProxyUnavailable(f"no proxy weights for generator {generator.name!r} (looked for "
                               f"{path}); {train_hint(generator.name)}")
    meta = read_metadata(path)
    check_metadata(meta, generator, path)
    levels = meta["config"].get("levels", [])
    if len(levels) != len(generator.spec):
        raise ProxyMismatch(f"{path}: network has {len(levels)} inputs but {generator.name!r} has "
                            f"{len(generator.spec)} parameters; {train_hint(generator.name)}")
    net = ProxyNetwork(**meta["config"])
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    net.load_state_dict(state)
    from . import valid_levels  # the package imports this module

    net.encoder.set_valid_levels(valid_levels(generator.spec))
    return net.to(device), meta


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (``state`` must hold tensors/containers/numbers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, generator=None) -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True``; with ``generator``, refuse one that
    belongs to another generator or spec."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if generator is not None:
        check_metadata({"generator": state.get("generator"), "spec_hash": state.get("spec_hash")},
                       generator, path)
    return state
