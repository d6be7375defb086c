"""``diffproxy bench-gpu`` (diffproxy.optimize.bench_device): whole runs timed per preset and
device, each in a fresh process; on this CPU-only suite the CPU path runs for real and a missing
GPU is refused before any work."""

from __future__ import annotations

import json

import pytest
import torch

from diffproxy.cli import main
from diffproxy.optimize.bench_device import markdown, measure, rates, ratios


def test_rates_count_steps_and_renders_per_second_of_the_stages_that_ran():
    losses = {"stage1": {"steps": 60}, "search": {"samples": 128}, "stage2": {"steps": 75},
              "local": {"evaluations": 92}, "exchange": {"ran": False}, "detail": {"steps": 100}}
    timings = {"stage1": 2.0, "search": 4.0, "stage2": 3.0, "local": 0.0, "exchange": 0.1, "detail": 10.0}
    r = rates(losses, timings)
    assert r["stage1"] == {"seconds": 2.0, "steps": 60, "per_s": 30.0}
    assert r["search"]["samples"] == 128 and r["search"]["per_s"] == 32.0
    assert r["detail"]["per_s"] == 10.0
    assert "local" not in r and "exchange" not in r and "stage3" not in r  # no time, no count, not run


def test_ratio_is_cpu_wall_over_the_other_devices():
    rows = [{"preset": "fast", "target": "a", "device": "cuda:0", "wall_s": 2.0},
            {"preset": "fast", "target": "a", "device": "cpu", "wall_s": 30.0},
            {"preset": "full", "target": "a", "device": "cuda:0", "wall_s": 10.0}]  # no CPU run: no ratio
    assert ratios(rows) == [{"preset": "fast", "target": "a", "device": "cuda", "cpu_over_device": 15.0}]


def test_a_real_run_in_a_child_process(tmp_path):
    # the fast preset on a synthetic target, as the command runs it: a fresh process, the
    # pipeline's own timings, a peak memory that is the child's
    row = measure({"synthetic": 0, "seed": 0}, "fast", "cpu")
    assert row["device"] == "cpu" and row["preset"] == "fast" and row["target"] == "synthetic 0"
    assert 0 < row["timings"]["total"] <= row["wall_s"] + 1.0
    assert row["rates"]["stage1"]["steps"] > 0 and row["rates"]["stage1"]["per_s"] > 0
    assert 100 < row["peak_mb"] < 24_000, row["peak_mb"]  # torch alone is over 100 MB
    assert 0 <= row["style"] < 1
    table = markdown([row])
    assert "synthetic 0" in table and row["graph"] in table


def test_the_table_says_how_the_descents_were_batched():
    row = {"device": "cuda:0", "preset": "full", "batch": "auto", "target": "t", "graph": "bricks",
           "style": 0.02, "wall_s": 9.0, "timings": {"rank": 1.0}, "rates": {}, "peak_mb": 900.0,
           "peak_kind": "cuda allocated", "descents": {"descents": 40, "batches": 10}}
    assert "| full | auto (40 in 10) | t |" in markdown([row])
    assert "| full | off | t |" in markdown([{**row, "batch": "off", "descents": None}])


def test_child_failure_is_reported_with_its_reason():
    with pytest.raises(RuntimeError, match="failed"):
        measure({"photo": "/nonexistent/photo.png"}, "fast", "cpu")


@pytest.mark.parametrize("argv, needle", [
    (["--devices", "tpu"], "unknown device"),
    (["--presets", "turbo"], "unknown preset"),
    (["--no-photo", "--synthetic", "0"], "nothing to time"),
    (["--synthetic", "-1"], "--synthetic"),
    (["--photo", "/nonexistent.png"], "photo not found"),
])
def test_usage_errors_exit_2(argv, needle, capsys):
    base = ["bench-gpu", "--devices", "cpu"]
    assert main(base + argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")
def test_a_missing_gpu_is_refused_before_any_work(capsys):
    assert main(["bench-gpu", "--devices", "cuda,cpu", "--presets", "fast", "--synthetic", "0"]) == 2
    assert "CUDA" in capsys.readouterr().err
