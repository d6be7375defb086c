"""`diffproxy` command line: in-process main([...]) calls, plus one console-script subprocess.

Most tests run against a tiny graph defined here (plain torch ops) patched into the registry, so
the CLI is tested whether or not the real graph library imports; the tests marked `real_graphs`
run every command path against the real registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import diffproxy.graphs as graphs_mod
from diffproxy import __version__, io
from diffproxy.cli import main
from diffproxy.graphs import MaterialGraph
from diffproxy.params import choice_param, float_param, int_param


class TinyGraph(MaterialGraph):
    """Stripes whose count, colour and roughness are parameters (no generator slots)."""

    name = "tiny"
    description = "test stripes"
    slots = {}
    filter_params = (
        int_param("count", 4, 1, 16, prior=(6, 3), group="Pattern", description="stripes"),
        float_param("hue", 0.3, 0.0, 1.0, prior=(0.5, 0.2), group="Color"),
        float_param("rough", 0.5, 0.0, 1.0, group="Surface"),
        choice_param("finish", "matte", ("matte", "metal"), group="Surface"),
    )

    def compose(self, p, patterns, res):
        b = p["count"].shape[0]
        dev = p["count"].device
        u = (torch.arange(res, device=dev, dtype=torch.float32) + 0.5) / res
        h = 0.5 + 0.5 * torch.sin(2 * torch.pi * p["count"].round().view(b, 1, 1, 1) * u.view(1, 1, 1, res))
        h = h.expand(b, 1, res, res)
        hue = p["hue"].view(b, 1, 1, 1)
        base = torch.cat([h * hue, h * (1 - hue), 0.5 * torch.ones_like(h)], 1)
        dx = torch.roll(h, -1, 3) - torch.roll(h, 1, 3)
        n = torch.cat([-dx, torch.zeros_like(dx), torch.ones_like(dx)], 1)
        n = n / n.norm(dim=1, keepdim=True)
        return {"basecolor": base, "normal": n * 0.5 + 0.5,
                "roughness": p["rough"].view(b, 1, 1, 1).expand(b, 1, res, res),
                "metallic": p["finish"].view(b, 1, 1, 1).expand(b, 1, res, res), "height": h}


@pytest.fixture
def tiny(monkeypatch):
    g = TinyGraph()
    monkeypatch.setattr(graphs_mod.GRAPHS, "_items", {"tiny": g})
    return g


def err_of(capsys):
    return capsys.readouterr().err


# --- parser and registry --------------------------------------------------------------------
def test_help_lists_every_registered_command(capsys):
    from diffproxy.commands import COMMANDS

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, _ in COMMANDS:
        assert name in out
    assert main([]) == 2


def test_proxy_train_help_names_every_registered_generator(capsys):
    from diffproxy.generators import GENERATORS

    assert main(["proxy-train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    for name in GENERATORS.names:
        assert name in out, name


def test_every_command_module_is_registered_under_its_name():
    import importlib
    from pathlib import Path

    import diffproxy.commands as commands

    names = [n for n, _ in commands.COMMANDS]
    assert len(names) == len(set(names)), f"COMMANDS lists a command twice: {names}"
    registered = dict((m, n) for n, m in commands.COMMANDS)
    modules = sorted(p.stem for p in Path(commands.__file__).parent.glob("*_cmd.py"))
    assert sorted(registered) == modules, "a *_cmd.py module is missing from COMMANDS (or vice versa)"
    for module, name in registered.items():
        assert importlib.import_module(f"diffproxy.commands.{module}").NAME == name


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_broken_command_module_is_reported_not_fatal(monkeypatch, capsys):
    import diffproxy.commands as commands

    monkeypatch.setattr(commands, "COMMANDS", commands.COMMANDS + [("ghost", "no_such_module_cmd")])
    import diffproxy.cli as cli

    monkeypatch.setattr(cli, "COMMANDS", commands.COMMANDS)
    assert main(["ghost"]) == 1
    assert "command 'ghost' is unavailable" in err_of(capsys)


def test_command_whose_arguments_fail_is_reported_not_fatal(monkeypatch, capsys):
    """A command module that imports but cannot build its arguments (a dependency missing,
    as torch for ``render``) is reported as unavailable; the other commands still work."""
    import sys
    import types

    import diffproxy.cli as cli
    import diffproxy.commands as commands

    mod = types.ModuleType("diffproxy.commands.half_broken_cmd")

    def add_arguments(p):
        p.add_argument("--res", type=int)
        raise ModuleNotFoundError("No module named 'torch'")

    mod.add_arguments, mod.run = add_arguments, lambda args: 0
    monkeypatch.setitem(sys.modules, "diffproxy.commands.half_broken_cmd", mod)
    monkeypatch.setattr(cli, "COMMANDS", commands.COMMANDS + [("halfbroken", "half_broken_cmd")])
    assert main(["halfbroken"]) == 1
    err = err_of(capsys)
    assert "command 'halfbroken' is unavailable" in err and "No module named 'torch'" in err
    assert main(["--version"]) == 0


# --- graphs ---------------------------------------------------------------------------------
def test_graphs_table_and_json(tiny, capsys):
    assert main(["graphs"]) == 0
    out = capsys.readouterr().out
    assert "tiny: test stripes" in out
    for cell in ("count", "int", "1..16", "matte|metal", "Surface", "filter", tiny.spec.hash()):
        assert cell in out
    assert main(["graphs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["name"] == "tiny" and [p["name"] for p in data[0]["params"]] == tiny.spec.names


def test_graph_library_failure_is_a_clear_error(monkeypatch, capsys):
    def broken():
        raise ModuleNotFoundError("No module named 'diffproxy.graphs.nope'")

    monkeypatch.setattr(graphs_mod.GRAPHS, "_items", None)
    monkeypatch.setattr(graphs_mod.GRAPHS, "_build", broken)
    assert main(["graphs"]) == 1
    err = err_of(capsys)
    assert "graph library failed to load" in err and "Traceback" not in err


# --- render ---------------------------------------------------------------------------------
def test_render_writes_maps_render_and_params(tiny, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["render", "--graph", "tiny", "--seed", "3", "--res", "32", "--out", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["basecolor.png", "normal.png", "roughness.png", "metallic.png", "height.png", "render.png", "params.json"])
    rec = json.loads((out / "params.json").read_text())
    assert rec["graph"] == "tiny" and rec["resolution"] == 32 and rec["engine_version"] == __version__
    assert rec["spec_hash"] == tiny.spec.hash()
    assert set(rec["timings"]) == {"generators", "filters", "render", "writing"}
    expect = tiny.spec.sample(1, generator=torch.Generator().manual_seed(3))
    assert rec["params"] == tiny.spec.to_json(expect)
    maps = tiny.maps(expect, 32)
    assert torch.equal(torch.round(io.read_png(out / "height.png") * 65535), torch.round(maps["height"][0] * 65535))
    assert io.read_png(out / "render.png").shape == (3, 32, 32)
    assert "wrote 7 files" in capsys.readouterr().out


def test_render_params_file_round_trip_and_plain_dict(tiny, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["render", "--graph", "tiny", "--seed", "5", "--res", "16", "--out", str(a)]) == 0
    # the written params.json (wrapped form, names its graph) reproduces the maps without --graph
    assert main(["render", "--params", str(a / "params.json"), "--res", "16", "--out", str(b)]) == 0
    for name in ("basecolor.png", "normal.png", "height.png", "render.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"count": 2, "finish": "metal"}))
    assert main(["render", "--graph", "tiny", "--params", str(plain), "--res", "16", "--out", str(c)]) == 0
    rec = json.loads((c / "params.json").read_text())
    assert rec["params"]["count"] == 2 and rec["params"]["finish"] == "metal" and rec["params"]["rough"] == 0.5
    assert float(io.read_png(c / "metallic.png").mean()) == 1.0


def test_render_takes_a_graph_fitted_beside_the_kept_one(tiny, tmp_path, capsys):
    """A proceduralize params.json lists the graphs it fitted and did not keep, with their
    parameters: ``render --params params.json --graph G`` makes G's maps without a new fit."""
    other = tiny.spec.to_json(tiny.spec.sample(1, generator=torch.Generator().manual_seed(9)))
    fitted = tmp_path / "params.json"
    fitted.write_text(json.dumps({"graph": "bricks", "params": {"courses": 8}, "other_graphs": [
        "junk", {"graph": "paving"}, {"graph": "tiny", "final": {"style": 0.05}, "params": other}]}))
    out = tmp_path / "o"
    assert main(["render", "--params", str(fitted), "--graph", "tiny", "--res", "16", "--out", str(out)]) == 0
    rec = json.loads((out / "params.json").read_text())
    assert rec["graph"] == "tiny" and rec["params"] == other
    # a graph the file neither kept nor fitted beside it: a usage error that says so
    fitted.write_text(json.dumps({"graph": "bricks", "params": {"courses": 8}, "other_graphs": []}))
    assert main(["render", "--params", str(fitted), "--graph", "tiny", "--res", "16", "--out",
                 str(tmp_path / "q")]) == 2
    assert "nor a fit of it beside the kept one" in capsys.readouterr().err


def test_render_defaults_without_seed_or_params(tiny, tmp_path):
    assert main(["render", "--graph", "tiny", "--res", "16", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "params.json").read_text())
    assert rec["params"] == tiny.spec.to_json(tiny.spec.defaults())


def test_render_refuses_existing_outputs_unless_overwrite(tiny, tmp_path, capsys):
    args = ["render", "--graph", "tiny", "--res", "16", "--out", str(tmp_path)]
    assert main(args) == 0
    before = (tmp_path / "params.json").read_text()
    assert main(args[:-2] + ["--seed", "1", "--out", str(tmp_path)]) == 2
    err = err_of(capsys)
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (tmp_path / "params.json").read_text() == before
    assert main(args + ["--seed", "1", "--overwrite"]) == 0
    assert (tmp_path / "params.json").read_text() != before


@pytest.mark.parametrize("argv,needle", [
    (["--graph", "nope"], "unknown graph 'nope'; available: tiny"),
    (["--graph", "tiny", "--res", "8"], "resolution must be an integer in 16..16384"),
    (["--graph", "tiny", "--res", "20000"], "resolution must be an integer in 16..16384"),
    (["--graph", "tiny", "--res", "1.5k"], "resolution must be an integer"),
    (["--graph", "tiny", "--seed", "1", "--params", "x.json"], "not allowed with argument"),
    ([], "--graph is required"),
    (["--graph", "tiny", "--fov", "200"], "0 < --fov < 180"),
])
def test_render_usage_errors_exit_2_without_traceback(tiny, tmp_path, capsys, argv, needle):
    assert main(["render", "--out", str(tmp_path / "o")] + argv) == 2
    err = err_of(capsys)
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content,needle", [
    (None, "no such file"),
    ("{not json", "not valid parameter JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"count": 99, "hue": "red", "bogus": 1}', "outside [1, 16]"),
    ('{"graph": "other", "params": {}}', "holds parameters for graph 'other'"),
])
def test_render_bad_params_files(tiny, tmp_path, capsys, content, needle):
    f = tmp_path / "p.json"
    if content is not None:
        f.write_text(content)
    assert main(["render", "--graph", "tiny", "--params", str(f), "--res", "16", "--out", str(tmp_path / "o")]) == 2
    err = err_of(capsys)
    assert needle in err and str(f) in err and "Traceback" not in err
    if "outside" in needle:  # every problem is listed at once
        assert "hue" in err and "bogus" in err


def test_render_warns_on_spec_hash_mismatch(tiny, tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"graph": "tiny", "params": {"count": 3}, "spec_hash": "0123456789abcdef"}))
    assert main(["render", "--params", str(f), "--res", "16", "--out", str(tmp_path / "o")]) == 0
    assert "spec hash 0123456789abcdef" in err_of(capsys)


# --- contact sheet and bench ----------------------------------------------------------------
def test_contact_sheet(tiny, tmp_path, capsys):
    from PIL import Image

    from diffproxy.contact_sheet import COLUMNS, GAP, GROUP_GAP, HEADER_H, LABEL_W

    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", "--out", str(out), "--res", "24", "--seeds", "2", "--seed", "4"]) == 0
    with Image.open(out) as im:
        assert im.size == (LABEL_W + 2 * (6 * (24 + GAP) - GAP + GROUP_GAP), HEADER_H + 24 + GAP)
        sheet = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float() / 255
    # the render cell of seed 5 is the render of `diffproxy render --seed 5`
    assert main(["render", "--graph", "tiny", "--seed", "5", "--res", "24", "--out", str(tmp_path / "r")]) == 0
    x0 = LABEL_W + (6 * (24 + GAP) - GAP + GROUP_GAP) + COLUMNS.index("render") * (24 + GAP)
    cell = sheet[:, HEADER_H:HEADER_H + 24, x0:x0 + 24]
    assert (cell - io.read_png(tmp_path / "r" / "render.png")).abs().max() <= 1 / 255 + 1e-6
    assert main(["contact-sheet", "--out", str(out), "--res", "24"]) == 2
    assert "--overwrite" in err_of(capsys)
    assert main(["contact-sheet", "--out", str(out), "--res", "24", "--graphs", "nope"]) == 2


def test_contact_sheet_thumbnails_and_palette_fallback(tiny, tmp_path, capsys):
    from PIL import Image

    from diffproxy.contact_sheet import HEADER_H, LABEL_W

    out = tmp_path / "s.png"
    assert main(["contact-sheet", "--out", str(out), "--res", "32", "--thumb", "16", "--seeds", "1",
                 "--max-mb", "0.000001"]) == 0
    assert "256-colour palette" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.mode == "P" and im.size[1] == HEADER_H + 16 + 2 and im.size[0] > LABEL_W + 6 * 16
    # a budget that 96 px thumbnails miss but 72 px ones meet: thumbnails shrink, colours stay RGB
    from diffproxy.contact_sheet import collect, encode_within

    cells = collect({"tiny": tiny}, 96, [0])
    sizes = {t: len(encode_within(cells, [0], t)[0]) for t in (96, 88, 80, 72)}
    budget = sizes[72]
    assert min(sizes[96], sizes[88], sizes[80]) > budget  # the test's premise
    data, side, mode = encode_within(cells, [0], 96, max_bytes=budget)
    assert (side, mode) == (72, "rgb") and len(data) == budget
    assert main(["contact-sheet", "--out", str(out), "--res", "32", "--thumb", "64", "--overwrite"]) == 2
    assert "--thumb must be in 16..--res (32)" in err_of(capsys)


def test_bench_render_markdown(tiny, capsys):
    assert main(["bench-render", "--res", "16", "32", "--runs", "2", "--render", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| graph | resolution | maps median (s) |" in out
    assert out.count("| tiny |") == 2 and "torch: " + torch.__version__ in out and "cpu:" in out
    assert main(["bench-render", "--res", "16", "--runs", "0"]) == 2


# --- the console script ---------------------------------------------------------------------
def test_console_script_graphs_runs():
    exe = shutil.which("diffproxy")
    cmd = [exe, "graphs"] if exe else [sys.executable, "-m", "diffproxy", "graphs"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "parameter" in r.stdout and "role" in r.stdout
    for name in graphs_mod.GRAPHS.names:
        assert f"{name}: " in r.stdout


# --- the real graph registry ----------------------------------------------------------------
_LIBRARY_ERROR: list[str] = []


def _real_graph_names():
    try:
        return list(graphs_mod.GRAPHS)
    except ModuleNotFoundError as e:
        if (e.name or "").startswith("diffproxy."):
            # a colleague's module has not landed yet: skip, naming it
            return [pytest.param("<graph library>", marks=pytest.mark.skip(reason=f"graphs do not import yet: {e}"))]
        _LIBRARY_ERROR.append(f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - a broken library fails the test below, not the collection
        _LIBRARY_ERROR.append(f"{type(e).__name__}: {e}")
    return ["<graph library>"]


@pytest.mark.parametrize("name", _real_graph_names())
def test_render_every_real_graph_at_64px(name, tmp_path):
    if _LIBRARY_ERROR:
        pytest.fail(f"the real graph registry does not build: {_LIBRARY_ERROR[0]}")
    assert main(["render", "--graph", name, "--seed", "0", "--res", "64", "--out", str(tmp_path), "--device", "cpu"]) == 0
    for m, (chans, _) in io.MAP_FORMATS.items():
        img = io.read_png(tmp_path / f"{m}.png")
        assert img.shape == (chans, 64, 64), m
    rec = json.loads((tmp_path / "params.json").read_text())
    assert rec["graph"] == name
    r = io.read_png(tmp_path / "render.png")
    assert r.std() > 0.0 and 0.0 < r.mean() < 1.0  # not a blank frame


def test_proceduralize_log_skips_tag_only_steps(capsys):
    """The log prints messages, not the steps of side-by-side graphs (whose message is only
    their tag): a full run with four restarts printed ~390 such lines."""
    from diffproxy.commands.proceduralize_cmd import _Progress

    log = _Progress()
    log.bars = False  # as when stderr is a file
    for ev in [{"stage": "stage1", "step": 3, "total": 60, "loss": 0.2, "message": "[bricks #2]"},
               {"stage": "stage1", "step": 0, "total": 0, "loss": None, "message": "[bricks #2] skipped"},
               {"stage": "fit", "step": 0, "total": 0, "loss": None, "message": "[bricks]"},
               {"stage": "stage2", "step": 1, "total": 9, "loss": None, "message": "[a] [b]"}]:
        log(ev)
    assert capsys.readouterr().err.splitlines() == ["[stage1] [bricks #2] skipped", "[fit] [bricks]",
                                                    "[stage2] [a] [b]"]


# --- outputs that cannot be written: refused before the work --------------------------------
PHOTO = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "engine" / "assets" / "default_photo.png")


def _no_work(monkeypatch, tiny=None):
    """Make the long part of every command fail loudly, so a run that gets there (instead of
    refusing its output first) exits 1 with a traceback, not 2 with the message."""
    import diffproxy.estimator.train as estimator_train
    import diffproxy.optimize as optimize
    import diffproxy.optimize.bench as bench
    import diffproxy.proxies.evaluate as proxy_evaluate
    import diffproxy.proxies.train as proxy_train

    def started(*a, **k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(optimize, "proceduralize", started)
    monkeypatch.setattr(bench, "run_synthetic", started)
    monkeypatch.setattr(estimator_train, "train_estimator", started)
    monkeypatch.setattr(proxy_train, "train", started)
    monkeypatch.setattr(proxy_evaluate, "evaluate", started)
    if tiny is not None:
        monkeypatch.setattr(tiny, "compose", started)


def _blocked_paths(tmp_path):
    """(case, folder path that cannot be written, words the message must hold) that block
    writing even for root: a file in the way, a file as a parent; plus a read-only folder when
    not root, and a sysfs folder where even root cannot create files, when there is one."""
    import os

    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    cases = [("file", a_file, f"{a_file} is a file, not a folder"),
             ("under-file", a_file / "sub" / "out", f"{a_file} is a file, not a folder")]
    if os.geteuid() != 0:  # root writes into a 0o555 folder
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        cases.append(("read-only", ro / "out", "permission denied"))
    probe = __import__("pathlib").Path("/sys/kernel")
    if probe.is_dir():
        try:
            (probe / "diffproxy-probe").mkdir()
            (probe / "diffproxy-probe").rmdir()
        except OSError:
            cases.append(("sysfs", probe / "diffproxy-out", "cannot create"))
    return cases


def test_render_refuses_an_unwritable_out_before_rendering(tiny, tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch, tiny)
    for case, out, needle in _blocked_paths(tmp_path):
        assert main(["render", "--graph", "tiny", "--res", "16", "--out", str(out)]) == 2, case
        err = err_of(capsys)
        assert needle in err and "choose a folder you can write to" in err and "Traceback" not in err, (case, err)
    assert (tmp_path / "a_file.txt").read_text() == "not a folder"


def test_render_probe_leaves_no_folder_behind(tiny, tmp_path, monkeypatch, capsys):
    """The check creates the missing folders to write its probe, and removes them: a run that
    fails after it (here: in the graph) leaves no empty folder."""
    _no_work(monkeypatch, tiny)
    out = tmp_path / "new" / "deeper"
    assert main(["render", "--graph", "tiny", "--res", "16", "--out", str(out)]) == 1  # the patched graph
    assert list(tmp_path.iterdir()) == []


def test_proceduralize_refuses_an_unwritable_out_before_the_fit(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    for case, out, needle in _blocked_paths(tmp_path):
        assert main(["proceduralize", PHOTO, "--out", str(out), "--device", "cpu"]) == 2, case
        err = err_of(capsys)
        assert needle in err and "--out" in err and "Traceback" not in err, (case, err)


@pytest.mark.parametrize("link", ["copy", "symlink"])
def test_proceduralize_refuses_an_out_holding_the_photo(tmp_path, monkeypatch, capsys, link):
    """A photo named like an output in --out (or linked there) would be replaced by a map: refused
    before the fit, even with --overwrite, and the photo is untouched."""
    _no_work(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    if link == "copy":
        photo = out / "basecolor.png"
        shutil.copy(PHOTO, photo)
    else:
        photo = tmp_path / "photo.png"
        shutil.copy(PHOTO, photo)
        (out / "basecolor.png").symlink_to(photo)
    before = photo.read_bytes()
    assert main(["proceduralize", str(photo), "--out", str(out), "--overwrite", "--device", "cpu"]) == 2
    err = err_of(capsys)
    assert f"the photo {photo} would be overwritten by the output basecolor.png; choose another --out folder" in err
    assert photo.read_bytes() == before


def test_contact_sheet_and_bench_refuse_unwritable_files_before_the_work(tiny, tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch, tiny)
    for case, folder, needle in _blocked_paths(tmp_path):
        sheet = folder / "sheet.png"
        assert main(["contact-sheet", "--out", str(sheet), "--res", "16", "--seeds", "1", "--overwrite"]) == 2, case
        err = err_of(capsys)
        assert needle in err and f"--out {sheet}" in err and "Traceback" not in err, (case, err)
        rows = folder / "bench.json"
        assert main(["bench", "--synthetic", "1", "--json", str(rows), "--device", "cpu"]) == 2, case
        err = err_of(capsys)
        assert needle in err and f"--json {rows}" in err and "Traceback" not in err, (case, err)
    assert main(["contact-sheet", "--out", str(tmp_path), "--res", "16", "--overwrite"]) == 2
    assert "is a folder; give the path of a file" in err_of(capsys)


def test_training_and_proxy_commands_refuse_unwritable_outputs_before_the_work(tiny, tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch, tiny)
    for case, folder, needle in _blocked_paths(tmp_path):
        weights = folder / "estimator.safetensors"
        assert main(["estimator-train", "--out", str(weights), "--samples", "1", "--val-samples", "1"]) == 2, case
        err = err_of(capsys)
        assert needle in err and "Traceback" not in err, (case, err)
        assert main(["proxy-train", "--generator", "brick", "--out", str(folder), "--steps", "1",
                     "--export", str(tmp_path / "w.safetensors")]) == 2, case
        err = err_of(capsys)
        assert needle in err and "Traceback" not in err, (case, err)
        assert main(["proxy-eval", "--generator", "brick", "--samples", "1",
                     "--sheet", str(folder / "sheet.png")]) == 2, case
        err = err_of(capsys)
        assert needle in err and "--sheet" in err and "Traceback" not in err, (case, err)


# --- parameter and bench JSON files: short messages, a BOM is fine ---------------------------
@pytest.mark.parametrize("text,needle", [
    ("[" * 100_000, "is not valid parameter JSON: nested too deeply"),
    ('{"count": 1' + "0" * 400 + "}", "count: about 10^400 is outside [1, 16]"),
    ('{"count": 1e400}', "count: expected a whole number in [1, 16], got inf (not a finite number)"),
    ('{"hue": NaN}', "hue: expected a number in [0, 1], got nan (not a finite number)"),
    ('{"count": 1' + "0" * 5000 + "}", "is not valid parameter JSON: a number with too many digits"),
    ('{"count": [' + "1.5, " * 2_000_000 + "1]}", "count: expected a whole number in [1, 16], got [1.5, 1.5, 1.5, 1.5, ...]"),
    ('{"graph": [' + "1, " * 2_000_000 + '1], "params": {}}', "\"graph\" must be a graph name, got [1, 1, 1, 1, ...]"),
], ids=["nested-100k", "1e400-int", "1e400-float", "nan", "5000-digits", "2M-array", "2M-graph"])
def test_render_hostile_params_files_give_short_messages(tiny, tmp_path, capsys, text, needle):
    f = tmp_path / "p.json"
    f.write_text(text)
    args = ["render", "--params", str(f), "--res", "16", "--out", str(tmp_path / "o")]
    assert main(args if "graph" in text else args + ["--graph", "tiny"]) == 2
    err = err_of(capsys)
    assert needle in err and str(f) in err and "Traceback" not in err, err[:500]
    assert len(err) < 400
    assert not (tmp_path / "o").exists()


def test_render_params_file_with_a_utf8_bom(tiny, tmp_path):
    f = tmp_path / "p.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"graph": "tiny", "params": {"count": 3}}).encode())
    assert main(["render", "--params", str(f), "--res", "16", "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "params.json").read_text())["params"]["count"] == 3


def test_bench_merge_of_hostile_files(tmp_path, capsys):
    deep, bom = tmp_path / "deep.json", tmp_path / "bom.json"
    deep.write_text("[" * 100_000)
    row = {"target": "t", "method": "match", "kind": "synthetic", "graph": "g", "feature": 1.0, "style": 1.0,
           "seconds": 1.0}
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"rows": [row]}).encode())
    assert main(["bench", "--merge", str(deep)]) == 2
    err = err_of(capsys)
    assert f"{deep} is not valid JSON: nested too deeply" in err and "Traceback" not in err
    assert main(["bench", "--merge", str(bom)]) == 0
    assert "match      n=1  mean feature 1.0000" in capsys.readouterr().out


@pytest.mark.parametrize("exc, where", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "the GPU"),
    (MemoryError(), "this machine"),
])
def test_out_of_memory_says_what_to_lower(monkeypatch, tmp_path, capsys, exc, where):
    import diffproxy.optimize as optimize

    def oom(*a, **k):
        raise exc

    monkeypatch.setattr(optimize, "proceduralize", oom)
    assert main(["proceduralize", PHOTO, "--out", str(tmp_path / "out"), "--res-out", "4096"]) == 2
    err = capsys.readouterr().err
    assert f"{where} ran out of memory while fitting the material" in err, err
    assert "--preset fast" in err and "--res-out 1024 (now 4096)" in err, err
    assert ("--device cpu" in err) == (where == "the GPU"), err
    assert "Traceback" not in err


def test_a_missing_proxy_weights_folder_is_refused_before_the_work(tmp_path, capsys):
    missing = tmp_path / "nonesuch"
    assert main(["proceduralize", PHOTO, "--out", str(tmp_path / "out"), "--proxy-weights", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "proxy_weights" in err and "is not a folder" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert main(["bench", "--synthetic", "1", "--proxy-weights", str(missing), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"--proxy-weights {missing} is not a folder" in err and "Traceback" not in err
