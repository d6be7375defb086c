"""Run-time device choice: cuda > mps > cpu, never assumed."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``"auto" | "cpu" | "cuda" | "mps"`` -> a device that exists, or a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but this torch build sees no CUDA GPU; "
                           "use --device auto or cpu, or install a CUDA build of torch")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("--device mps was asked for but MPS is not available; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)
