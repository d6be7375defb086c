"""Parameter specs: round trips, validation messages, samplers, normalisation."""

import json

import pytest
import torch

from diffproxy.params import (Param, ParamError, ParamSpec, bool_param, choice_param, float_param,
                              int_param)


def make_spec() -> ParamSpec:
    return ParamSpec([
        int_param("rows", 8, 2, 32, prior=(10, 3), role="generator", group="Pattern"),
        int_param("seed", 0, 0, 15, role="generator", group="Pattern"),
        float_param("gap", 0.05, 0.0, 0.2, prior=(0.04, 0.02), group="Mortar"),
        bool_param("flip", False, weights=(0.7, 0.3)),
        choice_param("mode", "running", ("running", "stack", "herringbone"), weights=(0.6, 0.3, 0.1)),
    ])


def test_defaults_and_json_round_trip():
    spec = make_spec()
    d = spec.defaults(batch=2)
    assert all(v.shape == (2,) for v in d.values())
    js = spec.to_json(d)
    assert js == {"rows": 8, "seed": 0, "gap": 0.05, "flip": False, "mode": "running"}
    back = spec.from_json(json.loads(json.dumps(js)))
    assert spec.to_json(back) == js
    # a sample survives JSON exactly (discrete) or to float precision
    s = spec.sample(4, generator=torch.Generator().manual_seed(3))
    for i in range(4):
        js = spec.to_json(s, index=i)
        again = spec.to_json(spec.from_json(json.loads(json.dumps(js))))
        assert again == pytest.approx(js)


def test_validation_lists_every_problem():
    spec = make_spec()
    with pytest.raises(ParamError) as e:
        spec.from_json({"rows": 100, "gap": "wide", "mode": "basket", "colour": 1, "seed": 2.5})
    msg = str(e.value)
    for frag in ["unknown parameter(s) ['colour']", "rows: 100 is outside [2, 32]",
                 "gap: expected a number", "mode: 'basket' is not one of", "seed: expected a whole number"]:
        assert frag in msg
    with pytest.raises(ParamError, match="JSON object"):
        spec.from_json([1, 2])
    assert "rows" in spec.from_json({"colour": 1}, strict=False)


def test_normalize_denormalize_and_round():
    spec = make_spec()
    s = spec.sample(64, generator=torch.Generator().manual_seed(0))
    u = spec.normalize(s)
    assert u.shape == (64, len(spec)) and u.min() >= 0 and u.max() <= 1
    back = spec.denormalize(u)
    for n in spec.names:
        assert torch.allclose(back[n], s[n], atol=1e-5)
    noisy = {n: v + 0.3 for n, v in s.items()}
    r = spec.round(noisy)
    assert torch.equal(r["rows"], torch.round((s["rows"] + 0.3).clamp(2, 32)))
    assert torch.allclose(r["gap"], (s["gap"] + 0.3).clamp(0, 0.2))


def test_normalize_is_differentiable():
    spec = make_spec()
    u = torch.full((1, len(spec)), 0.5, requires_grad=True)
    vals = spec.denormalize(u)
    (vals["gap"] * 3 + vals["rows"]).sum().backward()
    assert u.grad[0, spec.names.index("gap")] == pytest.approx(0.6)
    assert u.grad[0, spec.names.index("rows")] == pytest.approx(30)


def test_prior_differs_from_uniform_and_stays_in_range():
    spec = make_spec()
    g = torch.Generator().manual_seed(1)
    prior = spec.sample(4000, generator=g)
    uni = spec.sample(4000, generator=g, prior=False)
    assert prior["rows"].min() >= 2 and prior["rows"].max() <= 32
    assert abs(prior["rows"].mean().item() - 10) < 1.0  # artist prior centred where declared
    assert abs(uni["rows"].mean().item() - 17) < 1.0  # uniform centred mid-range
    assert prior["gap"].min() >= 0 and prior["gap"].max() <= 0.2
    assert abs(prior["flip"].mean().item() - 0.3) < 0.05
    assert abs((prior["mode"] == 2).float().mean().item() - 0.1) < 0.03
    assert torch.equal(prior["rows"], torch.round(prior["rows"]))


def test_sampling_is_reproducible():
    spec = make_spec()
    a = spec.sample(5, generator=torch.Generator().manual_seed(7))
    b = spec.sample(5, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(a[n], b[n]) for n in spec.names)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="kind"):
        Param("x", "colour")
    with pytest.raises(ValueError, match="high"):
        float_param("x", 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="default"):
        float_param("x", 2.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="duplicate"):
        ParamSpec([float_param("x", 0.0, 0.0, 1.0), float_param("x", 0.0, 0.0, 1.0)])
    with pytest.raises(ValueError, match="weights"):
        int_param("x", 0, 0, 3, weights=(1, 1))
    with pytest.raises(ValueError, match="period must be one of"):
        int_param("x", 1, 1, 3, period="z")
    with pytest.raises(ValueError, match="only an int count"):
        float_param("x", 0.5, 0.0, 1.0, period="x")
    with pytest.raises(ValueError, match="only an int count"):
        int_param("seed", 0, 0, 15, seed=True, period="xy")
    with pytest.raises(ValueError, match="periodic"):
        int_param("x", 0, 0, 3, periodic=True)


def test_hash_tracks_declarations_and_prefix_groups():
    a, b = make_spec(), make_spec()
    assert a.hash() == b.hash()
    c = ParamSpec(a.params[:-1] + [choice_param("mode", "stack", ("running", "stack", "herringbone"))])
    assert c.hash() != a.hash()
    p = a.prefixed("pattern", role="generator")
    assert p.names[0] == "pattern.rows" and all(x.role == "generator" for x in p)
    desc = a.describe()
    assert desc[4]["choices"] == ["running", "stack", "herringbone"] and desc[0]["min"] == 2


def _nested(depth: int) -> list:
    """A list nested ``depth`` deep, built without recursion (as a JSON parser with a deep stack
    would hand it over)."""
    top: list = []
    cur = top
    for _ in range(depth):
        cur.append([])
        cur = cur[0]
    return top


@pytest.mark.parametrize("make,needle", [
    (lambda: 10 ** 400, "rows: about 10^400 is outside [2, 32]"),  # float(10**400): OverflowError
    (lambda: -10 ** 5000, "rows: about -10^5000 is outside [2, 32]"),  # past repr's 4300 digits
    (lambda: float("inf"), "rows: expected a whole number in [2, 32], got inf (not a finite number)"),
    (lambda: float("nan"), "rows: expected a whole number in [2, 32], got nan (not a finite number)"),
    (lambda: list(range(2_000_000)), "rows: expected a whole number in [2, 32], got [0, 1, 2, 3, ...]"),
    (lambda: _nested(100_000), "rows: expected a whole number in [2, 32], got [[[...]]]"),
    (lambda: "x" * 1_000_000, "rows: expected a whole number in [2, 32], got 'xxxx"),
], ids=["1e400-int", "-1e5000-int", "inf", "nan", "2M-array", "nested-100k", "1MB-string"])
def test_hostile_values_give_a_short_param_error(make, needle):
    """What a JSON file or a request can hold gives a ParamError (the server answers it as a bad
    request) that names the parameter and its range and quotes the value shortened: no
    OverflowError, RecursionError or 17 MB message."""
    spec, value = make_spec(), make()
    with pytest.raises(ParamError) as e:
        spec.from_json({"rows": value})
    msg = str(e.value)
    assert needle in msg and len(msg) < 200, msg[:300]
    for name in ("gap", "flip", "mode"):  # every kind refuses it with a short message too
        with pytest.raises(ParamError) as e:
            spec.from_json({name: value})
        assert str(e.value).startswith(f"invalid parameters:\n  - {name}: ") and len(str(e.value)) < 200


def test_many_unknown_names_are_listed_shortened():
    with pytest.raises(ParamError) as e:
        make_spec().from_json({f"p{i}": 1 for i in range(100_000)})
    msg = str(e.value)
    assert "unknown parameter(s) ['p0', 'p1', 'p2', 'p3', 'p4'] and 99995 more" in msg and len(msg) < 300
