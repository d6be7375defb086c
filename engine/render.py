"""Differentiable flash renderer: material maps -> the photo a phone would take with its flash on.

The material sample is a flat square lying in the plane ``z = 0``; a pinhole camera and a point
light sit at the same place, ``(0, 0, distance)``, straight above the sample's centre, looking
down (``-z``). This is the capture setup of MATch / DiffProxy: a flash photo of a flat sample.

Conventions
-----------
* **Frames.** World: ``x`` right, ``y`` up (towards the top of the image), ``z`` out of the
  sample towards the camera. The texture's tangent frame coincides with it: tangent ``+x``
  (increasing column), bitangent ``+y`` (towards row 0, the top of the image), normal ``+z``.
* **Normal maps** are OpenGL tangent space (green = +Y = up in the image), encoded
  ``n * 0.5 + 0.5``; decoded as ``2 * enc - 1`` and renormalised. A (0.5, 0.5, 0.5) texel
  (zero-length normal) renders black instead of producing NaNs.
* **Geometry and units.** Lengths are in one arbitrary unit (think metres). The sample fills the
  camera's field of view exactly: its side is ``2 * distance * tan(fov_deg / 2)``, and render pixel
  ``(i, j)`` sees map texel ``(i, j)``; pixel centres sit at ``(j + 0.5) / W`` across the sample.
  Because the sample size scales with ``distance``, only ``light_intensity / distance**2`` sets the
  exposure, while ``fov_deg`` sets how fast light falls off towards the corners and how far the
  specular highlight spreads. Defaults: ``fov_deg=50`` (a phone's main camera with the sample
  cropped to fill the frame), ``distance=0.3``, ``light_intensity=0.25``, so a white Lambertian
  sample renders at linear 0.88 in the centre (``0.25 / 0.3**2 / pi``).
* **Radiometry.** Outgoing radiance per pixel
  ``L = (f_diffuse + f_specular) * light_intensity * light_color * max(n.l, 0) / r**2``
  (point light, inverse-square falloff, cosine term), in linear RGB.
* **BRDF.** Metallic workflow: ``base = srgb_to_linear(basecolor)``,
  ``f0 = lerp(0.04, base, metallic)``, ``f_diffuse = base * (1 - metallic) / pi`` (Lambert, no
  Fresnel weighting), ``f_specular = D * G2 * F / (4 n.l n.v)`` with the GGX / Trowbridge-Reitz
  NDF ``D``, ``alpha = roughness**2``, Schlick Fresnel ``F`` and the *height-correlated* Smith
  masking-shadowing ``G2`` (Heitz 2014), folded into the visibility term ``V = G2 / (4 n.l n.v)``.
  With a co-located flash ``h = l = v``, so ``F = f0`` exactly; the code keeps the general form.
* **Roughness** is clamped to ``[MIN_ROUGHNESS, 1]`` (0.02, ``alpha >= 4e-4``) before use so a
  mirror-smooth texel stays finite; below the clamp its gradient is zero.
* **Colour spaces.** ``basecolor`` arrives sRGB-encoded and is decoded with the exact piecewise
  sRGB curve; ``roughness``, ``metallic`` and ``normal`` are linear data. The output is linear
  radiance encoded to sRGB after a **plain clamp to [0, 1]** (no tonemapping curve: highlights
  clip as they do in a flash photo). Gradients are zero where the clamp is active.
* **Parameters** ``fov_deg``, ``distance`` and ``light_intensity`` accept a python float or a
  ``(B,)`` tensor; ``light_color`` a 3-tuple or a ``(B, 3)`` / ``(3,)`` tensor. Gradients flow to
  every map and to each of these. Everything runs on the device and dtype of ``basecolor``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

MIN_ROUGHNESS = 0.02
DEFAULT_FOV_DEG = 50.0
DEFAULT_DISTANCE = 0.3
DEFAULT_LIGHT_INTENSITY = 0.25
_DIELECTRIC_F0 = 0.04

Scalar = float | torch.Tensor


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in [0, 1] -> linear (exact piecewise curve; input clamped to [0, 1])."""
    x = x.clamp(0.0, 1.0)
    # pow on the clamped argument only, so the unused branch cannot produce NaN gradients
    hi = ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(x <= 0.04045, x / 12.92, hi)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear values -> sRGB-encoded in [0, 1] (plain clamp to [0, 1] first, no tonemapping)."""
    x = x.clamp(0.0, 1.0)
    hi = 1.055 * x.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055
    return torch.where(x <= 0.0031308, x * 12.92, hi)


def decode_normal(normal: torch.Tensor) -> torch.Tensor:
    """Encoded OpenGL tangent-space normal ``(B, 3, H, W)`` in [0, 1] -> unit vectors ``(B, 3, H, W)``.

    A zero-length decoded vector stays (close to) zero rather than NaN.
    """
    n = normal * 2.0 - 1.0
    return n * torch.rsqrt((n * n).sum(dim=1, keepdim=True) + 1e-12)


def ggx_brdf(n: torch.Tensor, l: torch.Tensor, v: torch.Tensor, base_linear: torch.Tensor,
             roughness: torch.Tensor, metallic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Metallic-workflow GGX + Lambert BRDF (not multiplied by the cosine).

    Args:
        n, l, v: unit vectors ``(B, 3, H, W)``: surface normal, direction to light, to camera.
        base_linear: ``(B, 3, H, W)`` linear base colour in [0, 1].
        roughness: ``(B, 1, H, W)`` perceptual roughness, already clamped to ``[MIN_ROUGHNESS, 1]``.
        metallic: ``(B, 1, H, W)`` in [0, 1].

    Returns:
        ``(f, n_dot_l)``: BRDF value ``(B, 3, H, W)`` (>= 0) and the clamped cosine ``(B, 1, H, W)``.
    """
    ndl = (n * l).sum(dim=1, keepdim=True).clamp(min=0.0)
    if v is l:  # co-located flash: h = l = v exactly, so three dot products and a normalise go
        ndv = ndh = ndl
        vdh = None
    else:
        h = l + v
        h = h * torch.rsqrt((h * h).sum(dim=1, keepdim=True) + 1e-12)
        ndv = (n * v).sum(dim=1, keepdim=True).clamp(min=0.0)
        ndh = (n * h).sum(dim=1, keepdim=True).clamp(min=0.0)
        vdh = (v * h).sum(dim=1, keepdim=True).clamp(0.0, 1.0)

    alpha = roughness * roughness
    a2 = alpha * alpha
    d = a2 / (math.pi * (ndh * ndh * (a2 - 1.0) + 1.0) ** 2)
    # height-correlated Smith visibility G2 / (4 n.l n.v); both roots stay >= alpha > 0
    lam_v = ndl * torch.sqrt(ndv * ndv * (1.0 - a2) + a2)
    lam_l = ndv * torch.sqrt(ndl * ndl * (1.0 - a2) + a2)
    vis = 0.5 / (lam_v + lam_l).clamp(min=1e-12)
    f0 = _DIELECTRIC_F0 + (base_linear - _DIELECTRIC_F0) * metallic
    fresnel = f0 if vdh is None else f0 + (1.0 - f0) * (1.0 - vdh) ** 5  # Schlick; = f0 at v.h = 1
    specular = d * vis * fresnel
    diffuse = base_linear * (1.0 - metallic) / math.pi
    return diffuse + specular, ndl


def _per_sample(x: Scalar, name: str, b: int, like: torch.Tensor) -> torch.Tensor:
    """Python float or ``(B,)``/``(1,)`` tensor -> ``(B, 1, 1)`` tensor on ``like``'s device/dtype."""
    t = torch.as_tensor(x, device=like.device, dtype=like.dtype)
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] not in (1, b)):
        raise ValueError(f"{name} must be a float or a tensor of shape ({b},), got shape {tuple(t.shape)}")
    return t.reshape(-1, 1, 1).expand(b, 1, 1)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    down = size < x.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=down)


def render(maps: Mapping[str, torch.Tensor], *, fov_deg: Scalar = DEFAULT_FOV_DEG,
           distance: Scalar = DEFAULT_DISTANCE, light_intensity: Scalar = DEFAULT_LIGHT_INTENSITY,
           light_color: Sequence[float] | torch.Tensor = (1.0, 1.0, 1.0),
           size: int | None = None) -> torch.Tensor:
    """Render material maps as a flash photo (see the module docstring for every convention).

    Args:
        maps: ``basecolor (B, 3, H, W)`` sRGB-encoded, ``normal (B, 3, H, W)`` OpenGL encoded
            ``n * 0.5 + 0.5``, ``roughness (B, 1, H, W)``, ``metallic (B, 1, H, W)``, all in
            [0, 1] with one ``H == W``; other entries (``height``) are ignored.
        fov_deg: camera field of view in degrees, in (0, 180); float or ``(B,)`` tensor.
        distance: camera/light height above the sample (> 0); float or ``(B,)`` tensor.
        light_intensity: point-light radiant intensity (>= 0); float or ``(B,)`` tensor.
        light_color: linear RGB multiplier, 3-tuple or ``(3,)`` / ``(B, 3)`` tensor.
        size: output side in pixels; ``None`` keeps the maps' resolution, otherwise the maps are
            resampled (bilinear, antialiased when shrinking; normals renormalised after).

    Returns:
        ``(B, 3, size, size)`` sRGB-encoded image in [0, 1], device and dtype of ``basecolor``.

    Example:
        >>> b = 2; m = {"basecolor": torch.full((b, 3, 8, 8), 0.5),
        ...      "normal": torch.tensor([0.5, 0.5, 1.0]).view(1, 3, 1, 1).expand(b, 3, 8, 8),
        ...      "roughness": torch.full((b, 1, 8, 8), 0.5), "metallic": torch.zeros(b, 1, 8, 8)}
        >>> render(m).shape
        torch.Size([2, 3, 8, 8])
    """
    for key, c in (("basecolor", 3), ("normal", 3), ("roughness", 1), ("metallic", 1)):
        if key not in maps:
            raise ValueError(f"maps is missing {key!r} (needs basecolor, normal, roughness, metallic)")
        t = maps[key]
        if not (isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[1] == c):
            raise ValueError(f"maps[{key!r}] must be a (B, {c}, H, W) tensor, got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    base = maps["basecolor"]
    b, _, hgt, wid = base.shape
    for key in ("normal", "roughness", "metallic"):
        if maps[key].shape[0] != b or maps[key].shape[-2:] != base.shape[-2:]:
            raise ValueError(f"maps[{key!r}] has shape {tuple(maps[key].shape)}, "
                             f"incompatible with basecolor {tuple(base.shape)}")
    if hgt != wid:
        raise ValueError(f"maps must be square, got H={hgt}, W={wid}")
    if size is not None and not (isinstance(size, int) and size >= 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if not base.is_floating_point():
        raise ValueError(f"maps['basecolor'] must be a floating-point tensor, got {base.dtype}")

    dev, dt = base.device, base.dtype
    normal, rough, metal = (maps[k].to(device=dev, dtype=dt) for k in ("normal", "roughness", "metallic"))
    if size is not None:
        base, normal, rough, metal = (_resize(x, size) for x in (base, normal, rough, metal))
        hgt = wid = size

    fov = _per_sample(fov_deg, "fov_deg", b, base)
    dist = _per_sample(distance, "distance", b, base)
    inten = _per_sample(light_intensity, "light_intensity", b, base)
    color = torch.as_tensor(light_color, device=dev, dtype=dt)
    if color.shape not in ((3,), (b, 3)):
        raise ValueError(f"light_color must have 3 entries or shape ({b}, 3), got {tuple(color.shape)}")
    color = color.reshape(-1, 3, 1, 1)

    # positions on the sample plane: side = 2 d tan(fov/2), pixel centres, row 0 at +y
    half = dist * torch.tan(torch.deg2rad(fov) * 0.5)  # (B, 1, 1), half the side
    cols = (torch.arange(wid, device=dev, dtype=dt) + 0.5) / wid * 2.0 - 1.0
    rows = 1.0 - (torch.arange(hgt, device=dev, dtype=dt) + 0.5) / hgt * 2.0
    px = half * cols.view(1, 1, wid)  # (B, 1, W)
    py = half * rows.view(1, hgt, 1)  # (B, H, 1)
    to_light = torch.stack(torch.broadcast_tensors(-px, -py, dist.expand(b, hgt, wid)), dim=1)
    r2 = (to_light * to_light).sum(dim=1, keepdim=True)  # (B, 1, H, W), >= d^2 > 0
    l = to_light * torch.rsqrt(r2)

    n = decode_normal(normal)
    base_lin = srgb_to_linear(base)
    rough = rough.clamp(MIN_ROUGHNESS, 1.0)
    metal = metal.clamp(0.0, 1.0)
    f, ndl = ggx_brdf(n, l, l, base_lin, rough, metal)
    radiance = f * ndl * color * (inten.unsqueeze(1) / r2)  # point light: I cos / r^2
    return linear_to_srgb(radiance)


class FlashRenderer(torch.nn.Module):
    """Thin module around :func:`render`: stores the capture settings, renders a maps dict.

    Example:
        >>> r = FlashRenderer(fov_deg=45.0)
        >>> m = {"basecolor": torch.rand(1, 3, 8, 8), "normal": torch.rand(1, 3, 8, 8),
        ...      "roughness": torch.rand(1, 1, 8, 8), "metallic": torch.rand(1, 1, 8, 8)}
        >>> r(m).shape
        torch.Size([1, 3, 8, 8])
    """

    def __init__(self, fov_deg: Scalar = DEFAULT_FOV_DEG, distance: Scalar = DEFAULT_DISTANCE,
                 light_intensity: Scalar = DEFAULT_LIGHT_INTENSITY,
                 light_color: Sequence[float] | torch.Tensor = (1.0, 1.0, 1.0),
                 size: int | None = None) -> None:
        super().__init__()
        self.fov_deg = fov_deg
        self.distance = distance
        self.light_intensity = light_intensity
        self.light_color = light_color
        self.size = size

    def forward(self, maps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return render(maps, fov_deg=self.fov_deg, distance=self.distance,
                      light_intensity=self.light_intensity, light_color=self.light_color,
                      size=self.size)

    def extra_repr(self) -> str:
        return (f"fov_deg={self.fov_deg}, distance={self.distance}, "
                f"light_intensity={self.light_intensity}, size={self.size}")
