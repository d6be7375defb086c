"""Conditional critic for the adversarial term of stochastic generators' proxies.

It scores (pattern, parameters) pairs: a small convolutional encoder turns the image into a
feature vector ``h``; the parameters are mapped to a vector ``c`` of the same size; the score is
``out(h) + <h, c> / sqrt(C)`` (a projection discriminator, Miyato & Koyama 2018), so it judges
whether the image looks like a *real pattern for these parameters*, not just any real pattern.
Layers reuse the proxy network's equalised learning rate; convolutions wrap around (the
images are tiles, their edges are not borders).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .network import LRELU_GAIN, FullyConnected, wrap_pad


class Conv2dLayer(nn.Module):
    """Plain 3x3 (or 1x1) convolution, circular padding, equalised learning rate, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, activation: bool = True):
        super().__init__()
        self.kernel_size, self.activation = kernel_size, activation
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        x = F.conv2d(wrap_pad(x, pad) if pad else x, self.weight * self.weight_gain, self.bias)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class CriticBlock(nn.Module):
    """Two 3x3 convolutions, then 2x average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, in_channels)
        self.conv1 = Conv2dLayer(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv1(self.conv0(x)), 2)


class Critic(nn.Module):
    """``(image (B, 1, R, R), u (B, P) normalised params) -> score (B,)``.

    Args:
        num_params: P.
        resolution: R, a power of two >= 8; blocks halve it down to 4x4.
        channels: channels of the first block; doubled per block up to ``channel_max``.
    """

    def __init__(self, num_params: int, resolution: int, channels: int = 16, channel_max: int = 128):
        super().__init__()
        self.config = dict(num_params=num_params, resolution=resolution, channels=channels,
                           channel_max=channel_max)
        n_blocks = int(math.log2(resolution)) - 2
        chans = [min(channel_max, channels * 2 ** i) for i in range(n_blocks + 1)]
        self.from_gray = Conv2dLayer(1, chans[0], kernel_size=1)
        self.blocks = nn.Sequential(*[CriticBlock(a, b) for a, b in zip(chans[:-1], chans[1:])])
        c = chans[-1]
        self.fc = FullyConnected(c * 16, c)
        self.out = FullyConnected(c, 1, activation=False)
        self.cmap = nn.Sequential(FullyConnected(num_params, c), FullyConnected(c, c, activation=False))
        self.c = c

    def forward(self, img: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        h = self.fc(self.blocks(self.from_gray(img * 2.0 - 1.0)).flatten(1))
        proj = (h * self.cmap(u * 2.0 - 1.0)).sum(1) / math.sqrt(self.c)
        return self.out(h)[:, 0] + proj
