"""Adam and the descent every stage runs on (:mod:`diffproxy.optimize.descent`), and the fit's basics.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from diffproxy.optimize.control import Reporter
from optimize_common import _setup  # noqa: F401 (tiny: a fixture)


def test_adam_with_several_starts_keeps_the_best_row():
    from diffproxy.optimize.descent import adam

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    starts = torch.cat([u_s, u_t])  # row 1 is the target itself: nothing can beat it by much
    r = adam(fit, starts, fit.filter_idx, fit.joint, steps=3, lr=0.01, halve_every=None,
             reporter=Reporter(), stage="t")
    with torch.no_grad():
        row_losses = fit.joint(fit.render(starts))
    assert r.info["starts"] == 2 and r.u.shape == (1, starts.shape[1])
    assert r.start == pytest.approx(float(row_losses[0]), rel=1e-4)  # row 0's start
    assert r.end <= float(row_losses.min()) + 1e-6
    with torch.no_grad():
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)


def test_adam_survives_a_nan_gradient():
    from diffproxy.optimize.descent import adam

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    calls = {"n": 0}

    def loss_with_a_nan_gradient_on_step_2(img):
        calls["n"] += 1
        loss = fit.style(img)
        if calls["n"] == 2:  # sqrt at 0 has an infinite derivative: 0 * inf = NaN
            loss = loss + 0.0 * torch.sqrt((img - img.detach()).abs().sum())
        return loss

    r = adam(fit, u_s, fit.filter_idx, loss_with_a_nan_gradient_on_step_2, steps=4, lr=0.05,
             halve_every=None, reporter=Reporter(), stage="t")
    assert torch.isfinite(r.u).all()
    assert r.info["nonfinite_gradient_steps"] == 1
    assert r.end < r.start  # the other steps still descended


def test_adam_wraps_a_hue_around_instead_of_stopping_at_the_end_of_its_range():
    from diffproxy.optimize.descent import adam

    fit, u_t, _, _ = _setup("bricks", seed=2)
    names = fit.spec.names
    hue = names.index("color.brick.hue")
    assert fit.spec["color.brick.hue"].periodic and not fit.spec["color.brick.saturation"].periodic
    target = u_t.clone()
    target[0, hue] = 0.02  # a red just past 0 ...
    fit2 = type(fit)(fit.graph, fit.render(target).detach(), fit.preset, fit.loss.descriptor, fit.device)
    start = target.clone()
    start[0, hue] = 0.97  # ... approached from the magenta side of 1
    r = adam(fit2, start, [hue], fit2.style, steps=8, lr=0.03, halve_every=None,
             reporter=Reporter(), stage="t")
    end = float(r.u[0, hue])
    assert end < 0.5, f"the hue stopped at {end:.3f} instead of wrapping past 1 to the target's 0.02"
    assert abs(end - 0.02) < 0.02 and r.end < r.start
    # other parameters are still clamped
    v = fit.keep_in_range(torch.tensor([[1.2, 1.2, -0.1]]), [hue, hue + 1, hue + 1])
    assert torch.allclose(v, torch.tensor([[0.2, 1.0, 0.0]]))


@pytest.mark.parametrize("halve_every", [None, 3])
def test_descent_adam_matches_torch_adam(halve_every):
    from diffproxy.optimize.descent import Adam
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 5, generator=gen)
    start = torch.rand(2, 5, generator=gen)
    a = start.clone().requires_grad_(True)
    b = start.clone().requires_grad_(True)
    ours = Adam(a, 0.05, halve_every)
    theirs = torch.optim.Adam([b], lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=halve_every, gamma=0.5) if halve_every else None
    for _ in range(10):
        for x, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            ((x - target) ** 2 * torch.arange(1.0, 6.0)).sum().backward()
            opt.step()
        if sched is not None:
            sched.step()
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, start)


def test_adam_state_carried_into_a_new_adam_goes_on_as_one_descent():
    from diffproxy.optimize.descent import Adam
    gen = torch.Generator().manual_seed(1)
    target, start = torch.rand(2, 5, generator=gen), torch.rand(2, 5, generator=gen)

    def run(x, opt, n, rows=slice(None)):
        for _ in range(n):
            opt.zero_grad()
            ((x - target[rows]) ** 2 * torch.arange(1.0, 6.0)).sum().backward()
            opt.step()

    whole = start.clone().requires_grad_(True)
    run(whole, Adam(whole, 0.05, halve_every=4), 10)
    first = start.clone().requires_grad_(True)
    a = Adam(first, 0.05, halve_every=4)
    run(first, a, 6)
    for row in (0, 1):  # one row of a batch goes on alone
        rest = first.detach()[row:row + 1].clone().requires_grad_(True)
        b = Adam(rest, 0.05, halve_every=4)
        b.load(a.state(row))
        assert b.current_lr() == a.current_lr() == 0.025  # the schedule counts the carried steps
        run(rest, b, 4, slice(row, row + 1))
        assert torch.allclose(rest, whole.detach()[row:row + 1], atol=1e-6)
    fresh = first.detach()[:1].clone().requires_grad_(True)  # what the carrying avoids
    run(fresh, Adam(fresh, 0.025), 4, slice(0, 1))
    assert not torch.allclose(fresh, whole.detach()[:1], atol=1e-4)
    with pytest.raises(ValueError, match="moments for 5 parameters"):
        Adam(torch.zeros(1, 3, requires_grad=True), 0.1).load(a.state(0))


def test_a_fit_does_not_import_the_compiler(tmp_path):
    """torch.optim's first optimiser imports torch._dynamo (1.5 s); the stages must not."""
    code = ("import sys, torch\n"
            "from diffproxy.optimize import Options, proceduralize\n"
            "img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))\n"
            "proceduralize(img, Options(graph='bricks', preset='fast', res_out=256)).write(sys.argv[1])\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_fit_sharper_doubles_the_resolution():
    fit, _, _, _ = _setup("bricks", seed=3)  # fit at 48 px on a 64 px photo
    s = fit.sharper()
    assert s.res == 64 and s.supersample == 1 and s.preset.scales == (64, 32, 16) and fit.res == 48


def test_seed_flag_only_on_ints():
    from diffproxy.params import Param

    with pytest.raises(ValueError, match="seed"):
        Param("x", "float", 0.0, 0.0, 1.0, seed=True)
