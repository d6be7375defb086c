"""Training a proxy: ``diffproxy proxy-train --generator NAME``.

Data are made on the fly: parameter sets drawn from the generator's artist prior
(``spec.sample(prior=True)``), drawn by the real generator on the training device at the
proxy's resolution, normalised to [0, 1] for the network. Nothing is stored.

Loss (paper, Sec. 4): ``L1 + 10 x feature + 1 x style``, where feature = mean L1 between the
feature maps of a frozen descriptor and style = mean L1 between their Gram matrices. The
descriptor is the engine's seeded random-weight CNN (:class:`diffproxy.descriptor.RandomCNN`,
no downloadable VGG weights needed), trimmed to its first :data:`DESCRIPTOR_CHANNELS` blocks
for speed; its ``weights_hash`` goes into the training record. For stochastic generators
(``Generator.stochastic``) a conditional critic (:mod:`.critic`) adds ``0.1 x`` a
non-saturating adversarial term, regularised with R1 (gamma 10, lazily every
:data:`R1_INTERVAL` steps).

Schedule: Adam (betas 0.9, 0.99) at ``lr`` (default 0.02: StyleGAN's 0.0025 learnt nothing in
a CPU budget of ~1000 steps; 0.01-0.03 did), critic Adam (betas 0, 0.99) at 0.0025, both linearly ramped down to 0 over the
last ``rampdown`` share of the run (of ``--steps``, or of ``--minutes`` for a time-limited run,
whichever is further along), because a short run ends far more accurate with a decayed rate.

Run directory (default ``./proxy_runs/<generator>/``): ``checkpoint.pt`` (resumable, full
precision, read with ``weights_only=True``), ``samples_<step>.png`` (row 1 real, row 2 proxy, on
fixed validation parameters), ``log.jsonl`` (one JSON line per log event). At the end the fp16
weights go to ``engine/weights/<generator>.safetensors`` (or ``export``).

Multi-GPU: launched by ``torchrun`` (``WORLD_SIZE > 1``) every process draws its own batches
(seed + rank) and gradients are averaged across processes after each backward (all-reduce, as
in stylegan2-ada; this also works with the R1 double backward, unlike DDP's hooks). Rank 0 logs,
writes files and decides when to stop. Single process is the default.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ..device import pick_device
from . import param_levels, resolve_generator, valid_levels
from .checkpoint import load_checkpoint, load_network, save_checkpoint, save_weights, weights_path
from .critic import Critic
from .network import ProxyNetwork

DESCRIPTOR_CHANNELS = (16, 32, 64, 64)  # blocks of the random CNN used for the feature/style terms
R1_INTERVAL = 4  # lazy R1: every 4th critic step, weighted x4 (StyleGAN2)
VAL_SAMPLES = 256


@dataclass
class TrainConfig:
    """Everything a run needs; saved in the checkpoint and the weights' training record."""

    generator: str
    res: int = 64
    batch: int = 16
    steps: int | None = None  # total steps (a resumed run continues up to this)
    minutes: float | None = None  # wall-clock budget of this invocation
    cpu_minutes: float | None = None  # CPU-time budget of this invocation (fair on a shared machine)
    lr: float = 0.02  # CPU-tuned: 0.0025 learnt nothing in ~1000 steps, 0.01-0.03 did
    critic_lr: float = 0.0025
    rampdown: float = 0.3
    w_l1: float = 1.0
    w_feature: float = 10.0
    w_style: float = 1.0
    w_adv: float = 0.1
    adversarial: bool | None = None  # None: on for stochastic generators
    r1_gamma: float = 10.0
    seed: int = 0
    device: str = "auto"
    out: str | None = None  # run dir, default ./proxy_runs/<generator>
    export: str | None = None  # weights path, default engine/weights/<generator>.safetensors
    resume: bool = False
    init_from: str | None = None  # warm start: network weights (and architecture) of a weights file
    network: dict = field(default_factory=lambda: dict(channel_base=512, channel_max=128, w_dim=128,
                                                       mapping_layers=4, mapping_lr=0.1,
                                                       fourier_bands=4, embed_dim=8, waves=16))
    sample_every: int = 500
    checkpoint_minutes: float = 2.0
    log_every: int = 50
    threads: int | None = None  # torch CPU threads (None: leave torch's default)
    progress: bool = True
    # counts that set a period (``Param.period``) trained at fractional values too
    # (:func:`fractional_batch`); ``("all",)``: every such count of the generator
    fractional: tuple[str, ...] = ()


class FeatureLoss(torch.nn.Module):
    """Feature (L1 of feature maps) and style (L1 of Gram matrices) terms on gray images."""

    def __init__(self, device):
        super().__init__()
        from ..descriptor import RandomCNN
        self.descriptor = RandomCNN(channels=DESCRIPTOR_CHANNELS).to(device)
        self.layers = tuple(self.descriptor.taps)

    @property
    def info(self) -> dict:
        return {"name": self.descriptor.name, "channels": list(DESCRIPTOR_CHANNELS),
                "weights_hash": self.descriptor.weights_hash, "layers": list(self.layers)}

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        out = self.descriptor(img.expand(-1, 3, -1, -1), self.layers)
        return [out[n] for n in self.layers]

    def forward(self, pred: torch.Tensor, real_feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        from ..losses import gram
        feature = style = pred.new_zeros(())
        for fp, fr in zip(self.features(pred), real_feats):
            feature = feature + (fp - fr).abs().mean()
            style = style + (gram(fp) - gram(fr)).abs().mean()
        return feature / len(real_feats), style / len(real_feats)


def fractional_names(spec, names: Sequence[str]) -> tuple[str, ...]:
    """The counts to train at fractional values: ``("all",)`` means every count of ``spec`` that
    sets a period (``Param.period``); named ones must be such counts (ValueError otherwise)."""
    periodic = tuple(p.name for p in spec if p.period)
    if tuple(names) == ("all",):
        return periodic
    bad = [n for n in names if n not in periodic]
    if bad:
        raise ValueError(f"fractional: {bad} are not counts that set a period of this generator's pattern "
                         f"(those are: {list(periodic) or 'none'}; or say 'all')")
    return tuple(names)


def fractional_batch(gen, params: dict[str, torch.Tensor], res: int, names: tuple[str, ...],
                     rng: torch.Generator, share: float = 0.75) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Training pairs at fractional counts. For ``share`` of the samples, each count of
    ``names`` (counts that set a period, ``Param.period``) drawn at ``n`` becomes ``c``, uniform
    between the next lower level its prior can draw and ``n`` (brick rows go 2 at a time; the
    lowest level stays whole); the pattern is drawn with ``n`` and zoomed along the count's
    axis (both for ``"xy"``) so that ``c`` periods span the image (its top-left ``c / n`` of the
    texture, bilinear; not tileable, for training only). At a whole count this is exactly the
    generator's pattern. Between two counts the network sees the pattern *stretch*, not blend:
    a stretch is what gives a shift-invariant loss a usable derivative in the count
    (docs/BENCHMARKS.md, "Could any proxy do better in the anchored form?").
    Returns the parameters (natural units, fractional counts) and the patterns ``(B, 1, res, res)``."""
    params, drawn = dict(params), {}
    b = next(iter(params.values())).shape[0]
    scale = {"x": torch.ones(b), "y": torch.ones(b)}
    moved = torch.rand(b, generator=rng) < share
    for name in names:
        p = gen.spec[name]
        levels = _drawable(p, torch.device("cpu"))
        n = params[name].detach().cpu().round()
        below = levels[(torch.searchsorted(levels, n) - 1).clamp(min=0)]
        # the lowest level stays whole: below it the count would leave its range
        c = torch.where(moved & (below < n), n - (n - below) * torch.rand(b, generator=rng), n)
        for axis in p.period:
            scale[axis] = scale[axis] * c / n
        drawn[name], params[name] = n.to(params[name]), c.to(params[name])
    with torch.no_grad():
        real = zoom_corner(gen({**params, **drawn}, res), scale["x"], scale["y"])
    return params, real


def _drawable(p, device: torch.device) -> torch.Tensor:
    """The values of the discrete parameter ``p`` its prior can draw, ascending, float32."""
    return torch.tensor([p.low + k for k in p.allowed_levels], dtype=torch.float32, device=device)


def next_levels(p, c: torch.Tensor) -> torch.Tensor:
    """Per value of ``c`` (a count, maybe fractional), the smallest level of ``p`` its prior can
    draw that is at least ``c`` (the count whose pattern a zoom by ``c / n`` shows)."""
    levels = _drawable(p, c.device)
    return levels[torch.searchsorted(levels, c.detach().float() - 1e-4).clamp(max=len(levels) - 1)]


def zoom_corner(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` images -> their top-left ``sx`` by ``sy`` (fractions, ``(B,)`` each)
    stretched over the whole image, bilinear: differentiable in ``sx`` and ``sy``."""
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    sx, sy = sx.to(x), sy.to(x)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    theta[:, 0, 2], theta[:, 1, 2] = sx - 1.0, sy - 1.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _sync_grads(module: torch.nn.Module, world: int) -> None:
    # Average gradients over processes in one flat all-reduce (stylegan2-ada's approach).
    if world <= 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    torch.distributed.all_reduce(flat)
    flat /= world
    torch.nan_to_num_(flat, nan=0.0, posinf=1e5, neginf=-1e5)
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(g.view_as(p))


def _broadcast(module: torch.nn.Module, world: int) -> None:
    if world > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(t.data, src=0)


def sample_grid(rows: list[torch.Tensor], path: str | Path, tile: int | None = None) -> Path:
    """Write a PNG grid: each entry of ``rows`` is ``(N, 1, H, W)`` in [0, 1], one row each,
    tiles scaled to ``tile`` pixels by nearest neighbour (pixels stay honest)."""
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    strips = []
    for r in rows:
        r = r.detach().float().cpu().clamp(0, 1)
        if tile is not None and tile != r.shape[-1]:
            r = F.interpolate(r, size=(tile, tile), mode="nearest")
        gap = torch.ones(r.shape[0], 1, r.shape[2], 2)  # white 2 px separators
        strips.append(torch.cat([torch.cat([t, g], -1) for t, g in zip(r, gap)], -1)[0])
    grid = torch.cat([torch.cat([s, torch.ones(2, s.shape[1])], 0) for s in strips], 0)
    Image.fromarray((grid.numpy() * 255.0 + 0.5).astype("uint8"), mode="L").save(path, optimize=True)
    return path


def _lr_factor(cfg: TrainConfig, step: int, elapsed: float, cpu: float) -> float:
    fracs = []
    if cfg.steps:
        fracs.append(step / cfg.steps)
    if cfg.minutes:
        fracs.append(elapsed / (cfg.minutes * 60.0))
    if cfg.cpu_minutes:
        fracs.append(cpu / (cfg.cpu_minutes * 60.0))
    progress = max(fracs) if fracs else 0.0
    if cfg.rampdown <= 0:
        return 1.0
    return float(min(1.0, max(0.0, (1.0 - progress) / cfg.rampdown)))


@torch.no_grad()
def validation_l1(net: ProxyNetwork, u: torch.Tensor, real: torch.Tensor, chunk: int = 64) -> float:
    """Mean absolute difference between the network's output and ``real`` over a fixed set."""
    was_training = net.training
    net.eval()
    total = 0.0
    for i in range(0, u.shape[0], chunk):
        total += float((net(u[i:i + chunk]) - real[i:i + chunk]).abs().sum())
    net.train(was_training)
    return total / real.numel()


class ProxyTrainer:
    """One training run: model, critic, optimisers, counters, run directory.

    ``ProxyTrainer(cfg).run()`` trains until ``cfg``'s budget is spent (or Ctrl-C), then writes
    the checkpoint and the fp16 weights and returns the summary.
    """

    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.world, self.rank, local_rank = _dist_info()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "gloo"
            torch.distributed.init_process_group(backend=backend)
        self.main = self.rank == 0
        self.say = (log or (lambda m: print(m, file=sys.stderr))) if self.main else (lambda m: None)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.gen = gen = resolve_generator(cfg.generator)
        self.fractional = fractional_names(gen.spec, cfg.fractional) if cfg.fractional else ()
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        self.adversarial = gen.stochastic if cfg.adversarial is None else bool(cfg.adversarial)
        self.run_dir = Path(cfg.out or Path("proxy_runs") / gen.name)
        self.ckpt_path = self.run_dir / "checkpoint.pt"
        self.export_path = Path(cfg.export) if cfg.export else weights_path(gen.name)
        self.step, self.samples_seen, self.seconds_before, self.cpu_before = 0, 0, 0.0, 0.0
        self.history: list[dict] = []
        self.data_rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17 + self.rank)

        torch.manual_seed(cfg.seed * 7919)  # same initial weights on every rank
        state = None
        if cfg.resume and self.ckpt_path.is_file():
            state = load_checkpoint(self.ckpt_path, gen)
        elif cfg.resume:
            self.say(f"--resume: no checkpoint at {self.ckpt_path}, starting fresh")
        # A resumed run keeps the checkpoint's architecture, whatever the command line says;
        # a warm start (init_from, ignored when resuming) keeps its weights file's.
        self.init_record: dict[str, Any] | None = None
        if state:
            self.net = ProxyNetwork(**state["network_config"]).to(self.device)
        elif cfg.init_from:
            net, meta = load_network(cfg.init_from, gen, self.device)  # refuses another generator/spec
            self.net = net.train()
            self.init_record = {"path": str(cfg.init_from), "training": meta.get("training", {})}
            self.say(f"warm start from {cfg.init_from} ({self.init_record['training'].get('steps', '?')} "
                     f"steps of earlier training); fresh optimiser")
        else:
            self.net = ProxyNetwork(levels=param_levels(gen.spec), resolution=cfg.res,
                                    **cfg.network).to(self.device)
        self.net.encoder.set_valid_levels(valid_levels(gen.spec))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.critic = self.critic_opt = None
        if self.adversarial:
            critic_config = state.get("critic_config") if state else None
            self.critic = Critic(**(critic_config or dict(num_params=len(gen.spec),
                                                          resolution=self.net.resolution))).to(self.device)
            self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, betas=(0.0, 0.99))
        if state:
            self._restore(state)
        _broadcast(self.net, self.world)
        if self.critic is not None:
            _broadcast(self.critic, self.world)
        self.res = self.net.resolution
        self.feat_loss = FeatureLoss(self.device)

        # Fixed validation set (same on every rank and resume), judged with proxy-eval's figure.
        val_params = gen.spec.sample(VAL_SAMPLES, generator=torch.Generator().manual_seed(12345),
                                     prior=True, device=self.device)
        with torch.no_grad():
            self.val_real = torch.cat([gen({k: v[i:i + 64] for k, v in val_params.items()}, self.res)
                                       for i in range(0, VAL_SAMPLES, 64)])
        self.val_u = gen.spec.normalize(val_params)

    def _restore(self, state: dict) -> None:
        self.net.load_state_dict(state["network"])
        self.opt.load_state_dict(state["optimizer"])
        if self.critic is not None and "critic" in state:
            self.critic.load_state_dict(state["critic"])
            self.critic_opt.load_state_dict(state["critic_optimizer"])
        self.step, self.samples_seen = int(state["step"]), int(state["samples_seen"])
        self.seconds_before = float(state["seconds"])
        self.cpu_before = float(state.get("cpu_seconds", 0.0))
        self.history = json.loads(state.get("history", "[]"))
        self.init_record = json.loads(state.get("init_record", "null"))
        if self.rank < len(state.get("data_rng", [])):
            self.data_rng.set_state(state["data_rng"][self.rank])
        self.say(f"resumed {self.ckpt_path} at step {self.step} ({self.samples_seen} samples, "
                 f"{self.seconds_before / 60:.1f} min)")

    # --- bookkeeping ------------------------------------------------------------------------
    def wall_seconds(self) -> float:
        return self.seconds_before + time.time() - self.t_start

    def cpu_seconds(self) -> float:
        return self.cpu_before + time.process_time() - self.cpu_start

    def record(self, event: dict) -> None:
        """Append ``event`` to the history and to ``log.jsonl`` (rank 0)."""
        if not self.main:
            return
        self.history.append(event)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def save_checkpoint(self) -> None:
        if not self.main:
            return
        state = {"generator": self.gen.name, "spec_hash": self.gen.spec_hash(),
                 "network_config": self.net.config, "network": self.net.state_dict(),
                 "optimizer": self.opt.state_dict(), "step": self.step,
                 "samples_seen": self.samples_seen, "seconds": self.wall_seconds(),
                 "cpu_seconds": self.cpu_seconds(),
                 "train_config": json.dumps(asdict(self.cfg), default=str),
                 "history": json.dumps(self.history), "data_rng": [self.data_rng.get_state()],
                 "init_record": json.dumps(self.init_record)}
        if self.critic is not None:
            state.update(critic=self.critic.state_dict(), critic_config=self.critic.config,
                         critic_optimizer=self.critic_opt.state_dict())
        save_checkpoint(self.ckpt_path, state)

    def validate(self, grid: bool = True) -> float:
        """Validation L1 (recorded); with ``grid``, a real-vs-proxy sample grid in the run dir."""
        vl1 = validation_l1(self.net, self.val_u, self.val_real)
        self.record({"step": self.step, "val_l1": round(vl1, 5)})
        if grid:
            with torch.no_grad():
                was = self.net.training
                self.net.eval()
                sample_grid([self.val_real[:8], self.net(self.val_u[:8])],
                            self.run_dir / f"samples_{self.step:06d}.png")
                self.net.train(was)
        return vl1

    def budget_spent(self) -> bool:
        cfg = self.cfg
        stop = (cfg.steps is not None and self.step >= cfg.steps) or \
               (cfg.minutes is not None and time.time() - self.t_start >= cfg.minutes * 60.0) or \
               (cfg.cpu_minutes is not None and time.process_time() - self.cpu_start >= cfg.cpu_minutes * 60.0)
        if self.world > 1:  # rank 0 decides, everyone follows
            flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item() > 0.5)
        return stop

    # --- one step -----------------------------------------------------------------------------
    def critic_step(self, real: torch.Tensor, u: torch.Tensor, running: dict) -> None:
        """Non-saturating logistic loss on (real, params) vs (proxy, params); lazy R1 on reals."""
        critic, cfg = self.critic, self.cfg
        with torch.no_grad():
            fake = self.net(u, clamp=False)
        r1 = self.step % R1_INTERVAL == 0
        real_in = real.detach().requires_grad_(r1)
        d_real, d_fake = critic(real_in, u), critic(fake, u)
        d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        if r1:
            g, = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            penalty = g.square().sum(dim=(1, 2, 3)).mean()
            d_loss = d_loss + penalty * (cfg.r1_gamma / 2) * R1_INTERVAL
            running["r1"] = penalty.item()
        self.critic_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        _sync_grads(critic, self.world)
        self.critic_opt.step()
        running["critic"] = d_loss.item()

    def proxy_step(self, real: torch.Tensor, u: torch.Tensor, running: dict) -> None:
        cfg = self.cfg
        with torch.no_grad():
            real_feats = self.feat_loss.features(real)
        pred = self.net(u, clamp=False)
        l1 = (pred - real).abs().mean()
        feature, style = self.feat_loss(pred, real_feats)
        loss = cfg.w_l1 * l1 + cfg.w_feature * feature + cfg.w_style * style
        if self.critic is not None:
            self.critic.requires_grad_(False)
            adv = F.softplus(-self.critic(pred, u)).mean()
            self.critic.requires_grad_(True)
            loss = loss + cfg.w_adv * adv
            running["adv"] = adv.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        _sync_grads(self.net, self.world)
        self.opt.step()
        for k, v in (("loss", loss.item()), ("l1", l1.item()), ("feature", feature.item()),
                     ("style", style.item())):
            running[k] = 0.9 * running.get(k, v) + 0.1 * v  # smoothed for the progress bar

    # --- the run --------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg, gen = self.cfg, self.gen
        self.t_start, self.cpu_start = time.time(), time.process_time()
        if self.main and self.step == 0:  # the untrained network's figure: what the run gained
            self.validate(grid=False)
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=self.step if cfg.steps else 0, desc=f"proxy {gen.name}",
                   disable=not (self.main and cfg.progress), file=sys.stderr, mininterval=5.0,
                   dynamic_ncols=True)
        self.say(f"training proxy {gen.name!r} on {self.device} (world {self.world}): res {self.res}, "
                 f"batch {cfg.batch}/process, lr {cfg.lr}, adversarial {self.adversarial}, "
                 f"{sum(p.numel() for p in self.net.parameters())} weights, run dir {self.run_dir}")
        last_ckpt = time.time()
        running: dict[str, float] = {}
        self.net.train()
        interrupted = False
        try:
            while not self.budget_spent():
                ramp = _lr_factor(cfg, self.step, time.time() - self.t_start,
                                  time.process_time() - self.cpu_start)
                lr = cfg.lr * ramp
                for group in self.opt.param_groups:
                    group["lr"] = lr
                for group in (self.critic_opt.param_groups if self.critic_opt is not None else []):
                    group["lr"] = cfg.critic_lr * ramp
                params = gen.spec.sample(cfg.batch, generator=self.data_rng, prior=True, device=self.device)
                if self.fractional:
                    params, real = fractional_batch(gen, params, self.res, self.fractional, self.data_rng)
                else:
                    with torch.no_grad():
                        real = gen(params, self.res)
                u = gen.spec.normalize(params)
                if self.critic is not None:
                    self.critic_step(real, u, running)
                self.proxy_step(real, u, running)
                self.step += 1
                self.samples_seen += cfg.batch * self.world
                if cfg.steps:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == 1:
                    bar.set_postfix(l1=f"{running['l1']:.4f}", loss=f"{running['loss']:.3f}",
                                    lr=f"{lr:.2g}", refresh=False)
                    event = {"step": self.step, "samples": self.samples_seen,
                             "seconds": round(self.wall_seconds(), 1),
                             "cpu_seconds": round(self.cpu_seconds(), 1), "lr": lr,
                             **{k: round(v, 5) for k, v in running.items()}}
                    self.record(event)
                    if not cfg.progress or not sys.stderr.isatty():
                        self.say(json.dumps(event))
                if self.main and self.step % cfg.sample_every == 0:
                    self.say(f"step {self.step}: validation L1 {self.validate():.4f}")
                if self.main and time.time() - last_ckpt > cfg.checkpoint_minutes * 60.0:
                    self.save_checkpoint()
                    last_ckpt = time.time()
        except KeyboardInterrupt:  # Ctrl-C: keep what was learnt (checkpoint + weights)
            interrupted = True
            self.say(f"interrupted at step {self.step}: saving checkpoint and weights")
        bar.close()
        if self.world > 1:  # every rank applied the same averaged gradients: weights must agree
            check = torch.stack([p.detach().double().sum() for p in self.net.parameters()]).sum()
            gathered = [torch.zeros_like(check) for _ in range(self.world)]
            torch.distributed.all_gather(gathered, check)
            if max(abs(float(g - check)) for g in gathered) > 1e-6 * max(1.0, abs(float(check))):
                self.say(f"warning: proxy weights differ between processes ({[float(g) for g in gathered]})")
        summary = self.finish(interrupted) if self.main else {}
        if self.world > 1:
            torch.distributed.barrier()
        return summary

    def finish(self, interrupted: bool = False) -> dict[str, Any]:
        """Final validation, checkpoint and fp16 weights export; returns the summary."""
        cfg = self.cfg
        vl1 = self.validate()
        self.net.eval()
        self.save_checkpoint()
        summary = {
            "generator": self.gen.name, "device": str(self.device), "device_name": _device_name(self.device),
            "world_size": self.world, "steps": self.step, "samples_seen": self.samples_seen,
            "minutes": round(self.wall_seconds() / 60.0, 2), "cpu_minutes": round(self.cpu_seconds() / 60.0, 2),
            "batch": cfg.batch, "res": self.res, "lr": cfg.lr, "rampdown": cfg.rampdown,
            "critic_lr": cfg.critic_lr if self.adversarial else None,
            "loss_weights": {"l1": cfg.w_l1, "feature": cfg.w_feature, "style": cfg.w_style,
                             "adversarial": cfg.w_adv if self.adversarial else 0.0},
            "adversarial": self.adversarial, "r1_gamma": cfg.r1_gamma if self.adversarial else None,
            "descriptor": self.feat_loss.info, "val_l1": round(vl1, 5), "val_samples": VAL_SAMPLES,
            "seed": cfg.seed, "torch": torch.__version__, "interrupted": interrupted,
            "warm_start": self.init_record,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = save_weights(self.export_path, self.net, self.gen, summary)
        summary.update(weights=str(path), run_dir=str(self.run_dir))
        self.record({"final": summary})
        self.say(f"done: {self.step} steps, {self.samples_seen} samples, {summary['minutes']} min "
                 f"({summary['cpu_minutes']} CPU min), validation L1 {vl1:.4f}; weights -> {path}")
        return summary


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or resume) the proxy described by ``cfg``; returns the run's summary (also written
    into the weights' training record)."""
    return ProxyTrainer(cfg, log).run()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        import platform
        model = platform.processor() or platform.machine()
        try:  # Linux names the CPU model only here
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return f"{model} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return device.type

