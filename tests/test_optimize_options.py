"""Options, presets and the plan's validation, progress/cancel, and the CLI's switches and exits.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import json

import pytest
import torch

from diffproxy.optimize import PRESETS, Cancelled, Options
from diffproxy.optimize.control import Reporter
from diffproxy.optimize.steps import LocalSearch, Scan
from optimize_common import TINY, tiny  # noqa: F401 (tiny: a fixture)


@pytest.mark.parametrize("kw, match", [
    ({"preset": "slow"}, "preset"), ({"method": "adam"}, "method"), ({"device": "tpu"}, "device"),
    ({"res_out": 10}, "res_out"), ({"seed": -1}, "seed"), ({"descriptor": "x"}, "descriptor"),
    ({"proxy_mode": "always"}, "proxy_mode"), ({"local_search": 1}, "local_search"), ({"seed_search": "no"}, "seed_search"),
    ({"scan": 0}, "scan"), ({"classifier": "on"}, "classifier"),
    ({"detail": "yes"}, "detail"),
    ({"time_limit": 0}, "time_limit"), ({"top_k": 0}, "top_k"), ({"graph": ""}, "graph"),
    ({"polish": 0}, "polish"), ({"disabled": ["stage1"]}, "disabled"), ({"disabled": "polish"}, "disabled"),
    ({"disabled": ["nonesuch"]}, "disabled"),
])
def test_options_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        Options(**kw)


def test_options_defaults_match_the_server_contract():
    o = Options()
    assert (o.graph, o.preset.name, o.method, o.device, o.res_out, o.seed) == ("auto", "balanced", "diffproxy", "auto", 2048, 0)
    assert Options(**{"graph": "auto", "preset": "fast", "method": "match", "device": "cpu",
                      "res_out": 512, "seed": 3}).preset.name == "fast"


def test_old_switches_and_disabled_are_one_record():
    """``polish=False`` (an old request) and ``disabled=["polish"]`` are the same run; the
    disabled steps come back as a JSON list, the preset by name (params.json's ``options``)."""
    a = Options(preset="fast", polish=False, seed_search=False)
    b = Options(preset="fast", disabled=["seeds", "polish"])
    assert a == b and a.disabled == {"polish", "seeds"} and a.polish is True
    assert a.as_dict()["disabled"] == ["seeds", "polish"] and a.as_dict()["preset"] == "fast"
    assert json.loads(json.dumps(a.as_dict())) == a.as_dict()
    assert a.budget("seeds") is None and a.budget("local") == PRESETS["fast"].budget("local")


def test_presets_validated_against_the_plan():
    """Every preset has a budget of the right type for each step, the paper's stages always."""
    from diffproxy.optimize.steps import STEPS

    for p in PRESETS.values():
        assert list(p.steps) == [s.name for s in STEPS]
        assert all(p.budget(s.name) is not None for s in STEPS if s.paper)
    with pytest.raises(ValueError, match="stage1"):
        TINY.with_steps(stage1=None)
    with pytest.raises(ValueError, match="Scan"):
        TINY.with_steps(scan=LocalSearch(2))
    with pytest.raises(ValueError, match="unknown step"):
        TINY.with_steps(nonesuch=Scan(1))


def test_a_preset_made_at_run_time_needs_no_registry():
    """Options hold the Preset itself (a worker process gets it with the job)."""
    o = Options(preset=TINY)
    assert o.preset is TINY and "tiny" not in PRESETS and o.as_dict()["preset"] == "tiny"


def test_reporter_throttles_and_cancels():
    events = []
    flag = {"stop": False}
    rep = Reporter(events.append, lambda: flag["stop"], interval=10.0)
    for i in range(50):
        rep.step("s", i, 49, float(i))
    # first and last step always, everything in between throttled away (interval 10 s)
    assert [e["step"] for e in events] == [0, 49]
    assert set(events[0]) == {"stage", "step", "total", "loss", "message"}
    flag["stop"] = True
    with pytest.raises(Cancelled):
        rep.step("s", 1, 2)


def test_cli_switches_reach_the_options(monkeypatch, tmp_path):
    """Every ``--no-...`` switch of ``proceduralize`` turns off what it names: an Options field, or
    a step of the plan (one switch per step a run may leave out, the old spellings among them)."""
    import argparse

    from diffproxy.commands import proceduralize_cmd as cmd
    from diffproxy.optimize.steps import OPTIONAL

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    fields = [a for a in p._actions if isinstance(a, argparse._StoreFalseAction)]
    steps = [a for a in p._actions if isinstance(a, argparse._AppendConstAction)]
    assert {a.dest for a in fields} >= {"classifier", "estimator", "count_window"}
    assert sorted(a.const for a in steps) == sorted(OPTIONAL)
    assert {"--no-local-search", "--no-scan", "--no-seed-search", "--no-polish", "--no-detail"} <= {
        a.option_strings[0] for a in steps}
    seen = []
    monkeypatch.setattr("diffproxy.optimize.proceduralize",
                        lambda photo, options, progress=None: seen.append(options) or (_ for _ in ()).throw(KeyboardInterrupt))
    for a in fields + steps:
        args = p.parse_args(["photo.png", "--out", str(tmp_path / a.dest), a.option_strings[0]])
        assert cmd.run(args) == 130  # stopped at the pipeline's door
        o = seen[-1]
        if a in steps:
            assert o.disabled == {a.const} and o.budget(a.const) is None
        else:
            assert getattr(o, a.dest) is False and not o.disabled
    args = p.parse_args(["photo.png", "--out", str(tmp_path / "two"), "--no-scan", "--no-polish"])
    assert cmd.run(args) == 130 and seen[-1].disabled == {"scan", "polish"}


def test_cli_unusable_photo_exits_2(tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main

    (tmp_path / "empty.png").write_bytes(b"")
    assert main([str(tmp_path / "empty.png"), "--out", str(tmp_path / "o")]) == 2
    assert "empty file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "text.png").write_text("hello")
    assert main([str(tmp_path / "text.png"), "--out", str(tmp_path / "o")]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main([str(tmp_path / "text.png"), "--out", str(tmp_path / "o"), "--graph", "nope"]) == 2
    assert "unknown graph" in capsys.readouterr().err


def test_cli_bad_counts_exit_2(tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main

    photo = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (64, 64), (120, 80, 60)).save(photo)
    assert main([str(photo), "--out", str(tmp_path / "o"), "--top-k", "0"]) == 2
    assert "top_k must be a positive integer" in capsys.readouterr().err
    assert main([str(photo), "--out", str(tmp_path / "o"), "--workers", "-1"]) == 2
    assert "workers must be an integer >= 0" in capsys.readouterr().err


def test_cli_end_to_end_and_no_overwrite(tiny, tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    save_png(photo[0], tmp_path / "p.png")
    args = [str(tmp_path / "p.png"), "--out", str(tmp_path / "o"), "--graph", "bricks",
            "--preset", "tiny", "--res-out", "64", "--json", "--device", "cpu"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["graph"] == "bricks" and (tmp_path / "o" / "params.json").is_file()
    assert main(args) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_a_presets_fits_are_shared_among_the_graphs_it_keeps():
    """``Preset.restarts_for``: top_k graphs x restarts fits, shared among the graphs kept, never
    fewer restarts than the preset's: balanced fits a sure graph twice, full's 12 fits go to the
    graphs kept, fast fits once."""
    from diffproxy.optimize import PRESETS

    b, f, fast = PRESETS["balanced"], PRESETS["full"], PRESETS["fast"]
    assert [b.restarts_for(k) for k in (1, 2, 3)] == [2, 1, 1]
    assert [f.restarts_for(k) for k in (1, 2, 3, 4)] == [12, 6, 4, 4]
    assert fast.restarts_for(1) == 1
    assert b.restarts_for(1, top_k=3) == 3 and b.restarts_for(3, top_k=3) == 1  # top_k asked for
    with pytest.raises(ValueError, match="graphs"):
        b.restarts_for(0)
