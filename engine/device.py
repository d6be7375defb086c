"""Run-time device choice: cuda > mps > cpu, never assumed."""

from __future__ import annotations

import os

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


def is_out_of_memory(exc: BaseException) -> bool:
    """A host ``MemoryError`` or a device allocator's failure (``torch.OutOfMemoryError`` and
    the older "CUDA out of memory" ``RuntimeError``s): the run was too large, not broken."""
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def auto_threads(device: torch.device) -> int:
    """CPU threads for engine work: half the cores, at most 4 (0 on GPU: leave torch alone).

    Why: the engine shares the machine with Blender's UI; on 2 shared cores 1 thread measured up
    to 8x faster than 2 (docs/BENCHMARKS.md).
    """
    if device.type != "cpu":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def render_batch(device: torch.device) -> int:
    """Renders per batch in the searches and the graph ranking (no gradient): 8 on a CPU, where
    a batch's maps stay near the cache and larger batches gained nothing; 32 elsewhere, where
    a batch of 8 small renders leaves a GPU waiting on kernel launches (32 renders of 256 px
    maps and their descriptor activations: ~1 GB). A row's result does not depend on its batch."""
    return 8 if device.type == "cpu" else 32


def keep_freed_memory() -> bool:
    """Process-wide: serve large allocations from glibc's heap and keep freed memory for reuse
    (``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = max``).

    Why: every full-resolution temporary otherwise is a fresh mmap whose pages the kernel must
    zero-fill on first touch; at 4096 px that page-fault work dominated a graph's time (bricks:
    14.6 s -> 2.0 s under load, see docs/BENCHMARKS.md). Memory stays at the process's peak
    (reused, not growing). Called by the command line and the subprocess server only, never on
    import. Returns False where glibc's ``mallopt`` is not available (macOS, Windows, musl).
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))
    except (OSError, AttributeError):
        return False
