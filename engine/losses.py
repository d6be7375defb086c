"""Deep-feature losses between a rendered image and a target photo (never per pixel).

* **style loss**: L1 between Gram matrices of descriptor features over the style layers
  (texture statistics: the pattern need not line up);
* **feature loss**: L1 between the feature maps themselves over the feature layers (spatially
  sensitive: used by Stage II, as in the DiffProxy paper, to pull a pattern's scale and layout);
* both **multi-scale**: the images are resized to each of ``scales`` (default 256, 128, 64) and
  the terms averaged over scales and layers;
* both **relative**: each layer's L1 is divided by the mean magnitude of the target's statistic
  at that layer and scale, so layers (and descriptors, whose activation scales differ by orders
  of magnitude) weigh alike and the paper's term weights (feature + 0.05 x style) keep their
  meaning whatever descriptor is in use.

Conventions: images ``(B, 3, H, W)`` sRGB in [0, 1]; a target is prepared once
(:meth:`DescriptorLoss.target`, batch 1, no gradient) and broadcast against a batch of
candidates; losses come back per sample, shape ``(B,)``, so a random search can score a batch
in one call and an optimiser calls ``.sum()``.

>>> from diffproxy.descriptor import RandomCNN
>>> loss = DescriptorLoss(RandomCNN(), scales=(32,))
>>> t = loss.target(torch.rand(1, 3, 32, 32))
>>> total, parts = loss(torch.rand(2, 3, 32, 32), t, w_feature=1.0, w_style=0.05)
>>> total.shape, sorted(parts)
(torch.Size([2]), ['feature', 'style'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .descriptor import Descriptor, resize, to_gray3

DEFAULT_SCALES = (256, 128, 64)


def gram(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)`` Gram matrix normalised by the number of positions."""
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


@dataclass
class TargetStats:
    """Precomputed descriptor statistics of one target image (batch 1, detached).

    ``features[scale][layer]``: ``(1, C, H, W)``; ``grams[scale][layer]``: ``(1, C, C)``;
    ``norms[scale]["f:" + layer | "g:" + layer]``: mean magnitude of that statistic (> 0).
    """

    scales: tuple[int, ...]
    gray: bool
    features: dict[int, dict[str, torch.Tensor]]
    grams: dict[int, dict[str, torch.Tensor]]
    norms: dict[int, dict[str, float]]
    standardize: bool = False
    lum_mean: float = 0.5
    lum_std: float = 0.2


class DescriptorLoss:
    """Multi-scale feature + style loss under one :class:`~diffproxy.descriptor.Descriptor`.

    Args:
        descriptor: frozen feature extractor.
        scales: square sizes (pixels) both images are resized to; each >= 16.
        gray: compare luminance only (both images turned grey before the descriptor).
        standardize: with ``gray``, map each candidate's luminance affinely to the target's mean
            and standard deviation first, so only *structure* is compared (exposure and
            contrast, which filters fix later, do not count). Used to rank graphs and in the
            random search.
    """

    def __init__(self, descriptor: Descriptor, scales: Sequence[int] = DEFAULT_SCALES,
                 gray: bool = False, standardize: bool = False) -> None:
        if standardize and not gray:
            raise ValueError("standardize=True needs gray=True (it standardises luminance)")
        if not isinstance(descriptor, Descriptor):
            raise ValueError(f"descriptor must be a Descriptor, got {type(descriptor).__name__}")
        scales = tuple(int(s) for s in scales)
        if not scales or any(s < 16 for s in scales):
            raise ValueError(f"scales must be a non-empty list of sizes >= 16 px, got {scales}")
        self.descriptor = descriptor
        self.scales = scales
        self.gray = bool(gray)
        self.standardize = bool(standardize)

    @property
    def info(self) -> dict:
        return {**self.descriptor.info, "scales": list(self.scales), "gray": self.gray,
                "standardize": self.standardize}

    def _prep(self, image: torch.Tensor, target: TargetStats | None = None) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"image must be (B, 3, H, W) in [0, 1], got {shape}")
        image = image.to(self.descriptor.mean.device, torch.float32)
        if not self.gray:
            return image
        g = to_gray3(image)
        if self.standardize and target is not None:
            mean = g.mean(dim=(1, 2, 3), keepdim=True)
            std = g.std(dim=(1, 2, 3), keepdim=True)
            # a flat candidate (std 0) stays flat at the target's mean
            g = (g - mean) / (std + 1e-4) * target.lum_std + target.lum_mean
        return g

    def _layers(self) -> tuple[str, ...]:
        d = self.descriptor
        return tuple(dict.fromkeys(d.style_layers + d.feature_layers))

    @torch.no_grad()
    def target(self, image: torch.Tensor) -> TargetStats:
        """Statistics of ``image`` ``(1, 3, H, W)`` at every scale (computed once, reused)."""
        image = self._prep(image)
        if image.shape[0] != 1:
            raise ValueError(f"image: a target is one image (batch 1), got batch {image.shape[0]}")
        feats, grams, norms = {}, {}, {}
        for s in self.scales:
            f = self.descriptor(resize(image, s), self._layers())
            feats[s] = {n: f[n] for n in self.descriptor.feature_layers}
            grams[s] = {n: gram(f[n]) for n in self.descriptor.style_layers}
            # the floor keeps a flat black target (all-zero statistics) from dividing by zero
            norms[s] = {**{"f:" + n: max(float(v.abs().mean()), 1e-4) for n, v in feats[s].items()},
                        **{"g:" + n: max(float(v.abs().mean()), 1e-6) for n, v in grams[s].items()}}
        return TargetStats(self.scales, self.gray, feats, grams, norms, self.standardize,
                           float(image[:, :1].mean()), float(image[:, :1].std()))

    def __call__(self, image: torch.Tensor, target: TargetStats, w_feature: float = 0.0,
                 w_style: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of each image in the batch against ``target``.

        Returns ``(total (B,), {"feature": (B,), "style": (B,)})`` where ``total =
        w_feature * feature + w_style * style``; a term whose weight is 0 is not computed
        (reported as zeros) to save time.
        """
        if (target.scales, target.gray, target.standardize) != (self.scales, self.gray, self.standardize):
            raise ValueError("target was prepared by a DescriptorLoss with other scales/gray/standardize settings")
        if w_feature < 0 or w_style < 0 or (w_feature == 0 and w_style == 0):
            raise ValueError(f"w_feature, w_style must be >= 0 and not both 0, got {w_feature}, {w_style}")
        image = self._prep(image, target)
        b = image.shape[0]
        d = self.descriptor
        layers = tuple(dict.fromkeys((d.style_layers if w_style else ()) + (d.feature_layers if w_feature else ())))
        feat = image.new_zeros(b)
        style = image.new_zeros(b)
        for s in self.scales:
            f = d(resize(image, s), layers)
            if w_feature:
                for n in d.feature_layers:
                    feat = feat + (f[n] - target.features[s][n]).abs().mean(dim=(1, 2, 3)) / target.norms[s]["f:" + n]
            if w_style:
                for n in d.style_layers:
                    style = style + (gram(f[n]) - target.grams[s][n]).abs().mean(dim=(1, 2)) / target.norms[s]["g:" + n]
        feat = feat / (len(self.scales) * len(d.feature_layers))
        style = style / (len(self.scales) * len(d.style_layers))
        total = w_feature * feat + w_style * style
        return total, {"feature": feat, "style": style}

    def evaluate(self, image: torch.Tensor, target: TargetStats) -> dict[str, float]:
        """Both terms for a batch-1 image, as plain floats (for reports)."""
        with torch.no_grad():
            _, parts = self(image, target, w_feature=1.0, w_style=1.0)
        return {k: float(v[0]) for k, v in parts.items()}
