"""Blend a foreground over a background with a blend mode, an opacity and an optional mask."""

from __future__ import annotations

import torch
from torch import nn

from ._common import Scalar, check_image, clamp01, is_const, param, rowwise

MODES = ("copy", "add", "subtract", "multiply", "screen", "overlay", "max", "min")


def blend(fg: torch.Tensor, bg: torch.Tensor, mode: str = "copy", opacity: Scalar = 1.0,
          mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Blend ``fg`` over ``bg``.

    Args:
        fg: foreground ``(B, C, H, W)``, C = 1 or 3.
        bg: background ``(B, C', H, W)``, C' = 1 or 3 (a 1-channel input is broadcast to 3).
        mode: one of ``copy, add, subtract, multiply, screen, overlay, max, min``.
        opacity: float or ``(B,)`` tensor in [0, 1].
        mask: optional ``(B, 1, H, W)`` in [0, 1]; multiplies the opacity per pixel.

    Returns:
        ``(B, max(C, C'), H, W)`` in [0, 1]:
        ``bg + a * (clamp(m(fg, bg)) - bg)`` with ``a = clamp(opacity * mask)`` and

        ============ =====================================================
        copy         ``fg``
        add          ``bg + fg``
        subtract     ``bg - fg``
        multiply     ``bg * fg``
        screen       ``1 - (1 - bg) * (1 - fg)``
        overlay      ``2 bg fg`` if ``bg < 0.5`` else ``1 - 2 (1 - bg)(1 - fg)``
        max, min     per-channel maximum / minimum
        ============ =====================================================

    Convention:
        Pointwise (no border). The mode result is clamped to [0, 1] before mixing, with
        ``torch.clamp``: gradient 1 where the value is inside, 0 where it was cut (so the
        result never leaves [0, 1] and its gradients are exact). Overlay switches on the
        background (as in Photoshop and Substance).

    Example:
        >>> fg = torch.full((1, 1, 2, 2), 0.75); bg = torch.full((1, 1, 2, 2), 0.5)
        >>> blend(fg, bg, "add")[0, 0, 0, 0].item()
        1.0
        >>> blend(fg, bg, "multiply", opacity=0.5)[0, 0, 0, 0].item()
        0.4375
    """
    check_image(fg, "fg", (1, 3))
    check_image(bg, "bg", (1, 3))
    if fg.shape[0] != bg.shape[0] or fg.shape[-2:] != bg.shape[-2:]:
        raise ValueError(f"fg {tuple(fg.shape)} and bg {tuple(bg.shape)}: batch and size must match")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if mask is not None:
        check_image(mask, "mask", (1,))
    if mask is not None and (mask.shape[0] not in (1, fg.shape[0]) or mask.shape[-2:] != fg.shape[-2:]):
        raise ValueError(f"mask: expected shape (B, 1, H, W) = ({fg.shape[0]}, 1, "
                         f"{fg.shape[-2]}, {fg.shape[-1]}), got {tuple(mask.shape)}")
    alpha = None if mask is None and is_const(opacity, 1.0) else param(opacity, bg, "opacity")
    channels = max(fg.shape[1], bg.shape[1])

    def apply(f: torch.Tensor, b: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        mixed = clamp01(_mode(f, b, mode))
        if alpha is None:
            return mixed if mixed.shape[1] == channels else mixed.expand(-1, channels, -1, -1).contiguous()
        a = clamp01(alpha if m is None else alpha * m)
        return torch.lerp(b.expand_as(mixed) if b.shape[1] < channels else b,
                          mixed.expand(-1, channels, -1, -1), a)

    images = (fg, bg) if mask is None else (fg, bg, mask)
    return rowwise(apply, *images, grad_inputs=(alpha,))


def _mode(fg: torch.Tensor, bg: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "copy":
        return fg
    if mode == "add":
        return bg + fg
    if mode == "subtract":
        return bg - fg
    if mode == "multiply":
        return bg * fg
    if mode == "screen":
        return 1.0 - (1.0 - bg) * (1.0 - fg)
    if mode == "overlay":
        low = 2.0 * bg * fg
        high = 1.0 - 2.0 * (1.0 - bg) * (1.0 - fg)
        return torch.where(bg < 0.5, low, high)
    if mode == "max":
        return torch.maximum(bg, fg)
    return torch.minimum(bg, fg)


class Blend(nn.Module):
    """Module form of :func:`blend` (stores ``mode`` and ``opacity``)."""

    def __init__(self, mode: str = "copy", opacity: Scalar = 1.0) -> None:
        super().__init__()
        self.mode = mode
        self.opacity = opacity

    def forward(self, fg: torch.Tensor, bg: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return blend(fg, bg, self.mode, self.opacity, mask)
