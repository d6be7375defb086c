"""Hue / saturation / lightness adjustment."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, is_const, param, rowwise


def hsl(x: torch.Tensor, hue: Scalar = 0.0, saturation: Scalar = 0.0,
        lightness: Scalar = 0.0) -> torch.Tensor:
    r"""Shift hue, saturation and lightness in HSL space.

    Args:
        x: ``(B, 3, H, W)`` RGB in [0, 1].
        hue: hue shift in turns (1.0 = a full turn, so 1/3 maps red to green); any value.
        saturation: in [-1, 1]; a gain on HSL saturation: ``s' = clamp(s * (1 + saturation))``
            (-1 gives gray, 1 doubles the saturation; gray pixels stay gray).
        lightness: in [-1, 1]; ``l' = l + lightness * (1 - l)`` for a positive value (1 gives
            white), ``l' = l * (1 + lightness)`` for a negative one (-1 gives black).

    Returns:
        ``(B, 3, H, W)`` in [0, 1]; all-zero adjustments return ``x`` unchanged.

    Convention:
        Pointwise, HSL as in CSS (``L = (max + min) / 2``). The conversion back uses the
        continuous form ``c_n = L - a * clamp(min(k - 3, 9 - k), -1, 1)``,
        ``k = (n + 12 H) mod 12``, so the result is continuous in ``hue`` (periodic, no seam
        at red). Gray pixels (``max = min``) have no hue; their hue gradient is 0.

    Example:
        >>> red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
        >>> hsl(red, hue=1 / 3).flatten().tolist()        # red -> green
        [0.0, 1.0, 0.0]
        >>> hsl(red, saturation=-1.0).flatten().tolist()  # -> gray of the same lightness
        [0.5, 0.5, 0.5]
    """
    check_image(x, "x", (3,))
    for name, v in (("saturation", saturation), ("lightness", lightness)):
        if not isinstance(v, torch.Tensor) and not -1.0 <= float(v) <= 1.0:
            raise ValueError(f"{name}: expected a value in [-1, 1], got {v!r}")
    if is_const(hue, 0.0) and is_const(saturation, 0.0) and is_const(lightness, 0.0):
        return x
    h = param(hue, x, "hue")
    s = param(saturation, x, "saturation")
    lt = param(lightness, x, "lightness")
    return rowwise(lambda xs: _apply(xs, h, s, lt), x, grad_inputs=(h, s, lt))


def _toward(v: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """``v + amount * (1 - v)`` for ``amount >= 0`` (towards 1), ``v * (1 + amount)`` below 0."""
    up = v + amount * (1.0 - v)
    down = v * (1.0 + amount)
    return torch.where(amount >= 0, up, down)


def _apply(x: torch.Tensor, hue: torch.Tensor, sat: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    mx = torch.maximum(torch.maximum(r, g), b)
    mn = torch.minimum(torch.minimum(r, g), b)
    chroma = mx - mn
    light0 = (mx + mn) * 0.5
    colored = chroma > 0
    safe_c = torch.where(colored, chroma, torch.ones_like(chroma))
    denom = 1.0 - (mx + mn - 1.0).abs()
    sat0 = torch.where(colored, chroma / torch.where(colored, denom, torch.ones_like(denom)),
                       torch.zeros_like(chroma))
    # hue in sixths of a turn; the branch that holds the maximum decides
    h6 = torch.where(mx == r, (g - b) / safe_c,
                     torch.where(mx == g, (b - r) / safe_c + 2.0, (r - g) / safe_c + 4.0))
    h12 = h6 * 2.0 + hue * 12.0
    s1 = (sat0 * (1.0 + sat)).clamp(0.0, 1.0)
    l1 = _toward(light0, light).clamp(0.0, 1.0)
    a = s1 * torch.minimum(l1, 1.0 - l1)
    hm = torch.remainder(h12, 12.0)
    out = []
    for n in (0.0, 8.0, 4.0):
        # clamp(min(k - 3, 9 - k), -1, 1) with k = (hm + n) mod 12, as 3 - distance of k to 6
        # around the circle of 12 (k < 20 here): one remainder for the three channels
        k = hm + n
        dist = torch.minimum((k - 6.0).abs_(), (k - 18.0).abs_())
        out.append(l1 - a * (3.0 - dist).clamp_(-1.0, 1.0))
    return torch.cat(out, dim=1).clamp_(0.0, 1.0)


class HSL(nn.Module):
    """Module form of :func:`hsl` (stores ``hue``, ``saturation``, ``lightness``)."""

    def __init__(self, hue: Scalar = 0.0, saturation: Scalar = 0.0, lightness: Scalar = 0.0) -> None:
        super().__init__()
        self.hue, self.saturation, self.lightness = hue, saturation, lightness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hsl(x, self.hue, self.saturation, self.lightness)
