"""PNG encoder/decoder, map export, no-overwrite rule."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from diffproxy import io


def rand_img(c, h, w, seed=0):
    return torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("c", [1, 2, 3, 4])
@pytest.mark.parametrize("bits", [8, 16])
def test_png_round_trip_exact(tmp_path, c, bits):
    img = rand_img(c, 13, 17)
    p = io.save_png(img, tmp_path / "x.png", bits)
    back = io.read_png(p)
    top = (1 << bits) - 1
    assert back.shape == (c, 13, 17) and back.dtype == torch.float32
    assert torch.equal(torch.round(back * top), torch.round(img * top))


@pytest.mark.parametrize("c,mode", [(1, "I;16"), (3, "RGB"), (4, "RGBA")])
def test_16bit_png_readable_by_pillow(tmp_path, c, mode):
    img = rand_img(c, 9, 11, seed=1)
    p = io.save_png(img, tmp_path / "x.png", 16)
    codes = io.to_pixels(img, 16)
    with Image.open(p) as im:
        im.load()
        arr = np.asarray(im)
        assert im.size == (11, 9)
        if c == 1:
            assert im.mode.startswith("I")  # Pillow keeps 16-bit gray exact
            assert np.array_equal(arr.astype(np.int64), codes[:, :, 0].astype(np.int64))
        else:
            assert im.mode == mode  # Pillow reduces 16-bit colour to its high byte
            assert np.array_equal(arr, (codes >> 8).astype(np.uint8))


def test_8bit_png_matches_pillow(tmp_path):
    img = rand_img(3, 10, 12, seed=2)
    p = io.save_png(img, tmp_path / "x.png", 8)
    with Image.open(p) as im:
        assert np.array_equal(np.asarray(im), io.to_pixels(img, 8))


def test_parallel_deflate_blocks_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_BLOCK_BYTES", 1000)  # force many sync-flushed blocks
    img = rand_img(3, 64, 64, seed=3)
    data = io.encode_png(io.to_pixels(img, 16), workers=3)
    p = tmp_path / "x.png"
    p.write_bytes(data)
    assert torch.equal(io.read_png(p), torch.round(img * 65535) / 65535)
    with Image.open(p) as im:
        im.load()  # Pillow verifies the zlib stream (adler32) and the chunk CRCs


@pytest.mark.parametrize("level", [0, 1, 6])
def test_compress_levels_decode_identically(level):
    px = io.to_pixels(rand_img(1, 20, 20, seed=4), 16)
    assert np.array_equal(io.decode_png(io.encode_png(px, level)), px)


def test_decoder_handles_all_filter_types():
    # hand-filter each row with a different PNG filter type; Pillow is the reference decoder
    rng = np.random.default_rng(5)
    base = np.cumsum(rng.integers(0, 3, size=(16, 16, 3)), axis=1).astype(np.uint8)
    raw = base.reshape(16, -1)
    rows = []
    for y, ft in enumerate([0, 1, 2, 3, 4] * 3 + [4]):
        prev = raw[y - 1].astype(np.int32) if y else np.zeros(raw.shape[1], np.int32)
        cur = raw[y].astype(np.int32)
        left = np.concatenate([np.zeros(3, np.int32), cur[:-3]])
        upleft = np.concatenate([np.zeros(3, np.int32), prev[:-3]])
        if ft == 0:
            pred = np.zeros_like(cur)
        elif ft == 1:
            pred = left
        elif ft == 2:
            pred = prev
        elif ft == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        rows.append(bytes([ft]) + ((cur - pred) % 256).astype(np.uint8).tobytes())
    png = io._PNG_SIG + io._chunk(b"IHDR", io.struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
    png += io._chunk(b"IDAT", zlib.compress(b"".join(rows))) + io._chunk(b"IEND", b"")
    assert np.array_equal(io.decode_png(png), base)
    with Image.open(io_bytes(png)) as im:
        assert np.array_equal(np.asarray(im), base)


def io_bytes(data):
    import io as _io
    return _io.BytesIO(data)


def test_save_png_refuses_overwrite_and_bad_input(tmp_path):
    p = io.save_png(rand_img(1, 4, 4), tmp_path / "a.png")
    before = p.read_bytes()
    with pytest.raises(FileExistsError, match=r"a\.png.*--overwrite"):
        io.save_png(torch.zeros(1, 4, 4), p)
    assert p.read_bytes() == before
    io.save_png(torch.zeros(1, 4, 4), p, overwrite=True)
    assert p.read_bytes() != before
    with pytest.raises(ValueError, match="bits"):
        io.save_png(torch.zeros(1, 4, 4), tmp_path / "b.png", bits=12)
    with pytest.raises(ValueError, match="NaN"):
        io.save_png(torch.full((1, 4, 4), float("nan")), tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        io.save_png(torch.zeros(5, 4, 4), tmp_path / "d.png")


def make_maps(b=2, res=8):
    g = torch.Generator().manual_seed(6)
    return {"basecolor": torch.rand(b, 3, res, res, generator=g),
            "normal": torch.rand(b, 3, res, res, generator=g),
            "roughness": torch.rand(b, 1, res, res, generator=g),
            "metallic": torch.rand(b, 1, res, res, generator=g),
            "height": torch.rand(b, 1, res, res, generator=g)}


def test_save_maps_formats_and_values(tmp_path):
    maps = make_maps()
    render = torch.rand(2, 3, 8, 8)
    paths = io.save_maps(maps, tmp_path / "out", index=1, extra={"render": render})
    assert list(paths) == ["basecolor", "normal", "roughness", "metallic", "height", "render"]
    for name, (chans, bits) in io.MAP_FORMATS.items():
        data = paths[name].read_bytes()
        assert data[24] == bits and io._CHANNELS[data[25]] == chans, name
        top = (1 << bits) - 1
        assert torch.equal(torch.round(io.read_png(paths[name]) * top), torch.round(maps[name][1] * top)), name
    assert torch.equal(io.read_png(paths["render"]), torch.round(render[1] * 255) / 255)


def test_save_maps_checks_every_target_before_writing(tmp_path):
    (tmp_path / "height.png").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match=r"height\.png.*--overwrite"):
        io.save_maps(make_maps(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["height.png"]  # nothing half-written
    io.save_maps(make_maps(), tmp_path, overwrite=True)
    assert io.read_png(tmp_path / "height.png").shape == (1, 8, 8)


def test_save_maps_argument_checks(tmp_path):
    with pytest.raises(ValueError, match="unknown map 'albedo'"):
        io.save_maps({"albedo": torch.zeros(1, 3, 4, 4)}, tmp_path)
    with pytest.raises(ValueError, match=r"maps\['normal'\] must be \(B, 3, H, W\)"):
        io.save_maps({"normal": torch.zeros(1, 1, 4, 4)}, tmp_path)
    with pytest.raises(ValueError, match="index 2"):
        io.save_maps(make_maps(), tmp_path, index=2)


def test_save_json(tmp_path):
    p = io.save_json(tmp_path / "sub" / "p.json", {"a": 1, "b": [1.5, "x"]})
    assert json.loads(p.read_text()) == {"a": 1, "b": [1.5, "x"]}
    with pytest.raises(FileExistsError, match="--overwrite"):
        io.save_json(p, {})
    io.save_json(p, {"c": True}, overwrite=True)
    assert json.loads(p.read_text()) == {"c": True}
