"""The benchmark (:mod:`diffproxy.optimize.bench`): synthetic targets, ablations, photos, summaries.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from diffproxy.optimize import PRESETS, Options
from optimize_common import tiny, _untrained_proxy  # noqa: F401 (tiny: a fixture)


def test_bench_synthetic_rows_and_summary(tiny, monkeypatch):
    import diffproxy.proxies as proxies
    from diffproxy.optimize.bench import check_methods, run_synthetic, summarise

    monkeypatch.setattr(proxies, "load_proxy", _untrained_proxy)
    methods = check_methods("diffproxy,diffproxy-paper,diffproxy-noproxy,match,search".split(","))
    rows = run_synthetic(1, 0, methods, "tiny", ["bricks"], device="cpu", descriptor="random",
                         log=lambda s: None)
    assert [r["method"] for r in rows] == methods  # diffproxy first: it sets search's time
    by = {r["method"]: r for r in rows}
    assert by["diffproxy"]["proxies"] == "joint" and by["diffproxy-noproxy"]["proxies"] == "filters_only"
    for r in rows:
        assert r["feature"] > 0 and r["style"] > 0 and 0 <= r["discrete_accuracy"] <= 1
        assert r["fit_feature"] > 0 and r["fit_style"] > 0
    s = summarise(rows, methods)
    assert set(s["per_method"]) == set(methods)
    assert {f"diffproxy_vs_{m}" for m in methods[1:]} <= set(s)
    with pytest.raises(ValueError, match="diffproxy-noproxy"):
        check_methods(["diffproxy", "matsh"])


@pytest.mark.parametrize("preset, res", [("balanced", None), ("full", None), ("balanced", 256)])
def test_bench_target_own_parameters_score_zero_in_the_fit(preset, res):
    """A synthetic target's own parameters are the fit's optimum, as in the judge, where the
    target's 256 px are a whole multiple of the fit's side (``fast``'s 96 px are not: there the
    supersampled render only comes close): fitted at the target's own 256 px (``full`` until
    session 20), 2x supersampling rendered them smoother than the target (style loss 0.05 on a
    bricks target) and pulled both methods away from them."""

    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import TARGET_RES, fit_preset, synthetic_target
    from diffproxy.optimize.fit import Fit

    base = PRESETS[preset] if res is None else dataclasses.replace(PRESETS[preset], res=res, scales=(256, 128, 64))
    p = fit_preset(base)
    assert p.supersample == (1 if base.res * 2 > TARGET_RES else base.supersample)
    assert p.supersample == (1 if res == 256 else 2)
    graph = get_graph("bricks")
    u_t, img, u_s = synthetic_target(graph, torch.Generator().manual_seed(0), "cpu")
    fit = Fit(graph, img, p, get_descriptor("random", "cpu"), torch.device("cpu"))
    with torch.no_grad():
        assert fit.evaluate(u_t)["style"] < 1e-6 < fit.evaluate(u_s)["style"]


def test_bench_ablations_switch_what_they_name():
    from diffproxy.optimize.bench import BENCH_METHODS
    from diffproxy.optimize.steps import OPTIONAL

    for label, fields in BENCH_METHODS.items():
        o = Options(**fields)  # every label is a valid run
        assert o.method == label.split("-")[0]
    off = {label: [k for k, v in f.items() if v is False] for label, f in BENCH_METHODS.items()}
    assert off["diffproxy-noclassifier"] == ["classifier"] and off["diffproxy-nowindow"] == ["count_window"]
    assert off["diffproxy-nolayout"] == ["layout"] and off["diffproxy-nostraighten"] == ["straighten"]
    # one per step a run may leave out, named after it (the old labels among them)
    assert {"scan", "local", "seeds", "polish", "detail"} <= set(OPTIONAL)
    for step in OPTIONAL:
        o = Options(**BENCH_METHODS[f"diffproxy-no{step}"])
        assert o.disabled == {step} and o.budget(step) is None


def test_bench_synthetic_runs_can_be_split(tiny):
    from diffproxy.optimize.bench import run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # on more than one thread too (diffproxy sets MKL_CBWR: __init__)
    try:
        whole = run_synthetic(2, 0, ["match"], "tiny", ["bricks"], **kw)
        second = run_synthetic(1, 0, ["match"], "tiny", ["bricks"], first=1, **kw)
    finally:
        torch.set_num_threads(threads)
    assert [r["target"] for r in whole] == ["synthetic0", "synthetic1"]
    assert second[0]["target"] == "synthetic1"
    assert second[0]["style"] == whole[1]["style"] and second[0]["feature"] == whole[1]["feature"]
    assert second[0]["style"] != pytest.approx(whole[0]["style"], rel=1e-3)


def test_bench_summary_by_graph():
    from diffproxy.optimize.bench import summarise, table

    def row(target, graph, method, style, kind="synthetic"):
        return {"target": target, "kind": kind, "graph": graph, "method": method, "style": style,
                "feature": 1.0, "seconds": 1.0, "discrete_accuracy": None if kind == "photo" else 0.5}

    rows = [row("s0", "bricks", "match", 0.2), row("s0", "bricks", "diffproxy", 0.1),
            row("s1", "bricks", "match", 0.4), row("s1", "bricks", "diffproxy", 0.1),
            row("s2", "metal", "match", 0.1), row("s2", "metal", "diffproxy", 0.1),
            row("p.png", "wood", "match", 0.3, "photo"), row("p.png", "wood", "diffproxy", 0.1, "photo")]
    s = summarise(rows, ["diffproxy", "match"])
    assert set(s["per_graph"]) == {"bricks", "metal"}  # photos have no generating graph
    assert s["per_graph"]["bricks"]["n"] == 2
    assert s["per_graph"]["bricks"]["diffproxy"]["mean_ratio_style_vs_match"] == pytest.approx((0.5 + 0.25) / 2)
    assert s["per_graph"]["metal"]["diffproxy"]["mean_ratio_style_vs_match"] == pytest.approx(1.0)
    assert s["per_graph"]["bricks"]["match"]["mean_style"] == pytest.approx(0.3)
    text = table(rows, s)
    assert "by graph" in text and "0.375" in text
    # the overall comparison, read three ways: the mean of the per-target ratios (the goal's),
    # the median ratio, and the ratio of the mean losses
    vs = s["diffproxy_vs_match"]
    assert vs["n"] == 4
    assert vs["mean_ratio_style"] == pytest.approx((0.5 + 0.25 + 1.0 + 1 / 3) / 4)
    assert vs["median_ratio_style"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert vs["ratio_of_means_style"] == pytest.approx(0.4 / 1.0)
    assert vs["ratio_of_means_feature"] == pytest.approx(1.0)
    assert "ratio of the mean losses: style 0.400 feature 1.000" in text


def test_bench_merge_joins_split_runs(tiny, tmp_path, capsys):
    from diffproxy.commands.bench_cmd import main
    from diffproxy.io import save_json
    from diffproxy.optimize.bench import run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    for first in (0, 1):
        rows = run_synthetic(1, 0, ["match"], "tiny", ["bricks"], first=first, **kw)
        save_json(tmp_path / f"part{first}.json", {"meta": {}, "rows": rows})
    out = tmp_path / "all.json"
    assert main(["--merge", str(tmp_path / "part0.json"), str(tmp_path / "part1.json"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "synthetic0" in text and "synthetic1" in text and "match      n=2" in text
    merged = json.loads(out.read_text())
    assert sorted(r["target"] for r in merged["rows"]) == ["synthetic0", "synthetic1"]
    assert merged["summary"]["per_method"]["match"]["n"] == 2
    (tmp_path / "bad.json").write_text("{}")
    assert main(["--merge", str(tmp_path / "bad.json")]) == 2
    assert "not a bench --json file" in capsys.readouterr().err


def test_bench_labels_flag_refuses_what_it_cannot_use(tmp_path, capsys):
    from diffproxy.commands.bench_cmd import main

    (tmp_path / "photos").mkdir()
    assert main(["--synthetic", "1", "--labels", str(tmp_path / "none.json"), "--methods", "match"]) == 2
    assert "--labels goes with --photos" in capsys.readouterr().err
    assert main(["--synthetic", "0", "--photos", str(tmp_path / "photos"), "--labels",
                 str(tmp_path / "none.json"), "--methods", "match"]) == 2
    assert "labels: cannot read" in capsys.readouterr().err
    (tmp_path / "l.json").write_text("[1, 2]")
    assert main(["--synthetic", "0", "--photos", str(tmp_path / "photos"), "--labels",
                 str(tmp_path / "l.json"), "--methods", "match"]) == 2
    assert "JSON object" in capsys.readouterr().err


def test_bench_match_oracle_starts_at_the_targets_structure(tiny, tmp_path):
    from diffproxy.optimize.bench import check_methods, run_photos, run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    row, = run_synthetic(1, 0, check_methods(["match-oracle"]), "tiny", ["bricks"], **kw)
    assert row["discrete_accuracy"] == 1.0 and row["continuous_mae"] == pytest.approx(0.0, abs=1e-6)
    assert run_photos(tmp_path, 0, ["match-oracle"], "tiny", **kw) == []  # no ground truth


def test_bench_match_estimator_starts_at_the_guess(tiny):
    """MATch from the estimator's guess: it keeps the guess's generator parameters (seeds the
    start's), so its discrete accuracy is exactly the guess's."""
    from diffproxy.estimator import estimate
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import check_methods, run_synthetic, synthetic_target

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    row, = run_synthetic(1, 0, check_methods(["match-estimator"]), "tiny", ["wood"], **kw)
    g = get_graph("wood")
    u_t, img, u_s = synthetic_target(g, torch.Generator().manual_seed(0), torch.device("cpu"))
    params = list(g.spec)
    want, start = g.spec.round(g.spec.denormalize(u_t)), g.spec.round(g.spec.denormalize(u_s))
    guess = g.spec.round(g.spec.denormalize(estimate(img, g)))
    disc = [p.name for p in params if p.role == "generator" and p.discrete]
    got = {n: (start if next(p for p in params if p.name == n).seed else guess)[n] for n in disc}
    expected = sum(float(got[n][0] == want[n][0]) for n in disc) / len(disc)
    assert row["method"] == "match-estimator" and row["discrete_accuracy"] == pytest.approx(expected)


def test_bench_judge_scores_the_targets_own_parameters_zero():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import judge, synthetic_target

    g, dev = get_graph("bricks"), torch.device("cpu")
    u_t, img, u_s = synthetic_target(g, torch.Generator().manual_seed(3), dev)
    desc = get_descriptor("random", dev)
    assert judge(g, img, u_t, desc, dev) == pytest.approx({"feature": 0.0, "style": 0.0}, abs=1e-4)
    far = judge(g, img, u_s, desc, dev)
    assert far["feature"] > 0.01 and far["style"] > 0.01


def test_bench_photos_rows(tiny, tmp_path, monkeypatch):
    import diffproxy.optimize.bench as bench
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import run_photos, summarise
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 128)  # the export-size judge, small for a test

    g = get_graph("bricks")
    with torch.no_grad():
        save_png(render(g.maps(g.spec.defaults(), 64))[0], tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not a photo")  # ignored: not an image extension
    rows = run_photos(tmp_path, 0, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None)
    assert len(rows) == 1 and rows[0]["target"] == "a.png" and rows[0]["method"] == "match"
    assert rows[0]["feature"] > 0 and rows[0]["fit_style"] > 0 and rows[0]["discrete_accuracy"] is None
    assert rows[0]["export_style"] > 0 and rows[0]["export_style"] != rows[0]["style"]
    assert summarise(rows, ["match"])["per_method"]["match"]["mean_export_style"] == rows[0]["export_style"]
    # the export's contrast by scale against the photo's (judge.octave_gap), per photo and averaged
    from diffproxy.judge import SPECTRUM_OCTAVES
    from diffproxy.optimize.bench import table

    octs = rows[0]["octaves"]
    assert len(octs) == len(SPECTRUM_OCTAVES) and all(math.isfinite(v) for v in octs)
    assert any(abs(v) > 1e-3 for v in octs)  # a fit, not the photo itself
    s = summarise(rows, ["match"])
    assert s["per_method"]["match"]["mean_octaves"] == pytest.approx(octs)
    assert "contrast by scale" in table(rows, s)
    # the roughness the user is told to check, per photo and counted
    assert isinstance(rows[0]["unusual"], list)
    assert all(set(u) == {"param", "value", "usual", "sd", "limit"} for u in rows[0]["unusual"])
    assert s["per_method"]["match"]["unusual_roughness"] == [int(bool(rows[0]["unusual"])), 1]
    glossy = dict(rows[0], unusual=[{"param": "roughness.mortar", "value": 0.38, "usual": 0.92, "sd": 0.05}])
    s2 = summarise([rows[0], glossy], ["match"])
    assert s2["per_method"]["match"]["unusual_roughness"][1] == 2 and s2["per_method"]["match"]["unusual_roughness"][0] >= 1
    assert "fits with a roughness over 4 prior sd" in table([rows[0], glossy], s2)
    fitted = rows[0]["fitted"]  # every graph optimised, in the ranking's order, the kept one marked
    assert [f["graph"] for f in fitted if f["kept"]] == [rows[0]["graph"]]
    assert all(f["look"] > 0 for f in fitted) and len({f["graph"] for f in fitted}) == len(fitted)
    assert all(f["recoloured"] is None for f in fitted)  # MATch runs no recolour step


def test_bench_photos_judged_by_labels(tiny, tmp_path, monkeypatch):
    """A labelled photo gets the judge's checks in its row, the summary counts them per method,
    and the table shows them; an unlabelled photo gets none."""
    import diffproxy.judge as judge
    import diffproxy.optimize.bench as bench
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import load_labels, run_photos, summarise, table
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 64)
    judged_normal = []  # the size of the normal map each check was given
    real_check = judge.check
    monkeypatch.setattr(judge, "check", lambda *a: judged_normal.append(a[-1].shape[-1]) or real_check(*a))
    g = get_graph("bricks")
    p = g.spec.defaults()
    with torch.no_grad():
        img = render(g.maps(p, 128))[0]
    save_png(img, tmp_path / "wall.png")
    save_png(img, tmp_path / "other.png")
    counts = g.layout_counts(g.spec.to_json(p))
    labels_file = tmp_path / "labels.json"
    labels_file.write_text("\ufeff" + json.dumps({"_about": "comment", "wall": {
        "accept": ["bricks"], "rows": counts["rows"], "per_row": counts["per_row"], "relief": True}}), "utf-8")
    labels = load_labels(labels_file)
    assert list(labels) == ["wall"]
    rows = run_photos(tmp_path, 0, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None,
                      labels=labels)
    by = {r["target"]: r for r in rows}
    assert "checks" not in by["other.png"]
    c = by["wall.png"]["checks"]
    # the wall: a half bond, and a period it repeats
    assert set(c) == {"family", "counts", "polarity", "spread", "bond", "regularity", "relief"}
    assert judged_normal == [64]  # relief: on the maps the user gets, the export's
    fitted = g.spec.from_json(by["wall.png"]["params"])
    with torch.no_grad():
        deg = {px: judge.relief_degrees(g.maps(fitted, px)["normal"]) for px in (64, 256)}
    assert c["relief"]["degrees"] == pytest.approx(deg[64]) and c["relief"]["degrees_256"] == pytest.approx(deg[256])
    summary = summarise(rows, ["match"])["per_method"]["match"]["checks"]
    assert summary["bond"] == [int(c["bond"]["ok"]), 1]
    assert summary["regularity"] == [int(c["regularity"]["ok"]), 1]
    assert summary["family"] == [int(c["family"]["ok"]), 1] and summary["relief_present"][1] == 1
    among = any(x["graph"] == "bricks" for x in by["wall.png"]["fitted"])
    assert c["family"]["among_fitted"] is among and summary["family_among_fitted"] == [int(among), 1]
    assert summary["relief_absent"] == [0, 0]
    assert "judged by the labels" in table(rows, summarise(rows, ["match"]))
    (tmp_path / "bad.json").write_text('{"x": {"rows": 3}}')
    with pytest.raises(ValueError, match="accept"):
        load_labels(tmp_path / "bad.json")


def test_photo_variants_keep_the_label_but_the_crop_s_counts():
    from diffproxy.optimize.bench import PHOTO_VARIANTS, check_variants, variant_label

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)[:1]
    assert torch.equal(PHOTO_VARIANTS["mirror"][0](x)[..., 0], x[..., -1])
    assert torch.equal(PHOTO_VARIANTS["turn180"][0](x)[..., 0, 0], x[..., -1, -1])
    crop = PHOTO_VARIANTS["crop75"][0](x)
    assert crop.shape[-2:] == (6, 6) and torch.equal(crop, x[..., 1:7, 1:7])  # the centre
    label = {"accept": ["bricks"], "rows": 4.0, "per_row": 2.0, "relief": True}
    assert variant_label(label, "crop75") == {"accept": ["bricks"], "rows": 3.0, "per_row": 1.5, "relief": True}
    assert variant_label(label, "mirror") == label and variant_label({"accept": ["wood"]}, "crop75") == {"accept": ["wood"]}
    assert check_variants(["mirror", " crop75", ""]) == ["mirror", "crop75"]
    for bad in (["mirror", "mirror"], ["rotate90"]):
        with pytest.raises(ValueError, match="variants"):
            check_variants(bad)


def test_bench_photos_run_as_variants(tiny, tmp_path, monkeypatch, capsys):
    """Each photo is also run as each variant, judged against its label as the variant changes
    it; the summary has the checks per variant and whether the graph held across them."""
    import diffproxy.optimize.bench as bench
    from diffproxy.commands.bench_cmd import main
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import run_photos, summarise, table
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 64)
    g = get_graph("bricks")
    p = g.spec.defaults()
    with torch.no_grad():
        save_png(render(g.maps(p, 128))[0], tmp_path / "wall.png")
    counts = g.layout_counts(g.spec.to_json(p))
    labels = {"wall": {"accept": ["bricks"], "rows": counts["rows"], "per_row": counts["per_row"], "relief": True}}
    rows = run_photos(tmp_path, 0, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None,
                      labels=labels, variants=["crop75", "mirror"])
    assert [(r["target"], r["variant"], r["photo"]) for r in rows] == [
        ("wall.png", "", "wall.png"), ("wall.png~crop75", "crop75", "wall.png"), ("wall.png~mirror", "mirror", "wall.png")]
    by = {r["variant"]: r for r in rows}
    assert by["crop75"]["checks"]["counts"]["rows"]["label"] == pytest.approx(0.75 * counts["rows"])
    assert by["mirror"]["checks"]["counts"]["rows"]["label"] == pytest.approx(counts["rows"])
    # the judge saw each variant's own photo: mirroring keeps the profiles' skew, the crop does not
    assert by["mirror"]["checks"]["polarity"]["photo"] == pytest.approx(by[""]["checks"]["polarity"]["photo"], abs=1e-4)
    assert by["crop75"]["checks"]["polarity"]["photo"] != pytest.approx(by[""]["checks"]["polarity"]["photo"], abs=1e-3)
    s = summarise(rows, ["match"])["per_method"]["match"]
    assert set(s["checks_by_variant"]) == {"", "crop75", "mirror"}
    assert all(c["family"][1] == 1 for c in s["checks_by_variant"].values())
    assert s["same_graph"] == [int(len({r["graph"] for r in rows}) == 1), 1]
    text = table(rows, summarise(rows, ["match"]))
    assert "photos as they are:" in text and "crop75:" in text and "the same graph for every variant" in text
    assert main(["--synthetic", "1", "--variants", "mirror", "--methods", "match"]) == 2
    assert "--variants goes with --photos" in capsys.readouterr().err
    assert main(["--synthetic", "0", "--photos", str(tmp_path), "--variants", "rotate90", "--methods", "match"]) == 2
    assert "variants must be" in capsys.readouterr().err


def test_seed_variants_run_the_photo_itself_with_the_seed_moved_on(tiny, tmp_path, monkeypatch):
    """``seedk`` runs the same photo file with the run's seed + k (nothing else changes); the
    summary counts, per check, the photos whose outcome was the same in every run."""
    import diffproxy.optimize.bench as bench
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import check_variants, run_photos, summarise, table, variant_seed
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 64)
    seen = []
    real = bench.proceduralize

    def spy(source, o):
        seen.append((source, o.seed))
        return real(source, o)

    monkeypatch.setattr(bench, "proceduralize", spy)
    g = get_graph("bricks")
    with torch.no_grad():
        save_png(render(g.maps(g.spec.defaults(), 128))[0], tmp_path / "wall.png")
    assert variant_seed("seed3") == 3 and variant_seed("mirror") == 0 and variant_seed("") == 0
    assert check_variants(["seed1", "seed2"]) == ["seed1", "seed2"]
    with pytest.raises(ValueError, match="variants"):
        check_variants(["seed9"])
    labels = {"wall": {"accept": ["bricks"], "relief": True}}
    rows = run_photos(tmp_path, 5, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None,
                      labels=labels, variants=["seed1", "seed2"])
    assert seen == [(str(tmp_path / "wall.png"), 5), (str(tmp_path / "wall.png"), 6), (str(tmp_path / "wall.png"), 7)]
    assert [r["target"] for r in rows] == ["wall.png", "wall.png~seed1", "wall.png~seed2"]
    s = summarise(rows, ["match"])["per_method"]["match"]
    family = [r["checks"]["family"]["ok"] for r in rows]
    assert s["same_outcome"]["family"] == [int(len(set(family)) == 1), 1]
    assert "the same outcome in every variant of a photo: family" in table(rows, summarise(rows, ["match"]))


def test_same_outcome_counts_photos_whose_check_never_flipped():
    from diffproxy.optimize.bench import _same_outcome

    def row(photo, family_ok, relief_ok):
        return {"target": photo, "photo": photo, "checks": {
            "family": {"ok": family_ok}, "relief": {"ok": relief_ok, "expected": photo != "steel"}}}

    rows = [row("wall", True, True), row("wall", True, False), row("wall", True, True),
            row("steel", False, True), row("steel", False, True), row("once", True, True)]
    out = _same_outcome(rows)
    # the wall's family held, its relief flipped; the steel failed its family every time; "once"
    # ran once and counts nowhere
    assert out == {"family": [2, 2], "relief_present": [0, 1], "relief_absent": [1, 1]}


def test_family_among_fitted_counts_an_accepted_graph_the_run_did_not_keep():
    """The kept graph is wrong, the accepted one was fitted beside it: the family check fails,
    ``family_among_fitted`` (what the user gets without a new fit) counts it."""
    from diffproxy.optimize.bench import _checks_summary

    rows = [{"checks": {"family": {"ok": False, "among_fitted": True}}},
            {"checks": {"family": {"ok": True, "among_fitted": True}}},
            {"checks": {"family": {"ok": False, "among_fitted": False}}}]
    out = _checks_summary(rows)
    assert out["family"] == [1, 3] and out["family_among_fitted"] == [2, 3]
    # rows judged before the field existed: no count rather than a wrong one
    assert "family_among_fitted" not in _checks_summary(rows + [{"checks": {"family": {"ok": True}}}])


def test_turned_variants_and_a_straightened_photo_s_label():
    """``tilt4`` / ``tilt7`` turn the photo and keep the inscribed square (counts scaled by its
    side); a photo the pipeline straightened is judged on the counts of the square it kept."""
    from diffproxy.optimize.bench import PHOTO_VARIANTS, scaled_label, variant_label
    from diffproxy.straighten import measure_tilt

    label = {"accept": ["bricks"], "rows": 8.0, "per_row": 4.0, "relief": True}
    share = 1 / (math.cos(math.radians(7)) + math.sin(math.radians(7)))
    assert variant_label(label, "tilt7")["rows"] == pytest.approx(8.0 * share)
    assert scaled_label(label, 0.5) == {**label, "rows": 4.0, "per_row": 2.0}
    from diffproxy.graphs import get_graph
    from diffproxy.render import render
    g = get_graph("bricks")
    with torch.no_grad():
        wall = render(g.maps(g.spec.defaults(), 256)).clamp(0, 1)
    for name, want in (("tilt4", -4.0), ("tilt7", 7.0)):
        img = PHOTO_VARIANTS[name][0](wall)
        assert img.shape[-1] == round(256 * PHOTO_VARIANTS[name][1])
        assert measure_tilt(img).degrees == pytest.approx(want, abs=0.3), name
