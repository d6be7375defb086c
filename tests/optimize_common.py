"""What the optimize tests share: a test-sized preset (:data:`TINY`, registered by the ``tiny``
fixture), a small synthetic target (:func:`_setup`), an untrained proxy and a two-graph run."""

from __future__ import annotations

import pytest
import torch

from diffproxy.optimize import PRESETS, Options, Preset
from diffproxy.optimize.steps import LocalSearch, RandomSearch, Stage1, Stage2, Stage3a, plan

TINY = Preset("tiny", res=48, scales=(48, 24), rank_samples=3, rank_res=32, top_k=1, filter_samples=4,
              search_res=32, search_seconds=2.0, steps=plan(
                  stage1=Stage1(8, 0.05), search=RandomSearch(8), stage2=Stage2(8, 0.05, halve_every=4),
                  local=LocalSearch(2), stage3a=Stage3a(8, 0.05)))


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(PRESETS, "tiny", TINY)
    return TINY


def _setup(graph_name: str, seed: int = 0):
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.render import render

    g = get_graph(graph_name)
    gen = torch.Generator().manual_seed(seed)
    spec = g.spec
    u_target = spec.normalize(spec.sample(1, generator=gen))
    with torch.no_grad():
        target = render(g.maps(spec.round(spec.denormalize(u_target)), 64))
    fit = Fit(g, target, TINY, get_descriptor("random"), torch.device("cpu"))
    u_start = spec.normalize(spec.sample(1, generator=gen))
    return fit, u_target, u_start, gen


def _untrained_proxy(name, device="cpu", weights_dir=None):
    import diffproxy.proxies as proxies

    gen = proxies.resolve_generator(name)
    torch.manual_seed(0)
    net = proxies.ProxyNetwork(proxies.param_levels(gen.spec), resolution=32, channel_max=32,
                               w_dim=32, mapping_layers=2)
    return proxies.Proxy(gen, net.freeze(), info={"untrained": True}).to(device)


def _auto_two_graphs(**kw):
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    return photo, Options(graph="auto", preset="tiny", top_k=2, device="cpu", res_out=64, seed=3,
                          threads=1, detail=False, **kw)
