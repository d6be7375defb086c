"""The layouts of generators whose counts a person reads off a photo: the count parameters
give that many units (found by the pattern's own period, not by the code's formulas)."""

from __future__ import annotations

import math

import pytest
import torch

from diffproxy.generators import get_generator
from diffproxy.generators.diamond_plate import tread_rows
from diffproxy.generators.herringbone import board_direction
from diffproxy.generators.knit import stitch_rows


def _params(name, **values):
    g = get_generator(name)
    p = g.spec.defaults(1)
    p.update({k: torch.tensor([float(v)]) for k, v in values.items()})
    return g, p


def _repeats(x: torch.Tensor, n: int, axis: int) -> bool:
    """Whether a ``(1, 1, H, W)`` pattern (``res`` a multiple of ``2 n``) repeats ``n`` times
    along ``axis`` (3: across, 2: down): rolled by one period it is itself."""
    return float((torch.roll(x, x.shape[axis] // n, axis) - x).abs().max()) < 1e-3


def _count(x: torch.Tensor, n: int, axis: int) -> bool:
    """``n`` units along ``axis``: the pattern repeats ``n`` times and not ``2 n`` (a half-unit
    shift, e.g. one leg of a stitch over, is not the same pattern)."""
    return _repeats(x, n, axis) and not _repeats(x, 2 * n, axis)


@pytest.mark.parametrize("rows,ratio", [(2, 4), (3, 3), (5, 6)])
def test_herringbone_zigzag_rows_and_directions(rows, ratio):
    g, p = _params("herringbone", rows=rows, ratio=ratio)
    d = board_direction(p, 256)[0, 0]
    assert abs(float(d.mean()) - 0.5) < 0.03  # as much board runs each way
    # down any column the direction flips twice per zigzag row
    for col in (0, 77, 200):
        flips = int((d[1:, col] != d[:-1, col]).sum()) + int(d[0, col] != d[-1, col])
        assert flips == 2 * rows, (col, flips)
    # the boards: joints (0) between board tops (> 0)
    x = g(p, 256)
    assert float((x < 0.05).float().mean()) > 0.02 and float((x > 0.3).float().mean()) > 0.6


@pytest.mark.parametrize("stitches,aspect,res", [(8, 1.5, 384), (16, 1.25, 320), (12, 1.0, 384)])
def test_knit_stitch_columns_and_rows(stitches, aspect, res):
    g, p = _params("knit", stitches=stitches, aspect=aspect, luminance_random=0)
    rows = int(stitch_rows(p)[0])
    assert rows == round(stitches * aspect)
    x = g(p, res)
    assert _count(x, stitches, 3) and _count(x, rows, 2)
    assert float((x < 0.01).float().mean()) > 0.02  # gaps between the yarn


@pytest.mark.parametrize("tiles,aspect,res", [(6, 1.0, 384), (8, 1.5, 384), (10, 0.8, 320)])
def test_diamond_plate_treads(tiles, aspect, res):
    g, p = _params("diamond_plate", tiles=tiles, aspect=aspect, height_random=0)
    rows = int(tread_rows(p)[0])
    assert rows == round(tiles * aspect)
    x = g(p, res)
    assert _count(x, tiles, 3) and _count(x, rows, 2)
    # treads on a flat plate: most of the plate is flat (0), the treads rise to about 1
    assert float((x < 0.01).float().mean()) > 0.4 and float(x.max()) > 0.9
