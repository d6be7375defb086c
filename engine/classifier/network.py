"""The graph classifier's network and how a photo is shown to it.

A small CNN (:class:`GraphClassifierNet`) maps a ``(B, 3, S, S)`` sRGB image in [0, 1] to one
logit per material graph. Its input is standardised per image (``netdata.standardize``: every
channel's mean removed, divided by the luminance contrast), so exposure and contrast do not
matter; hue and saturation are varied in training (``augment``), so colour hardly does either:
it answers *which pattern is this*, not *which colour*. Features are pooled by their spatial
mean and standard deviation (texture statistics: position-free, any tiling).

A photo is judged on several views (:func:`views`: the whole photo and crops at two zooms, each
also turned by 90 degrees), and the class probabilities are averaged.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..descriptor import resize
from ..netdata import standardize

VIEW_RES = 96  # px the network sees
SOURCE_RES = 256  # px a photo (or a training render) is brought to before views/crops
VIEW_SIZES = (256, 192, 128)  # crop sides of the SOURCE_RES image judged by ``views``


class _Block(nn.Sequential):
    """3x3 convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU())


class GraphClassifierNet(nn.Module):
    """``(B, 3, S, S)`` sRGB [0, 1] -> ``(B, len(graphs))`` logits.

    Args:
        graphs: the graph names, in logit order (saved with the weights).
        widths: channels of the convolution blocks; a block whose width differs from the one
            before it halves the resolution (stride 2).
    """

    def __init__(self, graphs: Sequence[str], widths: Sequence[int] = (24, 48, 48, 96, 96, 128, 128),
                 dropout: float = 0.3):
        super().__init__()
        self.config = {"graphs": list(graphs), "widths": list(widths), "dropout": dropout}
        blocks, cin = [], 3
        for w in widths:
            blocks.append(_Block(cin, w, 2 if w != cin else 1))
            cin = w
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * cin, len(graphs)))

    @property
    def graphs(self) -> list[str]:
        return list(self.config["graphs"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(standardize(x))
        return self.head(torch.cat([h.mean((2, 3)), h.std((2, 3))], 1))


def views(image: torch.Tensor) -> torch.Tensor:
    """``(1, 3, H, W)`` photo -> ``(V, 3, VIEW_RES, VIEW_RES)``: the whole image and, at each
    smaller crop side of :data:`VIEW_SIZES`, its four corners and its centre, each view in all
    eight orientations (turned by 0-3 quarter turns, mirrored or not; 88 views).

    Why all eight: the network was trained on renders turned and mirrored at random
    (:func:`~.augment.augment`), so no orientation is its own; and since the crops map onto each
    other under a turn or a mirror of the photo, the averaged probabilities of a photo turned or
    mirrored are the photo's own. With one orientation (and a quarter turn) the same floor tiles
    mirrored got ceramic tiles 0.33 against 0.28 and the concrete turned half round went to
    aggregate (docs/BENCHMARKS.md, session 35)."""
    x = resize(image[:1], SOURCE_RES)
    out = []
    for s in VIEW_SIZES:
        m = SOURCE_RES - s
        corners = [(0, 0)] if m == 0 else [(0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2)]
        for i, j in corners:
            crop = F.interpolate(x[:, :, i:i + s, j:j + s], size=(VIEW_RES, VIEW_RES), mode="area")
            for c in (crop, crop.flip(3)):
                out += [torch.rot90(c, k, (2, 3)) for k in range(4)]
    return torch.cat(out)


@torch.no_grad()
def probabilities(net: GraphClassifierNet, image: torch.Tensor) -> dict[str, float]:
    """``{graph name: probability}`` of a ``(1, 3, H, W)`` sRGB photo: the softmax averaged over
    its :func:`views`."""
    net.eval()
    device = next(net.parameters()).device
    p = F.softmax(net(views(image.to(device, torch.float32))), 1).mean(0).cpu()
    return {name: float(p[k]) for k, name in enumerate(net.graphs)}
