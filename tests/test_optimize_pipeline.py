"""``proceduralize`` end to end: graph choice, the plan's steps in a run, detail, export, cancel.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading

import pytest
import torch

from diffproxy.optimize import PRESETS, Cancelled, Options, proceduralize
from diffproxy.optimize.control import Reporter
from diffproxy.optimize.steps import Detail, Scan, Seeds, Stage3a
from optimize_common import TINY, tiny, _auto_two_graphs  # noqa: F401 (tiny: a fixture)


@pytest.mark.parametrize("classify", [True, False], ids=["classifier", "descriptor"])
def test_auto_graph_choice_finds_the_generating_graph(classify):
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.choose import rank_graphs
    from diffproxy.render import render

    pair = [get_graph("bricks"), get_graph("wood")]
    desc = get_descriptor("random")
    for truth in pair:
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad():
            target = render(truth.maps(truth.spec.round(truth.spec.sample(1, generator=gen)), 256))
        ranked = rank_graphs(pair, target, desc, 6, 48, gen, Reporter(), torch.device("cpu"), classify=classify)
        assert ranked[0].name == truth.name, [c.label() for c in ranked]
        assert (ranked[0].probability is not None) == classify


def test_proceduralize_runs_detail_for_large_exports_only(tiny, monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(4, 0.05, res=128, refresh=2)))
    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    kw = dict(graph="bricks", preset="tiny", method="match", device="cpu", seed=1)
    r = proceduralize(photo, Options(res_out=256, **kw))
    assert r.losses["detail"]["maps_px"] == 128  # min(res_out, the preset's detail_res)
    assert r.losses["final"]["from_stage"] == "detail" and "detail" in r.timings
    assert r.losses["final"]["maps_px"] == 128
    assert r.losses["detail"]["objective_end"] <= r.losses["detail"]["objective_start"]
    assert r.losses["final"]["style"] == pytest.approx(r.losses["detail"]["objective_end"], rel=1e-4)
    off = proceduralize(photo, Options(res_out=256, detail=False, **kw))
    # maps no larger than those the fit renders (48 px here): nothing to gain
    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(4, 0.05, res=48)))
    small = proceduralize(photo, Options(res_out=256, **kw))
    assert "detail" not in off.losses and "detail" not in small.losses
    assert off.losses["final"]["maps_px"] == 48  # the fit's own maps (tiny: 48 px, no supersampling)


def test_sharp_detail_descends_at_twice_the_resolution_and_records_the_fits_look(tiny, monkeypatch):
    """``Detail(sharp=True)`` (fast): the descent and the point it keeps are judged on the fit at
    twice the resolution (``Fit.sharper``), while the look recorded, by which graphs are
    compared, is the fit's own of the same export-size maps."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(4, 0.05, res=128, refresh=2, sharp=True)))
    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    r = proceduralize(photo, Options(graph="bricks", preset="tiny", method="match", device="cpu", seed=1,
                                     res_out=256))
    d = r.losses["detail"]
    assert d["maps_px"] == 128 and r.losses["final"]["from_stage"] == "detail"
    fit = Fit(g, photo, PRESETS["tiny"], get_descriptor("random"), torch.device("cpu"))
    sharp = fit.sharper()
    assert (fit.res, sharp.res) == (48, 64)  # twice the fit's, at most the photo's
    u = fit.normalize(g.spec.from_json(r.params))
    assert r.losses["final"]["style"] == pytest.approx(fit.evaluate(u, 128)["style"], rel=1e-4)
    assert d["objective_end"] == pytest.approx(sharp.evaluate(u, 128)["style"], rel=1e-4)
    assert d["objective_end"] <= d["objective_start"]
    assert abs(d["objective_end"] - r.losses["final"]["style"]) > 1e-6  # two different judges


def test_sharp_relief_is_judged_on_detail_s_sharp_view(tiny, monkeypatch):
    """``Relief(sharp=True)`` after a sharp detail: its tolerance is measured on the sharper fit,
    from the look detail left there (reused, not rendered again), and the look recorded is the
    fit's own."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.steps import Relief
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(4, 0.05, res=128, refresh=2, sharp=True),
                                                        relief=Relief(0.03, res=128, bisections=2, sharp=True)))
    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    r = proceduralize(photo, Options(graph="bricks", preset="tiny", method="match", device="cpu", seed=1,
                                     res_out=256))
    d, rel = r.losses["detail"], r.losses["relief"]
    assert r.losses["final"]["from_stage"] == "relief"
    assert rel["objective_start"] == pytest.approx(d["objective_end"], rel=1e-6)  # detail's sharp look
    assert rel["objective_end"] <= rel["objective_start"] * 1.03 + 1e-9
    fit = Fit(g, photo, PRESETS["tiny"], get_descriptor("random"), torch.device("cpu"))
    u = fit.normalize(g.spec.from_json(r.params))
    assert rel["objective_end"] == pytest.approx(fit.sharper().evaluate(u, 128)["style"], rel=1e-4)
    assert r.losses["final"]["style"] == pytest.approx(fit.evaluate(u, 128)["style"], rel=1e-4)


def test_proceduralize_ends_with_the_relief_step(tiny, monkeypatch):
    """Step "relief" runs after "detail" on the kept graph's export-size look, within its
    tolerance of the detail's look, and ``disabled`` turns it off."""
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.steps import Relief
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(4, 0.05, res=128, refresh=2),
                                                        relief=Relief(0.03, res=128, bisections=2)))
    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    kw = dict(graph="bricks", preset="tiny", method="match", device="cpu", seed=1, res_out=256)
    r = proceduralize(photo, Options(**kw))
    rel = r.losses["relief"]
    assert r.losses["final"]["from_stage"] == "relief" and r.losses["final"]["maps_px"] == 128
    assert rel["maps_px"] == 128 and rel["tolerance"] == 0.03 and all(0.0 <= t <= 1.0 for t in rel["t"].values())
    assert rel["objective_start"] == pytest.approx(r.losses["detail"]["style"], rel=1e-4)
    assert rel["objective_end"] <= rel["objective_start"] * 1.03 + 1e-9
    assert set(rel["params"]) == {*g.relief_params, *g.relief_shape_params} and "relief" in r.timings
    for n, (before, after) in rel["params"].items():
        assert float(r.params[n]) == pytest.approx(after, rel=1e-4, abs=1e-5), n
    off = proceduralize(photo, Options(disabled=["relief"], **kw))
    assert "relief" not in off.losses and off.losses["final"]["from_stage"] == "detail"


@pytest.mark.parametrize("method", ["diffproxy", "match", "search"])
def test_proceduralize_end_to_end(tiny, tmp_path, method):
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    events = []
    o = Options(graph="bricks", preset="tiny", method=method, device="cpu", res_out=64, seed=1,
                time_limit=1.5)
    r = proceduralize(photo, o, progress=events.append)
    assert r.graph == "bricks" and set(r.params) == set(g.spec.names)
    g.spec.from_json(r.params)  # valid parameters
    assert r.descriptor["name"] == "random_cnn" and r.descriptor["weights_hash"]
    assert r.device == "cpu" and r.ranking[0]["graph"] == "bricks"
    assert "final" in r.losses and r.timings["total"] > 0
    if method == "diffproxy":  # never worse (style) than after Stage I
        assert r.losses["final"]["style"] <= r.losses["stage1"]["style"]
        assert r.losses["final"]["from_stage"] in ("stage1", "stage3")
    assert events and all(set(e) == {"stage", "step", "total", "loss", "message"} for e in events)
    paths = r.write(tmp_path / "out")
    for name in ("basecolor", "normal", "roughness", "metallic", "height", "render", "params",
                 "comparison", "loss_curve"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0, name
    data = json.loads(paths["params"].read_text())
    assert data["graph"] == "bricks" and data["descriptor"]["weights_hash"] == r.descriptor["weights_hash"]
    assert data["params"] == r.params and data["device"] == "cpu"
    assert "final" in data["losses"] and "total" in data["timings"]
    with pytest.raises(FileExistsError, match="overwrite"):
        r.write(tmp_path / "out")
    r.write(tmp_path / "out", overwrite=True)


@pytest.mark.parametrize("how", ["same name", "hard link", "symlink"])
def test_write_never_overwrites_the_input_photo(tiny, tmp_path, how):
    """A photo that is (or links to) an output file of --out is refused even with overwrite."""
    from diffproxy.graphs import get_graph
    from diffproxy.io import InputWouldBeOverwritten, save_png
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        img = render(g.maps(g.spec.defaults(), 64))
    out = tmp_path / "out"
    if how == "same name":
        photo = save_png(img[0], out / "basecolor.png")
    else:
        photo = save_png(img[0], tmp_path / "photo.png")
        out.mkdir()
        (os.link if how == "hard link" else os.symlink)(photo, out / "height.png")
    before = photo.read_bytes()
    r = proceduralize(str(photo), Options(graph="bricks", preset="tiny", method="search", device="cpu",
                                          res_out=64, time_limit=0.5))
    with pytest.raises(InputWouldBeOverwritten, match="choose another output folder"):
        r.write(out, overwrite=True)
    assert photo.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == (["basecolor.png"] if how == "same name" else ["height.png"])


def test_the_photos_exif_orientation_is_an_option(tiny, tmp_path):
    """The pipeline turns a photo upright by its EXIF tag unless told to take it as stored (the
    add-on does: Blender shows images as stored), and says which in the result's photo notes."""
    import numpy as np
    from PIL import Image

    a = np.zeros((64, 64, 3), np.uint8)
    a[:, :20] = 230  # a bright band down the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(a).save(path, exif=exif.tobytes(), quality=95)
    o = dict(graph="bricks", preset="tiny", method="search", device="cpu", res_out=64, time_limit=0.2)
    upright = proceduralize(str(path), Options(**o))
    stored = proceduralize(str(path), Options(**o, exif_orientation=False))
    assert any(n == "applied EXIF orientation 6" for n in upright.photo_notes), upright.photo_notes
    assert any("EXIF orientation 6 not applied" in n for n in stored.photo_notes), stored.photo_notes
    assert stored.options["exif_orientation"] is False and upright.options["exif_orientation"] is True


def test_a_turned_photo_is_straightened_unless_told_not_to(tiny):
    """A wall photographed 5 degrees off square is turned back before the fit (the result says
    by how much, and the share of the side kept); ``straighten=False`` takes it as it is."""
    from diffproxy.graphs import get_graph
    from diffproxy.render import render
    from diffproxy.straighten import kept_share, turn

    g = get_graph("bricks")
    with torch.no_grad():
        photo = turn(render(g.maps(g.spec.defaults(), 256)), 5.0, kept_share(5.0)).clamp(0, 1)
    o = dict(graph="bricks", preset="tiny", method="search", device="cpu", res_out=64, time_limit=0.2)
    r = proceduralize(photo, Options(**o))
    assert r.photo_turn["turned"] and r.photo_turn["degrees"] == pytest.approx(-5.0, abs=0.3)
    assert r.photo_turn["kept"] == pytest.approx(kept_share(5.0), abs=1e-3)
    assert any("turned" in n and "clockwise" in n for n in r.photo_notes), r.photo_notes
    assert r.summary()["photo"]["turn"] == r.photo_turn and r.options["straighten"] is True
    assert r.photo.shape[-1] == round(photo.shape[-1] * r.photo_turn["kept"])
    as_is = proceduralize(photo, Options(**o, straighten=False))
    assert as_is.photo_turn is None and not any("turned" in n for n in as_is.photo_notes)
    assert as_is.photo.shape[-1] == photo.shape[-1]


def test_pipeline_runs_the_scan_the_seed_search_and_the_second_stage3_branch(monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(seeds=Seeds(), scan=Scan(1),
                                                         stage3a=Stage3a(8, 0.05, also_start=True)))
    g = get_graph("metal")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    events = []
    r = proceduralize(photo, Options(graph="metal", preset="tiny", device="cpu", res_out=64, seed=2,
                                     detail=False), progress=events.append)
    seeds = r.losses["seeds"]
    assert set(seeds["seeds"]) == {"scratches.seed", "noise.seed"}
    if r.losses["final"]["from_stage"] == "stage3" and r.losses["stage3"]["kept"] == "main":
        assert all(r.params[n] == v for n, v in seeds["seeds"].items())  # the searched seeds are kept
    assert seeds["objective_end"] <= seeds["objective_start"]
    assert r.losses["stage3"]["kept"] in ("main", "also") and "also_start" in r.losses["stage3"]
    assert any(e["stage"] == "seeds" for e in events) and any(e["stage"] == "scan" for e in events)
    scan = r.losses["scan"]
    assert scan["objective_end"] <= scan["objective_start"] and scan["evaluations"] > 1
    assert r.losses["final"]["style"] <= r.losses["stage1"]["style"]
    off = proceduralize(photo, Options(graph="metal", preset="tiny", device="cpu", res_out=64, seed=2,
                                       detail=False, seed_search=False, scan=False))
    assert "seeds" not in off.losses and "scan" not in off.losses and "stage3" in off.losses


def test_pipeline_with_sharp_steps_settles_by_the_sharper_look(tiny, monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    o = Options(graph="bricks", preset="tiny", device="cpu", res_out=64, seed=2, detail=False)
    assert "settled" not in proceduralize(photo, o).losses  # the fit's own losses decide
    # Options hold the Preset itself: a changed one goes in the options, not the registry
    r = proceduralize(photo, dataclasses.replace(o, preset=TINY.with_steps(stage3a=Stage3a(8, 0.05, sharp=True))))
    st = r.losses["settled"]
    assert set(st["style"]) == {"stage1", "stage3"} and st["res"] == 64 and st["scales"] == [64, 32, 16]
    assert st["kept"] == r.losses["final"]["from_stage"] and st["style"][st["kept"]] == min(st["style"].values())
    assert r.losses["stage3"]["sharp"] == {**r.losses["stage3"]["sharp"], "steps": 8, "res": 64}


def test_cancel_stops_at_the_next_step(tiny):
    """Cancellation is polled at every step: once asked, not one more step runs or reports.
    (How long a step takes is a benchmark's business: docs/BENCHMARKS.md.)"""
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    stop = threading.Event()
    after = []

    def progress(ev):
        if stop.is_set():
            after.append(ev)
        elif ev["stage"] == "stage1" and ev["step"] >= 2:
            stop.set()

    with pytest.raises(Cancelled):
        proceduralize(photo, Options(graph="bricks", preset="tiny", device="cpu"),
                      progress=progress, should_cancel=stop.is_set)
    assert stop.is_set() and after == []


def test_every_graph_gets_detail_and_the_best_look_wins(tiny, monkeypatch):
    import dataclasses

    monkeypatch.setitem(PRESETS, "tiny", TINY.with_steps(detail=Detail(2, 0.05, res=96, refresh=1)))
    photo, o = _auto_two_graphs(workers=1)
    r = proceduralize(photo, dataclasses.replace(o, disabled=frozenset(), res_out=256))
    assert r.losses["final"]["from_stage"] == "detail" and r.losses["final"]["maps_px"] == 96
    other = r.others[0]["final"]
    assert other["maps_px"] == 96  # judged by the same look as the kept graph
    from diffproxy.optimize.result import LOOK_TIE
    kept, rival = r.losses["final"]["style"], other["style"]  # no relief here: the tie is LOOK_TIE
    assert kept <= rival or (kept <= rival * (1 + LOOK_TIE) and r.graph == r.ranking[0]["graph"])  # a tie: the first


def test_preset_top_k_leaves_out_graphs_the_classifier_finds_unlikely(monkeypatch):
    """With the preset's top_k (not one asked for) the pipeline optimises only the graphs at
    least half as likely as the classifier's first choice; without the classifier, all k."""
    from dataclasses import replace

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny3", replace(TINY, name="tiny3", top_k=3))
    g = get_graph("bricks")
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # a clear brick wall, as the classifier's renders show one
        photo = render(g.maps(g.spec.round(g.spec.sample(1, generator=gen)), 256))
    o = dict(graph="auto", preset="tiny3", device="cpu", res_out=64, threads=1, workers=1, detail=False)
    events = []
    r = proceduralize(photo, Options(**o), progress=events.append)
    assert r.ranking[0]["graph"] == "bricks" and r.ranking[0]["probability"] > 0.5
    assert r.graph == "bricks" and len(r.others) + 1 < 3
    assert any("only: the classifier" in e["message"] for e in events)
    from diffproxy.classifier import shipped_paths
    used = r.summary()["graph_classifier"]  # params.json records which classifier ordered the ranking
    assert used["files"] == [p.name for p in shipped_paths()] and all(len(h) == 16 for h in used["sha256"])
    assert "bricks" in used["graphs"]
    r = proceduralize(photo, Options(**o, classifier=False))
    assert len(r.others) + 1 == 3 and all(x["probability"] is None for x in r.ranking)
    assert r.summary()["graph_classifier"] is None


def test_the_estimators_guess_is_a_stage_and_is_recorded(tiny):
    """With the estimator (default) the run has an ``estimate`` stage and params.json names the
    estimator; ``estimator=False`` runs without either."""
    from diffproxy.estimator import WEIGHTS_PATH
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("ceramic_tiles")
    with torch.no_grad():
        photo = render(g.maps(g.spec.round(g.spec.sample(1, generator=torch.Generator().manual_seed(4))), 128))
    o = dict(graph="ceramic_tiles", preset="tiny", device="cpu", res_out=64, threads=1, workers=1, detail=False)
    events = []
    r = proceduralize(photo, Options(**o), progress=events.append)
    est = r.losses["estimate"]
    assert est["used"] and est["kept"] in ("estimate", "start") and est["objective_end"] <= est["objective_start"]
    assert any("parameter estimator's guess" in e["message"] for e in events)
    used = r.summary()["param_estimator"]
    assert used["file"] == WEIGHTS_PATH.name and len(used["sha256"]) == 16 and "ceramic_tiles" in used["graphs"]
    windows = est["windows"]
    # the counts; and the bond where the photo shows a stack (this prior draw does)
    assert {"tiles.tiles_x", "tiles.tiles_y"} <= set(windows) <= {"tiles.tiles_x", "tiles.tiles_y", "tiles.offset"}
    final = r.summary()["params"]
    assert all(a <= final[k] <= b for k, (a, b) in windows.items())
    # the roughness sliders to check: recorded, and a sentence each for the user
    unusual = r.summary()["unusual"]
    assert unusual == r.unusual() and len(r.unusual_notes()) == len(unusual)
    r.params = {**r.params, "roughness.grout": 0.4}  # far under the prior's 0.85 +- 0.06
    assert r.unusual()[0]["param"] == "roughness.grout"
    assert "roughness.grout came out 0.40" in r.unusual_notes()[0] and "check the slider" in r.unusual_notes()[0]
    r = proceduralize(photo, Options(**o, count_window=False))
    assert "windows" not in r.losses["estimate"]
    r = proceduralize(photo, Options(**o, estimator=False))
    assert "estimate" not in r.losses and r.summary()["param_estimator"] is None
    with pytest.raises(ValueError, match="estimator must be true or false"):
        Options(estimator="yes")
    with pytest.raises(ValueError, match="count_window must be true or false"):
        Options(count_window=1)
