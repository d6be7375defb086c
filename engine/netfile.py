"""Trained networks shipped as files: the graph classifier's and the parameter estimator's.

One safetensors file per network: the weights in half precision (integer buffers such as batch
counts kept), and header metadata: ``format`` (what the file is, with a version) and any
number of JSON-encoded fields (``config``: the network's construction arguments, ``training``:
the run's record, ...). Written atomically; a file that is missing, of another format or
unreadable raises the caller's "unavailable" error with a message that says what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def save_net(path: str | os.PathLike, net: torch.nn.Module, fmt: str, **fields: Any) -> Path:
    """Write ``net``'s state (fp16) with ``format=fmt`` and ``fields`` (JSON-encoded) in the
    header, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    half = lambda v: v.half() if v.is_floating_point() else v  # noqa: E731 (batch counts stay ints)
    tensors = {k: half(v.detach().cpu()).contiguous() for k, v in net.state_dict().items()}
    meta = {"format": fmt, **{k: json.dumps(v, sort_keys=True) for k, v in fields.items()}}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; a weights file is for everyone who runs the tool
    os.replace(tmp, path)
    return path


def load_net(path: Path, fmt: str, build: Callable[[dict[str, Any]], torch.nn.Module],
             unavailable: type[Exception], what: str, hint: str,
             device: Any = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network in ``path`` (built by ``build(metadata)``, weights as float32) in eval mode on
    ``device``, and its header metadata with every field but ``format`` JSON-decoded. Raises
    ``unavailable("... {what} ...; {hint}")`` when the file is missing, not of format ``fmt``
    or unreadable."""
    if not path.is_file():
        raise unavailable(f"no {what} at {path}; {hint}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        if meta.get("format") != fmt:
            raise unavailable(f"{path} is not a {what} file (format {meta.get('format')!r}, expected "
                              f"{fmt!r}); {hint}")
        meta.update({k: json.loads(v) for k, v in meta.items() if k != "format"})
        net = build(meta)
        state = load_file(str(path))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except unavailable:
        raise
    except Exception as e:  # truncated file, other network shape
        raise unavailable(f"{what} {path} cannot be read ({e}); {hint}") from e
    return net.to(device).eval(), meta
