"""Whole runs timed per preset and device: wall time, time per stage, steps per second, peak
memory (``diffproxy bench-gpu``; issue 29, "the engine on a CUDA GPU").

Every measurement runs in a **fresh child process** (``python -m diffproxy.optimize.bench_device
JSON``), so its peak memory is its own and one run's caches (descriptor, proxies, pattern cache,
CUDA context) do not flatter the next: peak memory is ``torch.cuda.max_memory_allocated`` (and
``..._reserved``, what the caching allocator held) on a GPU, the largest resident set of the
child or of its worker processes (``ru_maxrss``) on a CPU. The wall time is the pipeline's own
(:func:`~diffproxy.optimize.pipeline.proceduralize`, photo loading included, interpreter start
and imports not), on a GPU after ``torch.cuda.synchronize``.

Targets: a photo (the project's own by default) and ``synthetic`` renders of prior samples, the
same targets as ``diffproxy bench --synthetic`` (graph ``i % 17``, seeded by ``seed`` and ``i``),
fitted with ``--graph auto`` like a photo, so the ranking and every candidate graph are timed.

Steps per second are counted per descent stage of the kept graph's run (Adam steps:
``stage1``, ``stage2``, ``stage3`` with its polish, ``detail``) over that stage's seconds; the
searches report renders evaluated (``search``, ``scan``, ``local``, ``seeds``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

DEFAULT_PHOTO = Path(__file__).resolve().parents[1] / "assets" / "default_photo.png"
DESCENT = ("stage1", "stage2", "stage3", "detail")  # stages whose info counts Adam ``steps``
SEARCHES = {"search": "samples", "scan": "evaluations", "local": "evaluations", "seeds": "evaluations"}
CHILD_TIMEOUT = 3600.0  # s: one run of the slowest preset on a slow CPU is well under it


def target_label(target: dict[str, Any]) -> str:
    """``default_photo.png`` or ``synthetic 3``."""
    return Path(target["photo"]).name if "photo" in target else f"synthetic {target['synthetic']}"


def _target_image(target: dict[str, Any], device):
    """The photo's path, or the synthetic target's ``(1, 3, H, W)`` render."""
    if "photo" in target:
        return target["photo"]
    from .bench_synthetic import indexed_target

    _, _, img, _ = indexed_target(int(target["synthetic"]), int(target.get("seed", 0)), device)
    return img.cpu()


def rates(losses: dict[str, Any], timings: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{stage: {"seconds", "steps" | "evaluations", "per_s"}}`` of the kept run (see the module
    docstring); stages the preset leaves out are absent."""
    out: dict[str, dict[str, float]] = {}
    for stage in (*DESCENT, *SEARCHES):
        info, sec = losses.get(stage), timings.get(stage)
        if not isinstance(info, dict) or not sec:
            continue
        key = "steps" if stage in DESCENT else SEARCHES[stage]
        n = info.get(key)
        if isinstance(n, (int, float)) and n > 0:
            out[stage] = {"seconds": round(float(sec), 3), key: int(n), "per_s": round(float(n) / float(sec), 1)}
    return out


def measure_here(target: dict[str, Any], preset: str, device: str, seed: int = 0,
                 workers: int = 0, threads: int = 0, batch: str = "auto") -> dict[str, Any]:
    """One run in this process (the child's side): the row :func:`measure` returns."""
    import torch

    from ..device import pick_device
    from .options import Options
    from .pipeline import proceduralize

    dev = pick_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    image = _target_image(target, dev)
    o = Options(preset=preset, device=device, seed=seed, workers=workers, threads=threads, batch=batch)
    t0 = time.perf_counter()
    result = proceduralize(image, o)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - t0
    row: dict[str, Any] = {
        "target": target_label(target), "preset": preset, "device": str(dev), "batch": batch,
        "graph": result.graph,
        "style": round(float(result.losses["final"]["style"]), 5), "wall_s": round(wall, 2),
        "timings": {k: round(float(v), 3) for k, v in result.timings.items()},
        "rates": rates(result.losses, result.timings),
    }
    if result.batches:  # the restarts ran in one process, their descents batched (optimize.batching)
        row["descents"] = {"descents": sum(result.batches), "batches": len(result.batches)}
    if dev.type == "cuda":
        row["peak_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2 ** 20, 1)
        row["peak_reserved_mb"] = round(torch.cuda.max_memory_reserved(dev) / 2 ** 20, 1)
        row["peak_kind"] = "cuda allocated"
        row["gpu"] = torch.cuda.get_device_name(dev)
    else:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        row["peak_mb"] = round(max(own, kids) * scale / 2 ** 20, 1)
        row["peak_kind"] = "RSS, largest process"
    return row


def measure(target: dict[str, Any], preset: str, device: str, seed: int = 0, workers: int = 0,
            threads: int = 0, timeout: float = CHILD_TIMEOUT, batch: str = "auto") -> dict[str, Any]:
    """One run in a fresh child process (see the module docstring); raises ``RuntimeError``
    with the child's last lines when it fails."""
    job = json.dumps({"target": target, "preset": preset, "device": device, "seed": seed,
                      "workers": workers, "threads": threads, "batch": batch})
    proc = subprocess.run([sys.executable, "-m", "diffproxy.optimize.bench_device", job], capture_output=True,
                          text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"{preset} on {device} ({target_label(target)}) failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def ratios(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per preset and target measured on a CPU and on another device: the CPU's wall time over
    the other's."""
    by = {(r["preset"], r["target"], r["device"].split(":")[0]): r for r in rows}
    out = []
    for (preset, target, dev), r in by.items():
        cpu = by.get((preset, target, "cpu"))
        if dev != "cpu" and cpu is not None:
            out.append({"preset": preset, "target": target, "device": dev,
                        "cpu_over_device": round(cpu["wall_s"] / max(r["wall_s"], 1e-9), 2)})
    return out


def _batch(row: dict[str, Any]) -> str:
    """The row's ``batch`` mode, and how its descents ran where they were batched:
    ``auto (40 in 10)`` (40 descents in 10 batches)."""
    d = row.get("descents")
    return row.get("batch", "auto") + (f" ({d['descents']} in {d['batches']})" if d else "")


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One line per run: wall, ranking, the kept graph's stages (seconds, steps/s), peak memory."""
    head = ["device", "preset", "batch", "target", "graph", "style", "wall s", "rank s", "stage1", "stage2", "stage3",
            "detail", "searches s", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t, rt = r["timings"], r["rates"]

        def stage(s: str) -> str:
            if s not in rt:
                return "-"
            return f"{rt[s]['seconds']:.1f} s ({rt[s]['per_s']:.0f}/s)"

        searches = sum(rt[s]["seconds"] for s in SEARCHES if s in rt)
        lines.append("| " + " | ".join([
            r["device"], r["preset"], _batch(r), r["target"], r["graph"], f"{r['style']:.4f}", f"{r['wall_s']:.1f}",
            f"{t.get('rank', 0.0):.1f}", *(stage(s) for s in DESCENT), f"{searches:.1f}",
            f"{r['peak_mb']:.0f} ({r['peak_kind']})"]) + " |")
    rs = ratios(rows)
    if rs:
        lines += ["", "| preset | target | CPU wall / " + rs[0]["device"] + " wall |", "|---|---|---|"]
        lines += [f"| {x['preset']} | {x['target']} | {x['cpu_over_device']:.1f}x |" for x in rs]
    return "\n".join(lines)


def _child(argv: Sequence[str]) -> int:
    job = json.loads(argv[0])
    row = measure_here(job["target"], job["preset"], job["device"], job.get("seed", 0), job.get("workers", 0),
                       job.get("threads", 0), job.get("batch", "auto"))
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    from ..device import keep_freed_memory

    keep_freed_memory()  # as the command line and the server run
    raise SystemExit(_child(sys.argv[1:]))
