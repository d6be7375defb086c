"""Graph choice and start point (MATch's "graph retrieval", made cheap).

Every candidate graph renders its defaults and ``rank_samples`` parameter sets drawn from its
artist prior (all parameters, filters included) at a small resolution; each render is scored in
descriptor space against the photo by the style loss on *standardised luminance* (each render's
grey levels mapped to the photo's mean and contrast): structure only, because filters fix colour
and exposure later while nothing fixes a wrong pattern. A graph's score is the mean of its
``BEST_OF`` best samples (less noisy than the single best). Graphs are ranked by it; a graph's
optimisation starts from its sample with the lowest ``structure + COLOUR_WEIGHT x colour style``.
The ranking (name, score, rank) is part of every result.

With the graph classifier (``diffproxy.classifier``, shipped weights; ``classify=True``, the
default) the graphs are *ordered* by its probability that the photo shows each of them, the
descriptor score breaking ties, and :func:`keep_likely` drops from the optimised top ``k`` every
graph less than ``KEEP_FRACTION`` as likely as the first. Why: the descriptor score put the
right graph first for 1-3 of 11 labelled real photos (docs/BENCHMARKS.md, sessions 5-9), the
shipped classifier for 8 (session 10), and the fitted loss that picks among the optimised
graphs prefers the most flexible graph whatever the photo shows, so a graph the classifier
thinks unlikely should not get the chance. With the classifier, ``proceduralize`` renders and
scores only the graphs it can go on to optimise (``rank_graphs``' ``score_only``; the others'
samples are drawn and dropped, so every random stream after the ranking is the same; on one
photo at ``fast`` the ranking took 4.9 of 24.9 s scoring all 20 graphs). Without usable
weights (missing, or trained before a graph was added) the ranking falls back to the
descriptor score and says so.

Measured on 21 synthetic targets (3 per graph, 7 graphs, random descriptor, 16 samples per
graph at 64 px): the generating graph ranked first for 16 (76 %); colour-blind scoring beat
mixing colour into the score (13-15 of 21). Renders are supersampled like the optimisation's
(``supersample``, see ``Fit.render``): on 24 targets (3 per graph, 8 graphs, 12 samples per
graph at 64 px) the generating graph came first for 15 with 2x supersampling, 12 without.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..descriptor import Descriptor, resize
from ..device import render_batch
from ..losses import DescriptorLoss
from ..render import render
from .control import Reporter

COLOUR_WEIGHT = 0.5
BEST_OF = 3
KEEP_FRACTION = 0.5  # keep_likely: a judgement (a clear second choice), not tuned on the photos
UNSURE = 0.5  # keep_likely: a first choice under this is more likely wrong than right by its own account


@dataclass
class Candidate:
    """One graph's ranking entry: ``u`` (1, P) normalised start point, ``score`` (descriptor
    distance, lower is better), ``samples``: how many parameter sets were scored,
    ``probability``: the classifier's (``None`` without it)."""

    name: str
    score: float | None  # None: not scored (:func:`rank_graphs`' ``score_only``)
    u: torch.Tensor | None
    samples: int
    seconds: float
    probability: float | None = None

    def as_dict(self, rank: int) -> dict:
        return {"graph": self.name, "score": self.score, "rank": rank, "samples": self.samples,
                "seconds": round(self.seconds, 3), "probability": self.probability}

    def label(self) -> str:
        """``name score`` or, with the classifier, ``name p=0.87 (score)`` (:func:`label`)."""
        return label(self.name, self.score, self.probability)


def label(graph: str, score: float | None, probability: float | None) -> str:
    """A ranking entry in words: ``name score`` or, with the classifier, ``name p=0.87
    (score)``; a graph left unscored (``score_only``) says so."""
    shown = "not scored" if score is None else f"{score:.3f}"
    return f"{graph} {shown}" if probability is None else f"{graph} p={probability:.2f} ({shown})"


@torch.no_grad()
def score_graph(graph, photo: torch.Tensor, descriptor: Descriptor, n: int, res: int,
                generator: torch.Generator, reporter: Reporter, device: torch.device,
                batch: int | None = None, offset: int = 0, total: int | None = None,
                supersample: int = 1) -> Candidate:
    """Score ``graph`` by its defaults plus ``n`` prior samples rendered at ``res``
    (progress steps ``offset + i`` of ``total``, so a ranking of many graphs is one bar)."""
    batch = batch or render_batch(device)
    t0 = time.perf_counter()
    scales = (res, max(res // 2, 16))
    gray_loss = DescriptorLoss(descriptor, scales, gray=True, standardize=True)
    col_loss = DescriptorLoss(descriptor, scales, gray=False)
    target = resize(photo.to(device, torch.float32), res)
    tg, tc = gray_loss.target(target), col_loss.target(target)
    spec = graph.spec
    samples = spec.sample(n, generator=generator, prior=True) if n > 0 else None
    u = spec.normalize(spec.defaults()).to(device)
    if samples is not None:
        u = torch.cat([u, spec.normalize(samples).to(device)], 0)
    structure, colour = torch.empty(u.shape[0]), torch.empty(u.shape[0])
    total = total or u.shape[0]
    for i in range(0, u.shape[0], batch):
        reporter.step("rank", offset + i, total, None)
        params = spec.round(spec.denormalize(u[i:i + batch]))
        img = render(graph.maps(params, res * supersample))
        if supersample > 1:
            img = resize(img, res)
        structure[i:i + batch] = gray_loss(img, tg, w_feature=0.0, w_style=1.0)[0].cpu()
        colour[i:i + batch] = col_loss(img, tc, w_feature=0.0, w_style=1.0)[0].cpu()
    score = float(structure.sort().values[:BEST_OF].mean())
    best = int(torch.argmin(structure + COLOUR_WEIGHT * colour))
    return Candidate(graph.name, score, u[best:best + 1].clone(), u.shape[0], time.perf_counter() - t0)


def rank_graphs(graphs, photo: torch.Tensor, descriptor: Descriptor, n: int, res: int,
                generator: torch.Generator, reporter: Reporter, device: torch.device,
                supersample: int = 1, classify: bool = True, score_only: int | None = None) -> list[Candidate]:
    """Candidates for ``graphs`` sorted best first (see the module docstring): by the graph
    classifier's probability when ``classify`` and it knows every graph (more than one), else by
    the descriptor score.

    ``score_only``: with the classifier's order, only its first ``score_only`` graphs (and any
    whose probability ties the last of them) are rendered and scored: the others cannot be
    optimised, so their score would only be reported. Their prior samples are still drawn, so
    ``generator`` goes on exactly as if every graph had been scored (the optimisation's random
    streams, and so its results, are the same); their ``score`` and ``u`` are None."""
    p = None
    if classify and len(graphs) > 1:
        from ..classifier import ClassifierUnavailable, graph_probabilities

        try:
            p = graph_probabilities(photo, [g.name for g in graphs], device)
        except ClassifierUnavailable as e:
            reporter.message("rank", f"{e}; ranking by the descriptor score alone")
    wanted = {g.name for g in graphs}
    if p is not None and score_only is not None and score_only < len(graphs):
        order = sorted(p.values(), reverse=True)
        last = order[max(score_only, 1) - 1]
        wanted = {name for name, v in p.items() if v >= last}
    out = []
    total = len(wanted) * (n + 1)
    reporter.message("rank", f"scoring {len(wanted)} graph(s) on {n + 1} parameter sets each")
    k = 0
    for g in graphs:
        if g.name not in wanted:  # the same draws, nothing rendered
            if n > 0:
                g.spec.sample(n, generator=generator, prior=True)
            out.append(Candidate(g.name, None, None, 0, 0.0))
            continue
        out.append(score_graph(g, photo, descriptor, n, res, generator, reporter, device,
                               offset=k * (n + 1), total=total, supersample=supersample))
        k += 1
    reporter.step("rank", total, total, None)
    out.sort(key=lambda c: float("inf") if c.score is None else c.score)
    if p is not None:
        for c in out:
            c.probability = p[c.name]
        out.sort(key=lambda c: -c.probability)  # stable: equal probabilities keep score order
    return out


def most_kept(k: int) -> int:
    """The most graphs :func:`keep_likely` can keep of a preset's ``k``."""
    return k + 1 if k == 1 else k


def keep_likely(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The first ``k`` candidates, less those under ``KEEP_FRACTION`` x the first's probability
    (all ``k`` without probabilities). The reject option: when the classifier's first choice is
    under ``UNSURE`` (it thinks it more likely wrong than right), one more graph may be fitted,
    ``k + 1``: with 17 graphs, several of them close (stone, plaster, aggregate; wood and wood
    planks), a real photo often gets no clear first choice (docs/BENCHMARKS.md, session 22).
    Only where one graph would be fitted (``fast``): two graphs already hold a second opinion,
    and a third takes a second round on a 2-core CPU (balanced 173.6 s wall against 79 s with
    one graph, over its 120 s goal; session 23)."""
    if (k == 1 and candidates and candidates[0].probability is not None
            and candidates[0].probability < UNSURE):
        k += 1
    top = candidates[:k]
    if not top or top[0].probability is None:
        return top
    return [c for c in top if c.probability is not None and c.probability >= KEEP_FRACTION * top[0].probability]
