"""Input photo loading: every input class behaves as the module docstring states."""

from __future__ import annotations

import warnings

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


def test_exif_rotated_jpeg(tmp_path):
    # stored 64 wide x 32 high with the left half bright; orientation 6 = rotate 90 deg clockwise
    # to display, so the upright image is 32 x 64 with the bright half on top
    a = np.zeros((32, 64, 3), np.uint8)
    a[:, :32] = 250
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    p = load_photo(tmp_path / "r.jpg", min_size=16)
    assert p.original_size == (64, 32)
    assert any("EXIF orientation 6" in n for n in p.notes)
    # upright 32x64 (w x h) centre-cropped to rows 16..48: top half of the crop bright
    x = _check(p, 32)
    assert float(x[0, :, :14].mean()) > 0.9 and float(x[0, :, 18:].mean()) < 0.1


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
