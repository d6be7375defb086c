"""Map synthesis benchmark: wall time of ``graph.maps`` (and optionally the render) per resolution.

Protocol: batch 1, default parameters, ``torch.no_grad()``, one warm-up call, then ``runs`` timed
calls; the median and the minimum are reported (the minimum is the least disturbed by other
processes, the median what a user waits). On CUDA the clock waits for the GPU
(``torch.cuda.synchronize``). Machine details go with the table so figures stay comparable.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from typing import Any, Callable, Sequence

import torch

from .render import render


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_call(fn: Callable[[], Any], runs: int, device: torch.device) -> tuple[float, float]:
    """One warm-up, then ``runs`` timed calls -> (median s, min s)."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    fn()
    _sync(device)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def bench_graph(graph, res: int, runs: int = 5, device: torch.device | str = "cpu",
                with_render: bool = False) -> dict[str, Any]:
    """Time ``graph.maps`` (default parameters, batch 1) at ``res``; optionally ``render`` too."""
    device = torch.device(device)
    params = graph.spec.defaults(1, device=device)
    with torch.no_grad():
        med, low = time_call(lambda: graph.maps(params, res), runs, device)
        row = {"graph": graph.name, "res": res, "runs": runs, "maps_median_s": med, "maps_min_s": low}
        if with_render:
            maps = graph.maps(params, res)
            rmed, rlow = time_call(lambda: render(maps), runs, device)
            row.update(render_median_s=rmed, render_min_s=rlow)
    return row


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    device = torch.device(device)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["load_average"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        pass
    return info


def markdown(rows: Sequence[dict[str, Any]], info: dict[str, Any]) -> str:
    """Table + machine line, ready for docs/BENCHMARKS.md."""
    with_render = any("render_median_s" in r for r in rows)
    head = ["graph", "resolution", "maps median (s)", "maps min (s)"]
    if with_render:
        head += ["render median (s)", "render min (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["graph"], f"{r['res']}", f"{r['maps_median_s']:.3f}", f"{r['maps_min_s']:.3f}"]
        if with_render:
            cells += [f"{r.get('render_median_s', float('nan')):.3f}", f"{r.get('render_min_s', float('nan')):.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    machine = ", ".join(f"{k}: {v}" for k, v in info.items())
    runs = rows[0]["runs"] if rows else 0
    return (f"Machine: {machine}.\n\nBatch 1, default parameters, no_grad, 1 warm-up + {runs} runs.\n\n"
            + "\n".join(lines) + "\n")


def text_table(rows: Sequence[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        s = f"{r['graph']:<16} {r['res']:>6}px  maps median {r['maps_median_s']:.3f}s  min {r['maps_min_s']:.3f}s"
        if "render_median_s" in r:
            s += f"  render median {r['render_median_s']:.3f}s  min {r['render_min_s']:.3f}s"
        out.append(s)
    return "\n".join(out)
