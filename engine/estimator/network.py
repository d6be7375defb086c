"""The parameter estimator's network: one photo -> every parameter of a given graph.

A small CNN shared by all graphs reads the image standardised (every channel minus its mean,
over the luminance contrast: the *pattern*), pools its features by their spatial mean and
standard deviation (position-free, any tiling) and hands them, together with the image's own
per-channel mean and standard deviation (the *colours*, which the filter parameters set), to one
head per graph, which predicts that graph's parameters in normalised [0, 1] space.

Unlike the graph classifier, it is trained on renders seen whole (no zoom): the counts that set
a pattern's scale (brick rows, tiles, threads) are what it must read off the image.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..netdata import standardize

INPUT_RES = 128  # px the network sees (an image is area-resized to it)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, padding_mode="circular"), nn.BatchNorm2d(cout), nn.ReLU())


def prepare(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` sRGB [0, 1] -> ``(B, 3, INPUT_RES, INPUT_RES)`` (area resize; a
    non-square image is centre-cropped first)."""
    h, w = image.shape[-2:]
    s = min(h, w)
    x = image[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].float()
    if s == INPUT_RES:
        return x
    mode = "area" if s > INPUT_RES else "bilinear"
    return F.interpolate(x, size=(INPUT_RES, INPUT_RES), mode=mode, **({} if mode == "area" else {"align_corners": False}))


class EstimatorNet(nn.Module):
    """``(B, 3, INPUT_RES, INPUT_RES)`` sRGB [0, 1] and a graph name -> ``(B, P)`` normalised
    parameters of that graph (sigmoid outputs).

    Args:
        graphs: ``{graph name: number of parameters}`` (saved with the weights).
        widths: channels of the convolution blocks; a block wider than the one before it halves
            the resolution.
        hidden: width of each graph's head.
    """

    def __init__(self, graphs: Mapping[str, int], widths: Sequence[int] = (16, 32, 64, 64, 128, 128),
                 hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.config = {"graphs": dict(graphs), "widths": list(widths), "hidden": hidden, "dropout": dropout}
        blocks, cin = [], 3
        for w in widths:
            blocks.append(_block(cin, w, 2 if w != cin else 1))
            cin = w
        self.features = nn.Sequential(*blocks)
        self.heads = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(2 * cin + 6, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, p))
            for name, p in graphs.items()})

    @property
    def graphs(self) -> list[str]:
        return list(self.config["graphs"])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2 C + 6)``: pooled pattern features and the image's colour statistics."""
        h = self.features(standardize(x))
        colour = torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)
        return torch.cat([h.mean((2, 3)), h.std((2, 3)), colour], 1)

    def head(self, graph: str, e: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.heads[graph](e))

    def forward(self, x: torch.Tensor, graph: str) -> torch.Tensor:
        return self.head(graph, self.embed(x))
