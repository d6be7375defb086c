"""Input photo loading: any image Pillow can open -> ``(1, 3, S, S)`` float32 sRGB in [0, 1].

What happens to each kind of input (every change is also reported in :attr:`Photo.notes`, and
the ones that lose information are emitted as :class:`PhotoWarning` warnings):

* **orientation**: the EXIF orientation tag is applied first (a phone photo comes out upright).
* **bit depth**: 8-bit stays as is; 16-bit (``I;16*`` and 16-bit ``I`` PNG/TIFF) is divided by
  65535; 32-bit float (``F``) is clipped to [0, 1]. Values are assumed sRGB-encoded.
  (Pillow itself reads 16-bit *RGB* PNGs as 8-bit RGB.)
* **colour**: grayscale (``1``, ``L``, ``I``...) is repeated to three channels; palette images
  are expanded through their palette; CMYK (incl. Adobe CMYK JPEGs) and other modes are converted
  to RGB by Pillow.
* **alpha**: composited over the *alpha-weighted mean colour of the image's visible pixels*, not
  over black or white: transparent areas carry no information, and a flat mean colour adds the
  least structure the texture descriptor could mistake for the material.
* **animation / multi-page**: the first frame is used.
* **non-square**: centre-cropped to the largest centred square (the procedural materials are
  square, tileable textures; cropping keeps the flash highlight, which sits near the centre).
* **tiny** (side < ``min_size``, default 64 px): upscaled (bicubic) to ``min_size``, with a
  warning: there is too little detail to recognise a pattern reliably.
* **huge** (side > ``max_size``, default 2048 px): downscaled (Lanczos) to ``max_size``, with a
  warning: optimisation runs at <= 512 px anyway.

Errors the user can fix raise :class:`PhotoError` with a message saying what is wrong: missing
path, a folder, an empty file, a file that is not an image, a corrupt / truncated image.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_MIN_SIZE = 64
DEFAULT_MAX_SIZE = 2048


class PhotoError(ValueError):
    """An input image that cannot be used (message says what is wrong and what to do)."""


class PhotoWarning(UserWarning):
    """An input image was changed in a way that loses information (upscaled, downscaled...)."""


@dataclass
class Photo:
    """A loaded input photo.

    ``image``: ``(1, 3, S, S)`` float32 sRGB in [0, 1]; ``source``: path or ``"<tensor>"``;
    ``original_size``: ``(width, height)`` before any change; ``notes``: what was changed.
    """

    image: torch.Tensor
    source: str
    original_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.image.shape[-1])


def _note(notes: list[str], msg: str, warn: bool = False) -> None:
    notes.append(msg)
    if warn:
        warnings.warn(msg, PhotoWarning, stacklevel=3)


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise PhotoError(f"photo: no such file: {path}")
    if path.is_dir():
        raise PhotoError(f"photo: {path} is a folder; give the path of an image file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise PhotoError(f"photo: cannot read {path}: {e.strerror or e}") from e
    if size == 0:
        raise PhotoError(f"photo: {path} is an empty file (0 bytes)")
    try:
        im = Image.open(path)
    except UnidentifiedImageError as e:
        raise PhotoError(f"photo: {path} is not an image file Pillow can read "
                         f"(PNG, JPEG, TIFF, BMP, WebP, ... expected)") from e
    except Image.DecompressionBombError as e:
        raise PhotoError(f"photo: {path} is too large to open safely ({e})") from e
    except OSError as e:
        raise PhotoError(f"photo: cannot read {path}: {e}") from e
    try:
        im.load()  # decode now, so a truncated or corrupt file fails here with our message
    except Image.DecompressionBombError as e:
        raise PhotoError(f"photo: {path} is too large to open safely ({e})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise PhotoError(f"photo: {path} is corrupt or truncated ({e}); re-export or re-download it") from e
    return im


def _to_array(im, notes: list[str]) -> np.ndarray:
    """Pillow image (any mode) -> ``(H, W, 3)`` float64 in [0, 1], alpha composited."""
    from PIL import ImageOps

    if getattr(im, "n_frames", 1) > 1:
        _note(notes, f"image has {im.n_frames} frames/pages; using the first")
    try:
        transposed = ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block must not make a usable image unusable
        transposed = None
    if transposed is not None and transposed is not im:
        orient = im.getexif().get(0x0112)
        if orient not in (None, 1):
            _note(notes, f"applied EXIF orientation {orient}")
        im = transposed
    mode = im.mode
    alpha = None
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        # 16-bit files arrive as I;16 or as I holding 0..65535; an 8-bit-range I stays 8-bit
        scale = 65535.0 if (mode.startswith("I;16") or a.max() > 255) else 255.0
        rgb = np.repeat((a / scale)[..., None], 3, axis=-1)
        _note(notes, f"{'16' if scale == 65535.0 else '8'}-bit grayscale ({mode}) expanded to RGB")
    elif mode == "F":
        a = np.asarray(im).astype(np.float64)
        if a.min() < 0 or a.max() > 1:
            _note(notes, "32-bit float image clipped to [0, 1]", warn=True)
        rgb = np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=-1)
    elif mode in ("1", "L"):
        rgb = np.repeat((np.asarray(im.convert("L")).astype(np.float64) / 255.0)[..., None], 3, axis=-1)
        _note(notes, "grayscale image expanded to RGB")
    elif mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        a = np.asarray(im.convert("RGBA")).astype(np.float64) / 255.0
        rgb, alpha = a[..., :3], a[..., 3:]
        if mode in ("LA", "La", "PA"):
            _note(notes, "grayscale image expanded to RGB")
    elif mode == "RGB":
        rgb = np.asarray(im).astype(np.float64) / 255.0
    else:  # CMYK, YCbCr, LAB, HSV, RGBX...: Pillow knows how to get to RGB
        rgb = np.asarray(im.convert("RGB")).astype(np.float64) / 255.0
        _note(notes, f"converted from {mode} to RGB")
    if alpha is not None and alpha.min() < 1.0:
        wsum = float(alpha.sum())
        bg = (rgb * alpha).reshape(-1, 3).sum(0) / wsum if wsum > 0 else np.full(3, 0.5)
        rgb = rgb * alpha + bg * (1 - alpha)
        frac = float((alpha < 1).mean())
        _note(notes, f"alpha: {frac:.0%} of pixels (partly) transparent, composited over their mean "
                     f"visible colour", warn=frac > 0.05)
    return np.ascontiguousarray(rgb)


def _square_and_size(x: torch.Tensor, notes: list[str], min_size: int, max_size: int) -> torch.Tensor:
    """``(1, 3, H, W)`` -> centre-cropped square, resized into [min_size, max_size]."""
    h, w = x.shape[-2:]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[..., top:top + s, left:left + s]
        _note(notes, f"non-square {w}x{h} centre-cropped to {s}x{s}")
    s = int(x.shape[-1])
    if s < min_size:
        x = F.interpolate(x, size=(min_size, min_size), mode="bicubic", align_corners=False).clamp(0, 1)
        _note(notes, f"tiny image ({s} px) upscaled to {min_size} px: too little detail for a reliable "
                     f"result, use a larger photo", warn=True)
    elif s > max_size:
        x = _lanczos_down(x, max_size)
        _note(notes, f"large image ({s} px) downscaled to {max_size} px", warn=True)
    return x.contiguous()


def _lanczos_down(x: torch.Tensor, size: int) -> torch.Tensor:
    from PIL import Image

    a = (x[0].permute(1, 2, 0).numpy() * 65535.0 + 0.5).astype(np.uint16)
    # 16-bit per channel (a uint16 array becomes mode I;16) keeps precision through Lanczos
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(a[..., c])).resize((size, size), Image.LANCZOS),
                        dtype=np.float64) / 65535.0 for c in range(3)]
    return torch.from_numpy(np.stack(chans, 0)[None]).float().clamp(0, 1)


def load_photo(source: str | os.PathLike | torch.Tensor, *, min_size: int = DEFAULT_MIN_SIZE,
               max_size: int = DEFAULT_MAX_SIZE) -> Photo:
    """Load a photo from a path, or validate a ``(1, 3, H, W)`` [0, 1] sRGB tensor.

    Returns a :class:`Photo` whose image is ``(1, 3, S, S)`` float32 on CPU with
    ``min_size <= S <= max_size`` (see the module docstring for every conversion).
    Raises :class:`PhotoError` for anything that is not a usable image.
    """
    if not (isinstance(min_size, int) and isinstance(max_size, int) and 8 <= min_size <= max_size):
        raise ValueError(f"min_size, max_size must be ints with 8 <= min_size <= max_size, got {min_size}, {max_size}")
    notes: list[str] = []
    if isinstance(source, torch.Tensor):
        x = source.detach()
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3) or min(x.shape[-2:]) < 1:
            raise PhotoError(f"photo: a tensor image must have shape (1, 3, H, W), got {tuple(source.shape)}")
        x = x.to("cpu", torch.float32)
        if not torch.isfinite(x).all():
            raise PhotoError("photo: the tensor image contains NaN or infinite values")
        if x.min() < 0 or x.max() > 1:
            raise PhotoError(f"photo: a tensor image must hold sRGB values in [0, 1], got "
                             f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
            _note(notes, "grayscale image expanded to RGB")
        orig = (int(x.shape[-1]), int(x.shape[-2]))
        return Photo(_square_and_size(x, notes, min_size, max_size), "<tensor>", orig, notes)
    if not isinstance(source, (str, os.PathLike)):
        raise PhotoError(f"photo: expected a file path or a (1, 3, H, W) tensor, got {type(source).__name__}")
    path = Path(source).expanduser()
    im = _open(path)
    orig = im.size
    rgb = _to_array(im, notes)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().clamp(0, 1)
    return Photo(_square_and_size(x, notes, min_size, max_size), str(path), (int(orig[0]), int(orig[1])), notes)


def default_photo_path() -> Path:
    """The project's own default input (``engine/assets/default_photo.png``)."""
    return Path(__file__).resolve().parent / "assets" / "default_photo.png"


DEFAULT_PHOTO_GRAPH = "bricks"
DEFAULT_PHOTO_SEED = 6  # prior sample: red bricks, light mortar, clearly visible courses
DEFAULT_PHOTO_NOISE = 0.012  # sensor-like noise (sRGB std), so the input is not a clean render


def make_default_photo(path: str | os.PathLike | None = None, res: int = 512,
                       overwrite: bool = False) -> Path:
    """Regenerate the project's default input with the engine itself: the ``bricks`` graph at the
    artist-prior sample of seed :data:`DEFAULT_PHOTO_SEED`, rendered by the flash renderer at
    ``res`` px, plus seeded Gaussian noise, 8-bit PNG. Its parameters are therefore known
    (``graph.spec.sample(1, generator=torch.Generator().manual_seed(DEFAULT_PHOTO_SEED))``)."""
    from .graphs import get_graph
    from .io import save_png
    from .render import render

    g = get_graph(DEFAULT_PHOTO_GRAPH)
    params = g.spec.round(g.spec.sample(1, generator=torch.Generator().manual_seed(DEFAULT_PHOTO_SEED)))
    with torch.no_grad():
        img = render(g.maps(params, res))
    noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(DEFAULT_PHOTO_SEED))
    img = (img + DEFAULT_PHOTO_NOISE * noise).clamp(0, 1)
    return save_png(img[0], Path(path) if path else default_photo_path(), 8, overwrite=overwrite)
