"""What the graph classifier and the parameter estimator share, so that neither imports the
other: their training renders (:func:`render_samples`) and their input standardisation
(:func:`standardize`).

Every sample is drawn from the graph's prior (``ParamSpec.sample(prior=True)``), rounded as the
graph uses it, rendered at ``res`` px through the flash renderer and kept as 8-bit sRGB, next to
its normalised parameters ``u`` (what the estimator learns to predict). Seeded: the same
``(graph, n, seed)`` gives the same samples.
"""

from __future__ import annotations

import torch

from .descriptor import to_gray3
from .render import render


@torch.no_grad()
def render_samples(graph, n: int, seed: int, res: int, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` prior samples of ``graph``: ``(n, 3, res, res)`` uint8 renders and ``(n, P)``
    normalised parameters (the rounded values the renders show)."""
    spec = graph.spec
    gen = torch.Generator().manual_seed(seed)
    images, us = [], []
    for i in range(0, n, batch):
        params = spec.round(spec.sample(min(batch, n - i), generator=gen, prior=True))
        img = render(graph.maps(params, res)).clamp(0, 1)
        images.append((img * 255).round().to(torch.uint8))
        us.append(spec.normalize(params))
    return torch.cat(images), torch.cat(us)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` -> every channel minus its mean, divided by the luminance's standard
    deviation (+1e-3): exposure- and contrast-free, colour ratios kept."""
    mean = x.mean((2, 3), keepdim=True)
    std = to_gray3(x)[:, 0].flatten(1).std(1).view(-1, 1, 1, 1) + 1e-3
    return (x - mean) / std
