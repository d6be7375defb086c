"""Input photo loading: any image Pillow can open -> ``(1, 3, S, S)`` float32 sRGB in [0, 1].

What happens to each kind of input (every change is also reported in :attr:`Photo.notes`, and
the ones that lose information are emitted as :class:`PhotoWarning` warnings):

* **orientation**: the EXIF orientation tag is applied (a phone photo comes out upright, as
  image viewers show it), unless ``exif_orientation=False``: then the pixels are used as the
  file stores them, as Blender shows every image (it ignores the tag, in JPEG, PNG, TIFF and
  WebP alike); the add-on asks for that, so that the material's pattern runs the way the image
  the artist picked does in Blender, on the UVs laid out for it.
* **bit depth**: 8-bit stays as is; 16-bit (``I;16*`` and 16-bit ``I`` PNG/TIFF) is divided by
  65535; both are assumed sRGB-encoded. (Pillow itself reads 16-bit *RGB* PNG/TIFF as 8-bit RGB.)
* **float** (32-bit float TIFF, one channel or RGB(A); uncompressed RGB(A) float TIFF is read by
  this module's own reader, as Pillow cannot): assumed **linear** light, as Blender and every
  renderer write float images; composited and resampled in linear, clipped to [0, 1] (a plain
  tonemap: highlights above 1 are lost, with a warning) and sRGB-encoded.
  OpenEXR and Radiance HDR are refused with a message saying how to pass them
  (save as PNG / JPEG / 16-bit TIFF, or run from Blender, which sends the pixels).
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
* **huge** (side > ``max_size``, default 2048 px): downscaled to ``max_size``, with a warning
  (optimisation runs at <= 512 px anyway). The square is first shrunk by a whole factor while it
  is read (JPEG: decoded at 1/2, 1/4 or 1/8 scale by libjpeg; other formats: box-averaged strip
  by strip with ``Image.reduce``) to between 2x and 4x ``max_size``, then Lanczos-filtered per
  channel in 32-bit float, as Pillow's ``reducing_gap=2``: within ~1/255 on average of a Lanczos
  over the full-resolution square (``tests/test_photo.py``), at a fraction of the memory.

**Size limit and memory.** No full-size copy of a photo is made beyond what Pillow decodes, so
the peak memory is that plus the shrunk square (under 4x ``max_size`` px a side): a 12000 x
12000 PNG (144 MP) peaks at 0.92 GiB of process memory (0.7 GiB over the interpreter with torch
imported), a 48 MP (8000 x 6000) JPEG at 0.62 GiB, a 16384 px JPEG at 0.51 GiB, a 10000 px
float RGB TIFF at 0.5 GiB. Before decoding, a photo whose decoded pixels (with what the decoder
keeps) would exceed :data:`MAX_DECODED_BYTES` is refused with a message saying to downscale it
(Pillow's own "decompression bomb" limit is not used): in colour (4 bytes a pixel decoded) PNG,
BMP and uncompressed TIFF up to 144 MP (12000 x 12000), compressed TIFF 82 MP, WebP 34 MP
(libwebp's buffers); 16-bit grey 2x, 8-bit grey 4x that; baseline JPEG decoded at 1/2 to 1/8
scale to 144 MP (any squarish photo up to JPEG's 65535 x 65535); progressive JPEG about 100 to 220 MP (libjpeg holds its
full-size DCT coefficients while decoding); uncompressed float TIFF of any size (read a few rows
at a time).

Errors the user can fix raise :class:`PhotoError` with a message saying what is wrong: missing
path, a folder, an empty file, a file that is not an image, a corrupt / truncated image, a
photo too large, an EXR / HDR file, a compressed float RGB TIFF.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_MIN_SIZE = 64
DEFAULT_MAX_SIZE = 2048
# what Pillow holds decoding a 12000 x 12000 RGB(A) PNG (4 bytes/pixel); with the shrunk square
# (under 4x max_size px, at most 4 bytes/pixel: < 268 MB at the default) a process with torch
# imported stays under ~1 GiB
MAX_DECODED_BYTES = 576_000_000
# while decoding, before the shrunk square exists: the decoder's own buffers may take its place
MAX_DECODING_BYTES = 720_000_000
EDITOR_SIZE = 4096  # the size the "too large" message suggests: 2x max_size, nothing lost

_EXR_MAGIC = b"\x76\x2f\x31\x01"
_HDR_MAGICS = (b"#?RADIANCE", b"#?RGBE")
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
# Pillow's storage per pixel: 1 byte for these, 2 for 16-bit grayscale, 4 for every other mode
_PIL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# memory held after decoding / the decoded image, measured (6000 px RGB): Pillow's WebP plugin
# keeps libwebp's frame and a copy of it until closed (4.1x); a compressed TIFF, libtiff's buffers
# (LZW 1.7x); PNG, JPEG, BMP, uncompressed TIFF 1x
_DECODER_FACTOR = {"WEBP": 4.2, "TIFF": 1.75}
# EXIF / TIFF orientation -> numpy ops that turn the stored pixels upright (as ImageOps.exif_transpose)
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
            7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}
_STRIP_PIXELS = 1 << 22  # strips of ~4 MP: conversions of a large photo never copy all of it
_OPEN_LOCK = threading.Lock()


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


@dataclass
class _Bands:
    """A photo's square at its final size before colour handling: ``a`` ``(S, S, C)`` float32 with
    colour in [0, 1] units (one band: grayscale) and alpha last if ``alpha``; ``premultiplied``:
    colour already multiplied by alpha; ``transparent``: fraction of (partly) transparent pixels,
    counted before resampling; ``linear``: float data, sRGB-encoded at the end."""

    a: np.ndarray
    alpha: bool = False
    premultiplied: bool = False
    transparent: float = 0.0
    linear: bool = False


def _note(notes: list[str], msg: str, warn: bool = False) -> None:
    notes.append(msg)
    if warn:
        warnings.warn(msg, PhotoWarning, stacklevel=3)


def _reduction(side: int, max_size: int) -> int:
    """Whole factor to shrink a ``side`` px square by before the final Lanczos: the largest that
    keeps >= 2x ``max_size`` px (1 when no downscale is needed)."""
    return max(1, side // (2 * max_size)) if side > max_size else 1


def _centre_square(w: int, h: int, k: int) -> tuple[int, int, int]:
    """``(left, top, m)``: the centred square of ``w x h`` trimmed to ``m * k`` px, ``m = min // k``."""
    m = min(w, h) // k
    return (w - m * k) // 2, (h - m * k) // 2, m


def _too_large(path: Path, size: tuple[int, int], kind: str, limit_mp: float, max_size: int) -> PhotoError:
    w, h = size
    return PhotoError(f"photo: {path} is too large ({w}x{h} px, {w * h / 1e6:.0f} MP; the engine reads a {kind} "
                      f"up to {limit_mp:.0f} MP in under 1 GiB of memory): downscale it to "
                      f"{max(EDITOR_SIZE, 2 * max_size)} px or less in an image editor")


def _check_memory(im, path: Path, size0: tuple[int, int], max_size: int) -> None:
    """Refuse, before decoding, a photo whose decoded pixels (after any JPEG draft scaling, with the
    decoder's buffers) would exceed :data:`MAX_DECODED_BYTES`, or :data:`MAX_DECODING_BYTES` with
    what the decoder frees when it is done (a progressive JPEG's full-size DCT coefficients)."""
    (w0, h0), (w, h) = size0, im.size
    kind = im.format or "image"
    factor = 1.0 if kind == "TIFF" and im.info.get("compression") == "raw" else _DECODER_FACTOR.get(kind, 1.0)
    held = _PIL_BYTES.get(im.mode, 4) * factor * (w * h) / (w0 * h0)  # bytes per full-size pixel
    decoding = held
    if kind == "JPEG" and im.info.get("progressive") and getattr(im, "layer", None):
        hmax, vmax = max(c[1] for c in im.layer), max(c[2] for c in im.layer)
        decoding += 2 * sum(c[1] * c[2] for c in im.layer) / (hmax * vmax)  # 2 bytes a sample
        kind = "progressive JPEG"
    limit = min(MAX_DECODED_BYTES / held, MAX_DECODING_BYTES / decoding)  # pixels
    if w0 * h0 > limit:
        raise _too_large(path, size0, kind, limit / 1e6, max_size)


def _sniff(path: Path) -> bytes:
    """The first bytes of an existing, non-empty file, or a PhotoError saying why it cannot be used."""
    if not path.exists():
        raise PhotoError(f"photo: no such file: {path}")
    if path.is_dir():
        raise PhotoError(f"photo: {path} is a folder; give the path of an image file")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise PhotoError(f"photo: cannot read {path}: {e.strerror or e}") from e
    if not head:
        raise PhotoError(f"photo: {path} is an empty file (0 bytes)")
    if head.startswith(_EXR_MAGIC) or head.startswith(_HDR_MAGICS):
        kind = "EXR" if head.startswith(_EXR_MAGIC) else "HDR"
        raise PhotoError(f"photo: {path} is {kind}: EXR/HDR is not read by the engine; save the photo as "
                         f"PNG/JPEG/16-bit TIFF (in Blender: Image > Save As), or run Proceduralize from "
                         f"Blender, which sends the pixels")
    return head


def _pil_open(path: Path):
    """``Image.open`` without Pillow's decompression-bomb check, whose limit counts full-size pixels
    (a 12000 px PNG warns, a 16384 px JPEG is refused) where this loader decodes large photos
    reduced: :func:`_load_pillow` checks the memory a photo needs before decoding it. The global
    limit is lifted only while the header is read, under a lock."""
    from PIL import Image

    with _OPEN_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _open(path: Path):
    from PIL import UnidentifiedImageError

    head = _sniff(path)
    if head.startswith(_TIFF_MAGICS):
        tif = _FloatTiff.parse(path)
        if tif is not None:
            return tif
    try:
        return _pil_open(path)
    except UnidentifiedImageError as e:
        raise PhotoError(f"photo: {path} is not an image file Pillow can read "
                         f"(PNG, JPEG, TIFF, BMP, WebP, ... expected)") from e
    except (OSError, SyntaxError, ValueError, struct.error) as e:
        raise PhotoError(f"photo: cannot read {path}: {e}") from e


def _orientation(im) -> int:
    try:
        o = im.getexif().get(0x0112)
    except Exception:  # a malformed EXIF block must not make a usable image unusable
        return 1
    return o if o in _UPRIGHT else 1


def _working_mode(mode: str, info: dict, premultiply: bool) -> str:
    """The Pillow mode a photo's square is shrunk in: one ``reduce`` and ``resize`` handle, at the
    source's precision; alpha premultiplied when resampling (transparent pixels' colour is junk)."""
    if mode in ("1", "L"):
        return "L"
    if mode in ("LA", "La"):
        return "La" if premultiply else "LA"
    if mode in ("PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in info):
        return "RGBa" if premultiply else "RGBA"
    if mode.startswith("I;16") or mode == "I":
        return "I"
    return "F" if mode == "F" else "RGB"


def _convert(im, mode: str):
    if im.mode in ("P", "PA") and mode != "RGB":
        im = im.convert("RGBA")  # Pillow expands a palette to RGB(A) only
    return im if im.mode == mode else im.convert(mode)


def _crop_reduce(im, k: int, mode: str):
    """``im``'s centred square in ``mode``, shrunk ``k`` times (box filter, ``Image.reduce``), built
    strip by strip so no full-size copy or conversion of a large photo is held."""
    from PIL import Image

    left, top, m = _centre_square(*im.size, k)
    out = Image.new(mode, (m, m))
    rows = max(1, _STRIP_PIXELS // (m * k * k))  # output rows per strip
    for i in range(0, m, rows):
        r = min(rows, m - i)
        strip = _convert(im.crop((left, top + i * k, left + m * k, top + (i + r) * k)), mode)
        out.paste(strip.reduce(k) if k > 1 else strip, (0, i))
    return out


def _lanczos(band, size: int) -> np.ndarray:
    """One Pillow band -> ``(size, size)`` float32, Lanczos in 32-bit float (no rounding to 8 bits)."""
    from PIL import Image

    f = band if band.mode == "F" else band.convert("F")
    if f.size != (size, size):
        f = f.resize((size, size), Image.LANCZOS)
    return np.asarray(f, np.float32)


def _load_pillow(im, path: Path, max_size: int, notes: list[str]) -> tuple[_Bands, int]:
    """An opened (not decoded) Pillow image -> its square's bands at <= ``max_size`` px and its
    EXIF orientation. Decodes reduced where the format allows (JPEG draft) and refuses, before
    decoding, a photo that would need too much memory (:func:`_check_memory`)."""
    from PIL import Image

    w0, h0 = im.size
    if im.format == "JPEG" and min(w0, h0) > max_size:
        scale = next((f for f in (8, 4, 2) if min(w0, h0) // f >= 2 * max_size), 1)
        if scale > 1:
            im.draft(im.mode, (w0 // scale, h0 // scale))  # libjpeg decodes at 1/scale (DCT scaling)
    _check_memory(im, path, (w0, h0), max_size)
    w, h = im.size
    k = _reduction(min(w, h), max_size)
    m = min(w, h) // k
    try:
        im.load()  # decode now, so a truncated or corrupt file fails here with our message
    except Image.DecompressionBombError as e:  # a GIF frame larger than the header said
        raise PhotoError(f"photo: {path} is too large to open safely ({e})") from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise PhotoError(f"photo: {path} is corrupt or truncated ({e}); re-export or re-download it") from e
    if getattr(im, "n_frames", 1) > 1:
        _note(notes, f"image has {im.n_frames} frames/pages; using the first")
    orient = _orientation(im)
    mode, resample = im.mode, m > max_size
    wmode = _working_mode(mode, im.info, premultiply=resample)
    sq = _crop_reduce(im, k, wmode)
    im.close()  # frees the decoded photo before the float work
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit files arrive as I;16 or as I holding 0..65535; an 8-bit-range I stays 8-bit
        scale = 65535.0 if (mode.startswith("I;16") or sq.getextrema()[1] > 255) else 255.0
        _note(notes, f"{'16' if scale == 65535.0 else '8'}-bit grayscale ({mode}) expanded to RGB")
    elif mode == "F":
        scale = 1.0
        lo, hi = sq.getextrema()
        if lo < 0 or hi > 1:
            _note(notes, "32-bit float image clipped to [0, 1]", warn=True)
    else:
        scale = 255.0
        if mode in ("1", "L", "LA", "La"):
            _note(notes, "grayscale image expanded to RGB")
        elif mode not in ("RGB", "RGBA", "RGBa", "P", "PA"):
            _note(notes, f"converted from {mode} to RGB")
    size = min(m, max_size)
    nb = len(sq.getbands())
    chans = [_lanczos(sq if nb == 1 else sq.getchannel(c), size) / np.float32(scale) for c in range(nb)]
    transparent = 0.0
    if wmode in ("LA", "La", "RGBA", "RGBa"):
        hist = sq.getchannel(nb - 1).histogram()
        transparent = 1.0 - hist[255] / (m * m)
    return _Bands(np.stack(chans, -1), alpha=nb in (2, 4), premultiplied=wmode in ("La", "RGBa"),
                  transparent=transparent, linear=mode == "F"), orient


_TIFF_TYPES = {1: "B", 3: "H", 4: "I", 8: "h", 9: "i"}  # the integer types the tags below use
_TIFF_COMPRESSION = {5: "LZW", 7: "JPEG", 8: "Deflate", 32946: "Deflate", 32773: "PackBits",
                     34925: "LZMA", 50000: "Zstd"}


@dataclass
class _FloatTiff:
    """A float TIFF Pillow cannot open (RGB(A) or gray+alpha floats, or 16/64-bit ones), in the
    layout libtiff writes by default: uncompressed, strips, channels interleaved. Read with numpy
    a few rows at a time, so its size costs no memory."""

    path: Path
    size: tuple[int, int]
    samples: int
    colour: int  # 1 (gray) or 3 (RGB) colour samples first
    alpha: int | None  # the alpha sample's index, or None
    premultiplied: bool  # TIFF "associated" alpha
    dtype: np.dtype
    strips: list[int]  # file offsets
    rows_per_strip: int
    orientation: int

    @staticmethod
    def parse(path: Path) -> "_FloatTiff | None":
        """None for a TIFF Pillow reads (integer samples, or one 32-bit float channel: mode ``F``),
        or one this parser does not understand (Pillow then says what is wrong); a PhotoError for
        a float TIFF kind neither reads."""
        try:
            with open(path, "rb") as f:
                e = "<" if f.read(2) == b"II" else ">"
                tags = _tiff_tags(f, e)
            fmt, bits, samples = tags.get(339, [1]), tags.get(258, [1]), tags.get(277, [1])[0]
            if 3 not in fmt or (samples == 1 and bits[0] == 32):
                return None
            w, h = tags[256][0], tags[257][0]
            compression, planar = tags.get(259, [1])[0], tags.get(284, [1])[0]
            colour = 3 if tags.get(262, [1])[0] == 2 else 1
            extras = tags.get(338, [])
            rps = min(tags.get(278, [h])[0], h)
            offsets, counts = tags.get(273), tags.get(279)
        except (OSError, KeyError, IndexError, struct.error):
            return None
        kind = (f"{_TIFF_COMPRESSION.get(compression, f'compression-{compression}')}-compressed"
                if compression != 1 else "tiled or planar" if 322 in tags or planar != 1
                else f"{'/'.join(map(str, bits))}-bit" if len(set(bits)) != 1 or bits[0] not in (16, 32, 64)
                else "malformed" if samples < colour or offsets is None or counts is None
                or len(offsets) != -(-h // rps) or len(counts) != len(offsets) else None)
        if kind is not None:
            raise PhotoError(f"photo: {path} is a {kind} float TIFF, which the engine does not read (only "
                             f"uncompressed ones, in strips); save it uncompressed or as PNG/JPEG/16-bit TIFF, "
                             f"or run Proceduralize from Blender, which sends the pixels")
        if path.stat().st_size < w * h * samples * bits[0] // 8:  # also bounds w x h by the file
            raise PhotoError(f"photo: {path} is corrupt or truncated (shorter than its {w}x{h} px); "
                             f"re-export or re-download it")
        alpha = colour if samples > colour and extras[:1] in ([1], [2]) else None
        orient = tags.get(274, [1])[0]
        return _FloatTiff(path, (w, h), samples, colour, alpha, extras[:1] == [1],
                          np.dtype(f"{e}f{bits[0] // 8}"), offsets, rps, orient if orient in _UPRIGHT else 1)

    def rows(self, f, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` as ``(rows, W, samples)`` float32 (NaN as 0)."""
        w = self.size[0]
        row = w * self.samples * self.dtype.itemsize
        out = np.empty((y1 - y0, w, self.samples), np.float32)
        y = y0
        while y < y1:
            s, r = divmod(y, self.rows_per_strip)
            n = min(y1 - y, self.rows_per_strip - r)
            f.seek(self.strips[s] + r * row)
            buf = f.read(n * row)
            if len(buf) < n * row:
                raise PhotoError(f"photo: {self.path} is corrupt or truncated (strip {s} ends early); "
                                 f"re-export or re-download it")
            out[y - y0:y - y0 + n] = np.frombuffer(buf, self.dtype).reshape(n, w, self.samples)
            y += n
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=1e4, neginf=-1e4)


def _tiff_tags(f, e: str) -> dict[int, list[int]]:
    """The integer-valued tags of a classic TIFF's first IFD (``e``: struct byte order)."""
    f.seek(4)
    f.seek(struct.unpack(e + "I", f.read(4))[0])
    (n,) = struct.unpack(e + "H", f.read(2))
    raw = f.read(12 * n)
    tags = {}
    for i in range(n):
        tag, typ, count, value = struct.unpack(e + "HHI4s", raw[12 * i:12 * i + 12])
        code = _TIFF_TYPES.get(typ)
        if code is None or count > 1 << 20:
            continue
        size = struct.calcsize(code) * count
        if size > 4:
            f.seek(struct.unpack(e + "I", value)[0])
            value = f.read(size)
        tags[tag] = list(struct.unpack(e + code * count, value[:size]))
    return tags


def _load_float_tiff(t: _FloatTiff, max_size: int, notes: list[str]) -> _Bands:
    """The square of a float TIFF at <= ``max_size`` px, one channel at a time: rows are read a
    strip at a time, box-averaged by :func:`_reduction`'s factor (alpha premultiplied), and the
    shrunk channel is Lanczos-filtered, so only one shrunk channel is ever held."""
    from PIL import Image

    w, h = t.size
    k = _reduction(min(w, h), max_size)
    left, top, m = _centre_square(w, h, k)
    rows = max(1, _STRIP_PIXELS // (4 * w * k))  # output rows per read: ~1 MP of the file's rows
    size = min(m, max_size)
    chans, transparent, lo, hi = [], 0.0, np.inf, -np.inf
    with open(t.path, "rb") as f:
        for c in list(range(t.colour)) + ([t.alpha] if t.alpha is not None else []):
            band = np.empty((m, m), np.float32)
            for i in range(0, m, rows):
                r = min(rows, m - i)
                px = t.rows(f, top + i * k, top + (i + r) * k)[:, left:left + m * k]
                v = px[..., c]
                if c == t.alpha:
                    v = np.clip(v, 0, 1)
                elif t.alpha is not None and not t.premultiplied:
                    v = v * np.clip(px[..., t.alpha], 0, 1)
                band[i:i + r] = v.reshape(r, k, m, k).mean((1, 3)) if k > 1 else v
            if c == t.alpha:
                transparent = float((band < 1).mean())
            else:
                lo, hi = min(lo, float(band.min())), max(hi, float(band.max()))
            chans.append(_lanczos(Image.fromarray(band), size))  # float32 -> mode F
            del band
    if t.colour == 1:
        _note(notes, "grayscale image expanded to RGB")
    if lo < 0 or hi > 1:
        _note(notes, f"float image clipped to [0, 1] (values {lo:.3g} to {hi:.3g})", warn=True)
    return _Bands(np.stack(chans, -1), alpha=t.alpha is not None, premultiplied=t.alpha is not None,
                  transparent=transparent, linear=True)


def _srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded (the sRGB transfer function), float32."""
    out = np.power(x, np.float32(1 / 2.4), dtype=np.float32)
    out *= np.float32(1.055)
    out -= np.float32(0.055)
    dark = x <= 0.0031308
    out[dark] = x[dark] * np.float32(12.92)
    return out


def _to_rgb(b: _Bands, notes: list[str]) -> np.ndarray:
    """:class:`_Bands` -> ``(S, S, 3)`` float32 sRGB in [0, 1], alpha composited (float32 and few
    temporaries: at 2048 px each float64 copy of the photo would be 100 MB)."""
    a = np.nan_to_num(b.a.astype(np.float32, copy=False), copy=False, nan=0.0)
    ncol = a.shape[-1] - int(b.alpha)
    col = a[..., :ncol]
    if b.alpha and b.transparent > 0:
        alpha = np.clip(a[..., ncol:], 0, 1)
        prem = col if b.premultiplied else col * alpha
        wsum = float(alpha.sum(dtype=np.float64))
        bg = prem.reshape(-1, ncol).sum(0, dtype=np.float64) / wsum if wsum > 0 else np.full(ncol, 0.5)
        col = prem + bg.astype(np.float32) * (1 - alpha)
        _note(notes, f"alpha: {b.transparent:.0%} of pixels (partly) transparent, composited over their "
                     f"mean visible colour", warn=b.transparent > 0.05)
    col = np.clip(col, 0, 1)
    if b.linear:
        col = _srgb(col)
        _note(notes, "float image read as linear light, sRGB-encoded")
    return np.repeat(col, 3, axis=-1) if ncol == 1 else col


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


def _load_file(path: Path, notes: list[str], min_size: int, max_size: int, exif_orientation: bool = True) -> Photo:
    """A photo file -> :class:`Photo`: its centred square is shrunk while it is read (see the module
    docstring), turned upright (with ``exif_orientation``) and converted to sRGB; only then does
    it become a tensor."""
    src = _open(path)
    w, h = src.size
    if isinstance(src, _FloatTiff):
        bands, orient = _load_float_tiff(src, max_size, notes), src.orientation
    else:
        try:
            bands, orient = _load_pillow(src, path, max_size, notes)
        finally:
            src.close()  # the file, also when decoding failed
    rgb = _to_rgb(bands, notes)
    if orient != 1 and exif_orientation:
        _note(notes, f"applied EXIF orientation {orient}")
        rgb = _UPRIGHT[orient](rgb)
    elif orient != 1:
        _note(notes, f"EXIF orientation {orient} not applied: the pixels as the file stores them, as Blender shows the image")
        orient = 1
    uw, uh = (h, w) if orient >= 5 else (w, h)
    s = min(w, h)
    if uw != uh:
        _note(notes, f"non-square {uw}x{uh} centre-cropped to {s}x{s}")
    if s > max_size:
        _note(notes, f"large image ({s} px) downscaled to {max_size} px", warn=True)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().clamp(0, 1)
    return Photo(_square_and_size(x, notes, min_size, max_size), str(path), (int(w), int(h)), notes)


def load_photo(source: str | os.PathLike | torch.Tensor, *, min_size: int = DEFAULT_MIN_SIZE,
               max_size: int = DEFAULT_MAX_SIZE, exif_orientation: bool = True) -> Photo:
    """Load a photo from a path, or validate a ``(1, 3, H, W)`` [0, 1] sRGB tensor.
    ``exif_orientation``: turn a file upright by its EXIF orientation tag (False: the pixels as
    stored, as Blender shows them; see the module docstring).

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
    return _load_file(Path(source).expanduser(), notes, min_size, max_size, exif_orientation)


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
