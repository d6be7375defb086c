"""diffproxy.straighten: a photo turned a little is read and turned back; photos without lines,
or turned too far to be a turned pattern, are left as they are."""

from __future__ import annotations

import math

import pytest
import torch

from diffproxy.photo import load_photo
from diffproxy.straighten import MAX_DEG, MIN_PEAK, kept_share, measure_tilt, straighten, turn


def _render(graph: str, seed: int | None = None, res: int = 384) -> torch.Tensor:
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph(graph)
    p = g.spec.defaults() if seed is None else g.spec.round(g.spec.sample(1, generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        return render(g.maps(p, res)).clamp(0, 1)


@pytest.fixture(scope="module")
def wall() -> torch.Tensor:
    return _render("bricks")


def test_kept_share_is_the_inscribed_square():
    assert kept_share(0.0) == pytest.approx(1.0)
    assert kept_share(45.0) == pytest.approx(1 / math.sqrt(2))
    assert kept_share(-7.0) == kept_share(7.0) == pytest.approx(1 / (math.cos(math.radians(7)) + math.sin(math.radians(7))))


def test_a_square_wall_is_left_as_it_is(wall):
    tilt = measure_tilt(wall)
    assert abs(tilt.degrees) <= 0.25 and tilt.peak >= MIN_PEAK and not tilt.acts
    photo = load_photo(wall)
    same, _ = straighten(photo)
    assert same is photo


@pytest.mark.parametrize("degrees", [3.0, -5.5, 8.0])
def test_a_turned_wall_is_read_and_turned_back(wall, degrees):
    turned = turn(wall, degrees, kept_share(degrees)).clamp(0, 1)  # taken turned by `degrees`
    tilt = measure_tilt(turned)
    assert tilt.acts and tilt.degrees == pytest.approx(-degrees, abs=0.3), tilt
    photo = load_photo(turned)
    out, read = straighten(photo)
    assert read == tilt and out is not photo
    side = photo.size
    assert out.size == round(side * kept_share(tilt.degrees))
    assert len(out.notes) == len(photo.notes) + 1 and "degrees" in out.notes[-1] and "--no-straighten" in out.notes[-1]
    again = measure_tilt(out.image)
    assert abs(again.degrees) < 0.75 and not again.acts, again  # square now
    # and it looks like the wall again: closer to the untouched wall's centre than the turned photo
    ref = torch.nn.functional.interpolate(turn(wall, 0.0, kept_share(degrees) ** 2), size=out.size, mode="area")
    back = torch.nn.functional.interpolate(turned, size=out.size, mode="area")
    assert (out.image - ref).abs().mean() < (back - ref).abs().mean()


def test_a_small_turn_is_read_but_left(wall):
    """Under MIN_DEG the layout reading holds and squaring gained nothing: read, not acted on."""
    from diffproxy.straighten import MIN_DEG

    d = MIN_DEG / 2
    tilt = measure_tilt(turn(wall, d, kept_share(d)).clamp(0, 1))
    assert tilt.degrees == pytest.approx(-d, abs=0.3) and tilt.peak >= MIN_PEAK and not tilt.acts, tilt


def test_no_lines_no_turn():
    """A grain without joints (leather's cells, an artist-prior draw) reads no turn worth making,
    straight or turned."""
    grain = _render("leather", seed=1)
    for d in (0.0, 4.0):
        tilt = measure_tilt(turn(grain, d, kept_share(d)).clamp(0, 1))
        assert tilt.peak < MIN_PEAK and not tilt.acts, (d, tilt)


def test_a_pattern_turned_past_the_limit_is_its_own(wall):
    d = MAX_DEG + 1.0
    tilt = measure_tilt(turn(wall, d, kept_share(d)).clamp(0, 1))
    assert not tilt.acts, tilt


def test_a_small_photo_stays_at_least_the_loader_s_floor(wall):
    """A 64 px photo (the loader's smallest) squared keeps 64 px, not the inscribed 60."""
    from diffproxy.photo import DEFAULT_MIN_SIZE

    small = torch.nn.functional.interpolate(turn(wall, 6.0, kept_share(6.0)).clamp(0, 1), size=(64, 64), mode="area")
    photo = load_photo(small)
    out, tilt = straighten(photo)
    assert tilt.acts and out.size == DEFAULT_MIN_SIZE == 64, (tilt, out.size)
