"""Input photo loading: every input class behaves as the module docstring states."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from diffproxy.photo import Photo, PhotoError, PhotoWarning, load_photo


def _gradient_rgb(w: int = 96, h: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                     np.full_like(x, 100)], -1).astype(np.uint8)


def _check(photo: Photo, size: int) -> torch.Tensor:
    x = photo.image
    assert x.shape == (1, 3, size, size) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    return x


def test_rgb_png_roundtrip(tmp_path):
    a = _gradient_rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    p = load_photo(tmp_path / "a.png")
    x = _check(p, 96)
    assert torch.allclose(x[0].permute(1, 2, 0), torch.from_numpy(a / 255.0).float(), atol=1e-6)
    assert p.notes == [] and p.original_size == (96, 96)


def test_16bit_grayscale(tmp_path):
    a = np.linspace(0, 65535, 80 * 80).reshape(80, 80).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    x = _check(load_photo(tmp_path / "g16.png"), 80)
    # 16-bit precision kept: the ramp's steps are 1/65535 apart, far below 8-bit's 1/255
    assert torch.allclose(x[0, 0], torch.from_numpy(a / 65535.0).float(), atol=1e-6)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 1], x[0, 2])


def test_8bit_grayscale(tmp_path):
    Image.fromarray(np.full((70, 70), 51, np.uint8), "L").save(tmp_path / "g.png")
    p = load_photo(tmp_path / "g.png")
    x = _check(p, 70)
    assert torch.allclose(x, torch.full_like(x, 0.2), atol=1e-6)
    assert any("grayscale" in n for n in p.notes)


def test_rgba_composited_over_mean_visible_colour(tmp_path):
    a = np.zeros((64, 64, 4), np.uint8)
    a[..., 0] = 200  # visible pixels: red (200, 0, 0)
    a[:, :32, 3] = 255  # left half opaque, right half fully transparent (its RGB is junk)
    a[:, 32:, 1] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(PhotoWarning, match="alpha"):
        p = load_photo(tmp_path / "a.png")
    x = _check(p, 64)
    # transparent half takes the mean visible colour: the whole image is (200, 0, 0)
    assert torch.allclose(x[0, :, :, 40], torch.tensor([200 / 255, 0, 0]).view(3, 1).expand(3, 64), atol=1e-6)


def test_palette_image(tmp_path):
    Image.fromarray(_gradient_rgb()).quantize(16).save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    x = _check(load_photo(tmp_path / "p.png"), 96)
    ref = torch.from_numpy(np.asarray(Image.open(tmp_path / "p.png").convert("RGB")) / 255.0).float()
    assert torch.allclose(x[0].permute(1, 2, 0), ref, atol=1e-6)


def test_cmyk_jpeg(tmp_path):
    Image.new("RGB", (72, 72), (200, 30, 30)).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    p = load_photo(tmp_path / "c.jpg")
    x = _check(p, 72)
    mean = x.mean(dim=(2, 3))[0]
    assert torch.allclose(mean, torch.tensor([200, 30, 30]) / 255.0, atol=0.05), mean
    assert any("CMYK" in n for n in p.notes)


def _rotated_jpeg(path, h, w):
    """A JPEG stored ``w`` wide x ``h`` high with the left half bright and EXIF orientation 6
    (rotate 90 deg clockwise to display): upright it is ``h`` x ``w`` with the bright half on top."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, :w // 2] = 250
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(path, exif=exif.tobytes(), quality=95)


def test_exif_rotated_jpeg(tmp_path):
    _rotated_jpeg(tmp_path / "r.jpg", 32, 64)
    p = load_photo(tmp_path / "r.jpg", min_size=16)
    assert p.original_size == (64, 32)
    assert any("EXIF orientation 6" in n for n in p.notes)
    # upright 32x64 (w x h) centre-cropped to rows 16..48: top half of the crop bright
    x = _check(p, 32)
    assert float(x[0, :, :14].mean()) > 0.9 and float(x[0, :, 18:].mean()) < 0.1


def test_exif_orientation_false_keeps_the_pixels_as_stored(tmp_path):
    """As Blender shows an image (it ignores the tag): the stored 64 x 32 centre-cropped, the
    bright half on the left."""
    _rotated_jpeg(tmp_path / "r.jpg", 32, 64)
    p = load_photo(tmp_path / "r.jpg", min_size=16, exif_orientation=False)
    assert p.original_size == (64, 32)
    assert any("EXIF orientation 6 not applied" in n for n in p.notes)
    assert any("non-square 64x32" in n for n in p.notes)  # the stored shape, not the upright one
    x = _check(p, 32)
    assert float(x[0, :, :, :14].mean()) > 0.9 and float(x[0, :, :, 18:].mean()) < 0.1


def test_non_square_centre_crop(tmp_path):
    a = np.zeros((80, 160, 3), np.uint8)
    a[:, 40:120] = 255  # the centred 80x80 square is all white
    Image.fromarray(a).save(tmp_path / "w.png")
    p = load_photo(tmp_path / "w.png")
    x = _check(p, 80)
    assert float(x.min()) == 1.0
    assert any("centre-cropped" in n for n in p.notes)


def test_tiny_upscaled_with_warning(tmp_path):
    Image.fromarray(_gradient_rgb(20, 20)).save(tmp_path / "t.png")
    with pytest.warns(PhotoWarning, match="tiny"):
        p = load_photo(tmp_path / "t.png")
    _check(p, 64)


def test_huge_downscaled_with_warning(tmp_path):
    Image.fromarray(_gradient_rgb(300, 300)).save(tmp_path / "h.png")
    with pytest.warns(PhotoWarning, match="downscaled"):
        p = load_photo(tmp_path / "h.png", max_size=128)
    x = _check(p, 128)
    # a smooth ramp survives Lanczos: first row still rises left to right
    assert float(x[0, 0, 64, 120]) > float(x[0, 0, 64, 8]) + 0.5


def test_no_warning_for_plain_input(tmp_path):
    Image.fromarray(_gradient_rgb()).save(tmp_path / "a.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_photo(tmp_path / "a.png")


@pytest.mark.parametrize("kind, match", [
    ("missing", "no such file"),
    ("folder", "is a folder"),
    ("empty", "empty file"),
    ("text", "not an image"),
    ("corrupt", "corrupt or truncated"),
])
def test_unusable_inputs_raise_clear_errors(tmp_path, kind, match):
    path = tmp_path / "x.png"
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not an image\n" * 20)
    elif kind == "corrupt":
        Image.fromarray(_gradient_rgb(128, 128)).save(tmp_path / "ok.png")
        data = (tmp_path / "ok.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])  # truncated mid-stream
    with pytest.raises(PhotoError, match=match):
        load_photo(path)


def test_tensor_input_validated():
    x = torch.rand(1, 3, 40, 70)
    p = load_photo(x, min_size=16)
    assert p.image.shape == (1, 3, 40, 40) and torch.equal(p.image, x[..., 15:55])
    with pytest.raises(PhotoError, match="shape"):
        load_photo(torch.rand(2, 3, 32, 32))
    with pytest.raises(PhotoError, match=r"\[0, 1\]"):
        load_photo(torch.rand(1, 3, 32, 32) * 2)


def test_default_photo_asset_loads():
    from diffproxy.photo import default_photo_path

    p = load_photo(default_photo_path())
    x = _check(p, 512)
    assert p.notes == [] and 0.1 < float(x.mean()) < 0.9


# --- large photos: decoded reduced, refused above the limit with advice -----------------------

_CHILD = """
import json, resource, sys
from diffproxy.photo import load_photo
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = load_photo(sys.argv[1], max_size=int(sys.argv[2]))
print(json.dumps({"growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024,
                  "shape": list(p.image.shape)}))
"""


def _peak_growth_mib(path, max_size: int) -> float:
    """Peak RSS growth (MiB) of ``load_photo(path)`` in a fresh interpreter, over its imports."""
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", _CHILD, str(path), str(max_size)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["shape"] == [1, 3, max_size, max_size]
    return out["growth_mib"]


def _noise_and_gradients(size: int):
    """A photo-like RGB Pillow image (sensor-like noise, two gradients) built without a float copy."""
    noise = Image.effect_noise((size, size), 48)
    ramp = Image.linear_gradient("L").resize((size, size))
    return Image.merge("RGB", (noise, ramp, ramp.transpose(Image.Transpose.ROTATE_90)))


def test_large_png_loads_in_bounded_memory(tmp_path):
    # 6000 px: Pillow holds 144 MB decoded, the loader's shrunk square as much again. The loader
    # before reduced decoding made float64 copies of the whole photo: 2000 MiB over the imports.
    _noise_and_gradients(6000).save(tmp_path / "big.png", compress_level=1)
    assert _peak_growth_mib(tmp_path / "big.png", 2048) < 800


def test_large_jpeg_is_decoded_reduced(tmp_path):
    # max_size 512: libjpeg decodes the 4096 px JPEG at 1/4 scale (1024 px, 4 MB). Decoded full
    # size and converted to float64 it took 936 MiB.
    _noise_and_gradients(4096).save(tmp_path / "big.jpg", quality=90)
    assert _peak_growth_mib(tmp_path / "big.jpg", 512) < 200


def _png_header(path, w: int, h: int) -> None:
    """A PNG whose header says ``w x h`` RGB but whose pixel data is a few bytes (cheap to write)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_photo_over_the_limit_says_what_to_do(tmp_path):
    _png_header(tmp_path / "huge.png", 20000, 20000)
    with pytest.raises(PhotoError, match=r"too large \(20000x20000 px, 400 MP; the engine reads a PNG up to "
                                         r"144 MP .*downscale it to 4096 px or less in an image editor") as e:
        load_photo(tmp_path / "huge.png")
    assert "bomb" not in str(e.value)


def test_photo_over_pillows_warning_limit_is_not_a_bomb(tmp_path):
    # 9600 px (92 MP) is over Pillow's warning limit (89 MP) and under this loader's (144 MP): no
    # DecompressionBombWarning; this header-only file is then reported as truncated
    _png_header(tmp_path / "big.png", 9600, 9600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PhotoError, match="corrupt or truncated"):
            load_photo(tmp_path / "big.png")


def _photo_like(w: int, h: int) -> np.ndarray:
    """Smooth photo-like 8-bit RGB: gradients plus soft blotches (a fair test of resampling)."""
    rng = np.random.default_rng(1)
    blot = np.asarray(Image.fromarray((rng.random((h // 40 + 2, w // 40 + 2, 3)) * 255).astype(np.uint8))
                      .resize((w, h), Image.BICUBIC), np.float64)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 200 / w, y * 200 / h, 100 + 60 * np.sin(x / 37.0 + y / 53.0)], -1)
    return np.clip(0.5 * base + 0.5 * blot, 0, 255).astype(np.uint8)


def _full_lanczos(a: np.ndarray, size: int) -> np.ndarray:
    """Reference: each channel of the centred square Lanczos-filtered to ``size`` in float."""
    h, w = a.shape[:2]
    s = min(h, w)
    sq = a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(sq[..., c])).resize((size, size), Image.LANCZOS))
                     for c in range(a.shape[-1])], -1)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_reduced_downscale_matches_a_full_resolution_lanczos(tmp_path, fmt):
    # box-averaged by a whole factor (PNG) or decoded at 1/2 scale (JPEG) to >= 2x the target,
    # then Lanczos: within a few 1/255 of a Lanczos over the full-resolution square
    a = _photo_like(900, 700)
    Image.fromarray(a).save(tmp_path / f"p.{fmt}", quality=95)
    ref = np.asarray(Image.open(tmp_path / f"p.{fmt}").convert("RGB"))
    with pytest.warns(PhotoWarning, match="downscaled"):
        p = load_photo(tmp_path / f"p.{fmt}", max_size=100)
    x = _check(p, 100)[0].permute(1, 2, 0).numpy()
    err = np.abs(x - np.clip(_full_lanczos(ref, 100) / 255.0, 0, 1))
    assert float(err.mean()) < 0.004 and float(err.max()) < 0.04, (float(err.mean()), float(err.max()))
    assert any("non-square 900x700 centre-cropped to 700x700" in n for n in p.notes)


def test_reduced_downscale_composites_alpha_like_full_resolution(tmp_path):
    a = np.dstack([_photo_like(600, 600), np.full((600, 600), 255, np.uint8)])
    a[:, 400:, 3] = 0  # the right third transparent, its colour junk
    a[:, 400:, :3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(PhotoWarning) as caught:
        p = load_photo(tmp_path / "a.png", max_size=100)
    assert any("alpha" in str(w.message) for w in caught)
    x = _check(p, 100)[0].permute(1, 2, 0).numpy()
    rgb, alpha = a[..., :3] / 255.0, a[..., 3:] / 255.0
    bg = (rgb * alpha).reshape(-1, 3).sum(0) / alpha.sum()
    ref = _full_lanczos((rgb * alpha + bg * (1 - alpha)) * 255.0, 100) / 255.0
    err = np.abs(x - np.clip(ref, 0, 1))
    assert float(err.mean()) < 0.004 and float(err.max()) < 0.06, (float(err.mean()), float(err.max()))
    assert any(re.search(r"alpha: 3[34]% of pixels", n) for n in p.notes)


def test_16bit_precision_kept_through_downscale(tmp_path):
    a = np.linspace(0, 65535, 300 * 300).reshape(300, 300).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    with pytest.warns(PhotoWarning, match="downscaled"):
        x = _check(load_photo(tmp_path / "g16.png", max_size=100), 100)
    ref = _full_lanczos(a[..., None].astype(np.float64), 100)[..., 0] / 65535.0
    assert np.abs(x[0, 0].numpy() - ref).max() < 1e-5  # far below 8-bit's 1/255


def test_exif_rotated_jpeg_downscaled(tmp_path):
    # the orientation is applied to the shrunk square: upright 200 x 400, bright half on top
    _rotated_jpeg(tmp_path / "r.jpg", 200, 400)
    with pytest.warns(PhotoWarning, match="downscaled"):
        p = load_photo(tmp_path / "r.jpg", max_size=64)
    assert p.original_size == (400, 200)
    assert any("non-square 200x400" in n for n in p.notes)
    x = _check(p, 64)
    assert float(x[0, :, :28].mean()) > 0.9 and float(x[0, :, 36:].mean()) < 0.1


# --- float TIFF, EXR, HDR ------------------------------------------------------------------------

def _write_float_tiff(path, a, rows_per_strip=None, extra=None, big_endian=False, compression=1) -> None:
    """A float32 TIFF as libtiff (Blender, GIMP...) writes it: chunky samples in strips."""
    a = np.asarray(a, np.float32)
    a = a[..., None] if a.ndim == 2 else a
    h, w, c = a.shape
    e = ">" if big_endian else "<"
    rps = rows_per_strip or h
    row = w * c * 4
    strips = [(y * row, min(rps, h - y) * row) for y in range(0, h, rps)]
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [32] * c), (259, 3, [compression]),
            (262, 3, [2 if c >= 3 else 1]), (273, 4, [0] * len(strips)), (277, 3, [c]), (278, 4, [rps]),
            (279, 4, [n for _, n in strips]), (284, 3, [1])]
    tags += ([(338, 3, [extra])] if extra is not None else []) + [(339, 3, [3] * c)]
    blob_at = 8 + 2 + 12 * len(tags) + 4
    for _ in range(2):  # the second pass knows where the pixel data starts
        entries, blobs = [], b""
        for tag, typ, vals in tags:
            raw = b"".join(struct.pack(e + ("H" if typ == 3 else "I"), v) for v in vals)
            if len(raw) > 4:
                raw, blobs = struct.pack(e + "I", blob_at + len(blobs)), blobs + raw
            entries.append(struct.pack(e + "HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0"))
        data_at = blob_at + len(blobs)
        tags[5] = (273, 4, [data_at + off for off, _ in strips])
    path.write_bytes((b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
                     + struct.pack(e + "H", len(tags)) + b"".join(entries) + struct.pack(e + "I", 0) + blobs
                     + a.astype(e + "f4").tobytes())


def _srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize("big_endian", [False, True])
def test_float_rgb_tiff_read_as_linear(tmp_path, big_endian):
    lin = np.random.default_rng(0).random((70, 70, 3)).astype(np.float32) * 1.2  # some highlights > 1
    _write_float_tiff(tmp_path / "f.tif", lin, rows_per_strip=16, big_endian=big_endian)
    with pytest.warns(PhotoWarning, match="clipped"):
        p = load_photo(tmp_path / "f.tif")
    x = _check(p, 70)
    assert torch.allclose(x[0].permute(1, 2, 0), torch.from_numpy(_srgb(lin)).float(), atol=1e-5)
    assert any("linear" in n for n in p.notes)


def test_float_rgba_tiff_alpha_composited(tmp_path):
    lin = np.zeros((64, 64, 4), np.float32)
    lin[..., :3] = (0.5, 0.2, 0.05)
    lin[:, :32, 3] = 1.0  # left half opaque; right half transparent with junk colour
    lin[:, 32:, :3] = 7.0
    _write_float_tiff(tmp_path / "a.tif", lin, extra=2)  # 2: unassociated alpha
    with pytest.warns(PhotoWarning, match="alpha"):
        x = _check(load_photo(tmp_path / "a.tif"), 64)
    want = torch.from_numpy(_srgb(np.array([0.5, 0.2, 0.05]))).float().view(3, 1, 1)
    assert torch.allclose(x[0], want.expand(3, 64, 64), atol=1e-5)


def test_float_rgb_tiff_downscaled(tmp_path):
    lin = (_photo_like(300, 260) / 255.0).astype(np.float32) ** 2.2
    _write_float_tiff(tmp_path / "f.tif", lin, rows_per_strip=7)
    with pytest.warns(PhotoWarning, match="downscaled"):
        x = _check(load_photo(tmp_path / "f.tif", max_size=64), 64)[0].permute(1, 2, 0).numpy()
    err = np.abs(x - _srgb(_full_lanczos(lin, 64)))
    assert float(err.mean()) < 0.004 and float(err.max()) < 0.04, (float(err.mean()), float(err.max()))


def test_float_gray_tiff_read_as_linear(tmp_path):
    lin = np.linspace(0, 1, 72 * 72, dtype=np.float32).reshape(72, 72)
    Image.fromarray(lin).save(tmp_path / "g.tif")  # Pillow's mode F
    x = _check(load_photo(tmp_path / "g.tif"), 72)
    assert torch.allclose(x[0, 1], torch.from_numpy(_srgb(lin)).float(), atol=1e-5)


def test_compressed_float_rgb_tiff_refused_with_what_to_do(tmp_path):
    _write_float_tiff(tmp_path / "f.tif", np.zeros((8, 8, 3)), compression=5)
    with pytest.raises(PhotoError, match="LZW-compressed float TIFF.*run Proceduralize from Blender"):
        load_photo(tmp_path / "f.tif")


def test_truncated_float_rgb_tiff_is_reported(tmp_path):
    _write_float_tiff(tmp_path / "f.tif", np.zeros((64, 64, 3)), rows_per_strip=8)
    data = (tmp_path / "f.tif").read_bytes()
    (tmp_path / "f.tif").write_bytes(data[:-100])
    with pytest.raises(PhotoError, match="corrupt or truncated"):
        load_photo(tmp_path / "f.tif")


@pytest.mark.parametrize("head", [b"\x76\x2f\x31\x01\x02\x00\x00\x00", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n",
                                  b"#?RGBE\n"])
def test_exr_and_hdr_refused_with_what_to_do(tmp_path, head):
    (tmp_path / "p.img").write_bytes(head + bytes(200))
    with pytest.raises(PhotoError, match=r"EXR/HDR is not read by the engine; save the photo as PNG/JPEG/16-bit "
                                         r"TIFF \(in Blender: Image > Save As\), or run Proceduralize from Blender"):
        load_photo(tmp_path / "p.img")


# --- the command line prints each warning once, on one line ------------------------------------

def test_cli_prints_each_warning_on_one_line(tmp_path, monkeypatch):
    from diffproxy.cli import main, show_warning

    buf = io.StringIO()
    show_warning(PhotoWarning("tiny image (20 px)\n upscaled"), PhotoWarning, "/x/photo.py", 224, file=buf)
    assert buf.getvalue() == "warning: tiny image (20 px) upscaled\n"
    # a 20 px photo warns while it loads; VGG19 weights that are not there stop the command just
    # after (exit 2): the cheapest real command line that loads a photo
    Image.fromarray(_gradient_rgb(20, 20)).save(tmp_path / "t.png")
    args = ["proceduralize", str(tmp_path / "t.png"), "--out", str(tmp_path / "out"), "--descriptor", "vgg19"]
    env = dict(os.environ, DIFFPROXY_VGG19=str(tmp_path / "no-weights.pth"))
    r = subprocess.run([sys.executable, "-m", "diffproxy", *args], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 2 and "no-weights.pth" in r.stderr, r.stderr
    assert [ln for ln in r.stderr.splitlines() if "tiny" in ln or "photo.py" in ln] == [
        "warning: tiny image (20 px) upscaled to 64 px: too little detail for a reliable result, use a larger photo"]
    # in-process, the hook is there only while the command runs: library users keep Python's warnings
    monkeypatch.setenv("DIFFPROXY_VGG19", str(tmp_path / "no-weights.pth"))
    before = warnings.showwarning
    assert main(args) == 2
    assert warnings.showwarning is before


def test_cli_run_does_not_repeat_its_warnings_as_notes(tmp_path, capsys):
    """A warning shown while the photo loads is not printed again among the closing notes; a
    note that was no warning still is."""
    from diffproxy.cli import main

    Image.fromarray(_gradient_rgb(20, 30)).save(tmp_path / "t.png")  # tiny (warns) and non-square (a note)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["proceduralize", str(tmp_path / "t.png"), "--out", str(tmp_path / "out"), "--graph", "wood", "--preset",
                     "fast", "--res-out", "64", "--descriptor", "random", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("tiny image (20 px)") == 1 and "warning: tiny image (20 px)" in err, err
    assert "note: non-square" in err


def test_bench_photo_command(capsys):
    """The memory benchmark makes its photos and loads each in a fresh process (small sizes
    here; its figures are docs/BENCHMARKS.md's)."""
    from diffproxy.cli import main

    assert main(["bench-photo", "--photos", "600x400:jpg", "300x300:png", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| 600x400 JPG |" in out and "| 300x300 PNG |" in out
    row = [ln for ln in out.splitlines() if "600x400" in ln][0].split("|")
    assert int(row[3]) >= int(row[4]) > 0 and int(row[6]) == 400  # peak >= after imports; cropped square
    assert main(["bench-photo", "--photos", "600:jpg"]) == 2
