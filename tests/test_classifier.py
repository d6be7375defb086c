"""The graph classifier: its shipped weights, views, augmentation, files, and the ranking it orders."""

from __future__ import annotations

import json

import pytest
import torch

from diffproxy import classifier as C
from diffproxy.classifier.augment import augment, hue_rotate
from diffproxy.classifier.network import VIEW_RES, GraphClassifierNet, views
from diffproxy.optimize.choose import Candidate, keep_likely, rank_graphs
from diffproxy.optimize.control import Reporter


def _renders(names, per_graph, seed, res=256):
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    out = []
    for k, name in enumerate(names):
        g = get_graph(name)
        gen = torch.Generator().manual_seed(seed + k)
        with torch.no_grad():
            out.append(render(g.maps(g.spec.round(g.spec.sample(per_graph, generator=gen)), res)))
    return out


def test_shipped_classifier_knows_every_graph():
    """Every member of the shipped committee knows every registered graph."""
    from diffproxy.graphs import GRAPHS

    paths = C.shipped_paths()
    assert paths[0] == C.WEIGHTS_PATH and len(paths) >= 2, paths
    for path in paths:
        net, meta = C.load_classifier(path)
        missing = sorted(set(GRAPHS) - set(net.graphs))
        assert not missing, (f"graph(s) {missing} added since {path.name} was trained: run "
                             f"`diffproxy classifier-train --seed {meta['training']['seed']} --force`")
        assert meta["training"]["val_accuracy"] >= 0.85, meta["training"]
        assert C.member_path(meta["training"]["seed"]) == path  # the file is where its seed's retraining writes


def test_shipped_classifier_names_the_graph_of_fresh_renders():
    """Two prior draws per graph from a seed the training never used: at least 13 of 16 right
    (the validation set scored 0.9+; a broken network or preprocessing scores ~2)."""
    from diffproxy.graphs import GRAPHS

    names = list(GRAPHS)
    right, wrong = 0, []
    for name, imgs in zip(names, _renders(names, 2, seed=9000)):
        for i in range(len(imgs)):
            p = C.graph_probabilities(imgs[i:i + 1], names)
            assert sum(p.values()) == pytest.approx(1.0, abs=1e-5)
            best = max(p, key=p.get)
            right += best == name
            if best != name:
                wrong.append((name, best))
    assert right >= 13, wrong


def test_probabilities_ignore_exposure_and_contrast():
    net, _ = C.load_classifier()
    img = _renders(["bricks"], 1, seed=3)[0]
    a = C.probabilities(net, img)
    b = C.probabilities(net, 0.3 + 0.5 * img)  # darker, flatter, lifted blacks
    assert max(abs(a[k] - b[k]) for k in a) < 0.01  # exact but for the 1e-3 added to the contrast


def test_views_cover_the_photo_at_three_zooms():
    img = torch.rand(1, 3, 300, 300)
    v = views(img)
    assert v.shape == (88, 3, VIEW_RES, VIEW_RES)  # 11 crops in 8 orientations
    flat = torch.full((1, 3, 512, 512), 0.4)
    assert torch.allclose(views(flat), torch.full_like(views(flat), 0.4))


def test_augment_is_seeded_and_photo_like():
    x = _renders(["wood"], 4, seed=1)[0]
    a = augment(x, torch.Generator().manual_seed(7))
    b = augment(x, torch.Generator().manual_seed(7))
    c = augment(x, torch.Generator().manual_seed(8))
    assert a.shape == (4, 3, VIEW_RES, VIEW_RES) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    grey = torch.full((1, 3, 8, 8), 0.5)
    assert torch.allclose(hue_rotate(grey, torch.tensor([2.0])), grey, atol=1e-5)  # no chroma: no hue


def test_weights_round_trip_and_refusals(tmp_path):
    net = GraphClassifierNet(["bricks", "wood"], widths=(8, 16))
    path = C.save_classifier(tmp_path / "c.safetensors", net, {"val_accuracy": 0.5})
    back, meta = C.load_classifier(path)
    assert back.graphs == ["bricks", "wood"] and meta["training"] == {"val_accuracy": 0.5}
    for k, v in net.state_dict().items():  # stored in half precision, read back as float32
        want = v.half().float() if v.is_floating_point() else v
        assert torch.equal(back.state_dict()[k], want), k
    x = torch.rand(2, 3, VIEW_RES, VIEW_RES)
    with torch.no_grad():
        assert torch.allclose(back(x), net.eval()(x), atol=1e-2)
    with pytest.raises(C.ClassifierUnavailable, match="classifier-train"):
        C.load_classifier(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a weights file")
    with pytest.raises(C.ClassifierUnavailable, match="cannot be read.*classifier-train"):
        C.load_classifier(bad)
    from diffproxy.proxies.checkpoint import weights_path
    with pytest.raises(C.ClassifierUnavailable, match="not a graph classifier file"):
        C.load_classifier(weights_path("brick"))  # a proxy's weights


def test_the_committee_averages_its_members_and_names_one_that_lacks_a_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "WEIGHTS_PATH", tmp_path / "graph_classifier.safetensors")
    monkeypatch.setattr(C, "_CACHE", {})
    names = ["bricks", "wood", "stone"]
    torch.manual_seed(0)
    first = GraphClassifierNet(names, widths=(8,))
    second = GraphClassifierNet(names, widths=(8,))
    C.save_classifier(C.member_path(0), first, {"seed": 0})
    C.save_classifier(C.member_path(2), second, {"seed": 2})
    (tmp_path / "graph_classifier_seedx.safetensors").write_bytes(b"not a member")  # not a seed: left out
    assert C.shipped_paths() == [tmp_path / "graph_classifier.safetensors", tmp_path / "graph_classifier_seed2.safetensors"]
    img = torch.rand(1, 3, 96, 96)
    a = C.graph_probabilities(img, names, path=C.member_path(0))
    b = C.graph_probabilities(img, names, path=C.member_path(2))
    both = C.graph_probabilities(img, names)
    assert a != b
    for n in names:
        assert both[n] == pytest.approx((a[n] + b[n]) / 2, abs=1e-6)
    sub = C.graph_probabilities(img, ["bricks", "wood"])  # renormalised over the graphs asked for
    assert sum(sub.values()) == pytest.approx(1.0) and sub["bricks"] / sub["wood"] == pytest.approx(both["bricks"] / both["wood"])
    d = C.describe()
    assert d["files"] == ["graph_classifier.safetensors", "graph_classifier_seed2.safetensors"]
    assert [len(h) for h in d["sha256"]] == [16, 16] and d["graphs"] == names
    C.save_classifier(C.member_path(2), GraphClassifierNet(["bricks", "wood"], widths=(8,)), {"seed": 2})
    monkeypatch.setattr(C, "_CACHE", {})
    with pytest.raises(C.ClassifierUnavailable, match="graph_classifier_seed2.safetensors.*stone.*--seed 2 --force"):
        C.graph_probabilities(img, names)


def test_ranking_scores_only_the_graphs_that_can_be_optimised():
    """``score_only``: the classifier's first graphs are scored exactly as when every graph is,
    the others are not rendered, and the random stream goes on as if they had been (the fits
    that follow are the same)."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph

    graphs = [get_graph(n) for n in ("paving", "wood", "bricks", "leather")]
    photo = _renders(["bricks"], 1, seed=11, res=128)[0]
    desc = get_descriptor("random")

    def rank(score_only):
        gen = torch.Generator().manual_seed(0)
        out = rank_graphs(graphs, photo, desc, 4, 48, gen, Reporter(), torch.device("cpu"),
                          score_only=score_only)
        return out, torch.rand(8, generator=gen)

    every, after_every = rank(None)
    two, after_two = rank(2)
    assert [c.name for c in two[:2]] == [c.name for c in every[:2]]
    for a, b in zip(every[:2], two[:2]):
        assert a.score == b.score and torch.equal(a.u, b.u) and a.samples == b.samples == 5
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
    assert [(c.score, c.u, c.samples) for c in two[2:]] == [(None, None, 0)] * 2
    assert "not scored" in two[-1].label() and two[-1].as_dict(4)["score"] is None
    assert torch.equal(after_every, after_two)  # the same draws made either way
    assert all(c.score is not None for c in rank(len(graphs))[0])


def test_a_graph_the_classifier_does_not_know_is_refused(tmp_path):
    path = C.save_classifier(tmp_path / "c.safetensors", GraphClassifierNet(["bricks", "wood"], widths=(8,)), {})
    with pytest.raises(C.ClassifierUnavailable, match="without graph.*stone"):
        C.graph_probabilities(torch.rand(1, 3, 64, 64), ["bricks", "stone"], path=path)


def test_ranking_is_ordered_by_the_classifier_and_falls_back_without_it(monkeypatch):
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph

    graphs = [get_graph(n) for n in ("paving", "wood", "bricks")]
    photo = _renders(["bricks"], 1, seed=11, res=128)[0]
    desc = get_descriptor("random")
    rank = lambda classify, rep: rank_graphs(graphs, photo, desc, 4, 48, torch.Generator().manual_seed(0),  # noqa: E731
                                             rep, torch.device("cpu"), classify=classify)
    with_cls = rank(True, Reporter())
    assert with_cls[0].name == "bricks" and with_cls[0].probability > 0.5
    probs = [c.probability for c in with_cls]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert with_cls[0].as_dict(1)["probability"] == probs[0] and "p=" in with_cls[0].label()

    without = rank(False, Reporter())
    assert [c.probability for c in without] == [None] * 3
    assert [c.score for c in without] == sorted(c.score for c in without)

    monkeypatch.setattr(C, "WEIGHTS_PATH", C.WEIGHTS_PATH.with_name("gone.safetensors"))
    monkeypatch.setattr(C, "_CACHE", {})
    events = []
    fallback = rank(True, Reporter(events.append, interval=0.0))
    assert [c.name for c in fallback] == [c.name for c in without]
    assert any("no graph classifier" in e["message"] and "descriptor score alone" in e["message"] for e in events)


def _cand(name, p):
    return Candidate(name, 0.1, torch.zeros(1, 1), 1, 0.0, p)


def test_keep_likely_leaves_out_unlikely_graphs():
    ranked = [_cand("bricks", 0.6), _cand("paving", 0.25), _cand("wood", 0.1)]
    assert [c.name for c in keep_likely(ranked, 2)] == ["bricks"]
    assert [c.name for c in keep_likely([_cand("a", 0.4), _cand("b", 0.3), _cand("c", 0.1)], 3)] == ["a", "b"]
    assert [c.name for c in keep_likely([_cand("a", None), _cand("b", None)], 2)] == ["a", "b"]
    # unsure (first choice under UNSURE): one more graph, still only the likely ones
    assert [c.name for c in keep_likely([_cand("a", 0.4), _cand("b", 0.3), _cand("c", 0.1)], 1)] == ["a", "b"]
    assert [c.name for c in keep_likely([_cand("a", 0.45), _cand("b", 0.1)], 1)] == ["a"]
    assert [c.name for c in keep_likely([_cand("a", 0.6), _cand("b", 0.35)], 1)] == ["a"]
    # ... only where one graph would be fitted: two already give a second opinion
    assert [c.name for c in keep_likely([_cand("a", 0.32), _cand("b", 0.23), _cand("c", 0.17)], 2)] == ["a", "b"]


def test_train_command_writes_a_loadable_classifier_and_keeps_an_existing_file(tmp_path, capsys):
    from diffproxy.cli import main

    out = tmp_path / "c.safetensors"
    args = ["classifier-train", "--out", str(out), "--graphs", "bricks,wood", "--samples", "4",
            "--val-samples", "2", "--epochs", "1", "--seed", "3"]
    assert main(args) == 0
    net, meta = C.load_classifier(out)
    assert net.graphs == ["bricks", "wood"]
    t = meta["training"]
    assert t["samples"] == 4 and t["epochs"] == 1 and len(t["history"]) == 1
    assert set(t["val_accuracy_per_graph"]) == {"bricks", "wood"} and 0 <= t["val_accuracy"] <= 1
    before = out.read_bytes()
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["classifier-train", "--out", str(tmp_path / "x.safetensors"), "--graphs", "bricks,nope"]) == 2
    assert "unknown graph" in capsys.readouterr().err
    shipped = C.member_path(1)  # without --out, --seed 1 would replace the shipped committee's second member
    assert shipped.exists() and main(["classifier-train", "--seed", "1", "--graphs", "bricks,wood"]) == 2
    assert str(shipped) in capsys.readouterr().err
    json.dumps(t)


def test_probabilities_do_not_depend_on_which_way_round_the_photo_is():
    """The views hold every crop in all eight orientations, so a photo turned or mirrored gets
    its own probabilities (the network was trained on every orientation)."""
    net, _ = C.load_classifier()
    img = _renders(["bricks"], 1, seed=5)[0][:, :, :, :]
    a = C.probabilities(net, img)
    for turned in (img.flip(-1), img.flip(-2), img.flip(-2, -1), torch.rot90(img, 1, (2, 3)),
                   torch.rot90(img, 1, (2, 3)).flip(-1)):
        b = C.probabilities(net, turned.contiguous())
        assert max(abs(a[k] - b[k]) for k in a) < 1e-5
