"""One material graph fitted to one target photo: parameters in normalised space, rendering,
and the three losses the stages use.

Parameters travel as ``u``: a ``(B, P)`` tensor in [0, 1] in the graph spec's order
(``ParamSpec.normalize``/``denormalize``). Which entries a stage may move is an index list:

* ``gen_idx``: every generator parameter (theta_g), moved only through proxies (Stage II);
* ``filter_idx``: the *float* filter parameters (theta_f); discrete filter parameters (choices,
  counts) have no gradient and keep the value the start point gave them.

Rendering always rounds discrete filter parameters; generator parameters are rounded when the
real generators run (``round_generators=True``) and left continuous for the proxies.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import torch

from ..descriptor import Descriptor, resize
from ..losses import DescriptorLoss, TargetStats
from ..params import Batch
from ..render import render

if TYPE_CHECKING:  # options -> steps -> fit: the preset is only read here
    from .options import Preset

PatternFn = Callable[[Batch, int], torch.Tensor]

# Stage II's loss (paper): feature + 0.05 x style
STAGE2_W_FEATURE = 1.0
STAGE2_W_STYLE = 0.05
# Stage II's random search: grayscale feature + 0.05 x style (paper)
SEARCH_W_FEATURE = 1.0
SEARCH_W_STYLE = 0.05


def _batched(patterns: Mapping[str, torch.Tensor] | None, b: int) -> Mapping[str, torch.Tensor] | None:
    """Precomputed slot patterns of one parameter set, broadcast to a batch of ``b``."""
    if patterns is None or b == 1:
        return patterns
    return {k: v.expand(b, *v.shape[1:]) if v.shape[0] == 1 else v for k, v in patterns.items()}


class Fit:
    """Rendering and losses of ``graph`` against ``photo`` ``(1, 3, S, S)`` sRGB [0, 1].

    Args:
        graph: a :class:`~diffproxy.graphs.MaterialGraph`.
        photo: the target image, any square size (resized to the preset's resolutions).
        preset: the run's budget (resolutions and loss scales).
        descriptor: the feature extractor (already on ``device``).
    """

    def __init__(self, graph, photo: torch.Tensor, preset: Preset, descriptor: Descriptor,
                 device: torch.device) -> None:
        if not (isinstance(photo, torch.Tensor) and photo.dim() == 4 and photo.shape[:2] == (1, 3)):
            raise ValueError(f"photo must be (1, 3, S, S), got {tuple(getattr(photo, 'shape', ()))}")
        self.graph = graph
        self.spec = graph.spec
        self.preset = preset
        self.device = device
        self.res = preset.res
        self.supersample = max(1, int(preset.supersample))
        params = list(self.spec)
        self.gen_idx = [i for i, p in enumerate(params) if p.role == "generator"]
        self.all_filter_idx = [i for i, p in enumerate(params) if p.role == "filter"]
        self.filter_idx = [i for i, p in enumerate(params) if p.role == "filter" and not p.discrete]
        self._round_filter = [p.name for p in params if p.role == "filter" and p.discrete]
        self._round_gen = [p.name for p in params if p.role == "generator" and p.discrete]
        self._periodic = torch.tensor([p.periodic for p in params], dtype=torch.bool, device=device)
        # the windows (set_windows): normalised bounds per parameter, [0, 1] when unset
        self.windows: dict[str, tuple[float, float]] = {}
        self._lo = torch.zeros(len(params), device=device)
        self._hi = torch.ones(len(params), device=device)
        photo = photo.to(device, torch.float32)
        self.photo = photo
        self.descriptor = descriptor
        # colour loss at the optimisation resolution (Stages I-III, final numbers)
        self.loss = DescriptorLoss(descriptor, preset.scales)
        self.target: TargetStats = self.loss.target(resize(photo, self.res))
        # grayscale loss at the random search's resolution (Stage II's search)
        sr = preset.search_res
        self.gray_loss = DescriptorLoss(descriptor, (sr, max(sr // 2, 16)), gray=True, standardize=True)
        self.gray_target: TargetStats = self.gray_loss.target(resize(photo, sr))
        # colour style loss at the search resolution (Stage I's filter search)
        self.small_loss = DescriptorLoss(descriptor, (sr, max(sr // 2, 16)))
        self.small_target: TargetStats = self.small_loss.target(resize(photo, sr))
        self._sharper: Fit | None = None

    def sharper(self) -> "Fit":
        """This fit at twice the resolution (at most the photo's), losses at three scales, no
        supersampling: a second opinion on a change the fit's own loss prefers (``searches.polish``),
        and Stage III's last steps (``paper.stage3b``). Made once per fit: the polish, Stage III and
        the pipeline's settle share it."""
        if self._sharper is None:
            r = min(2 * self.res, int(self.photo.shape[-1]))
            preset = dataclasses.replace(self.preset, res=r, scales=(r, max(r // 2, 16), max(r // 4, 16)),
                                         supersample=1)
            self._sharper = Fit(self.graph, self.photo, preset, self.descriptor, self.device)
        return self._sharper

    def batch_key(self) -> tuple:
        """Equal for fits whose renders and losses are the same functions of ``u``: the same graph,
        photo, resolutions and descriptor (the restarts of one graph, each with its own fit; the
        count windows differ between them and are applied per row). ``descent.descend`` runs
        such fits' descents as one batch."""
        return (self.graph.name, id(self.photo), self.res, self.supersample, tuple(self.preset.scales),
                self.preset.search_res, id(self.descriptor), str(self.device))

    # --- parameters ---------------------------------------------------------------------------
    def natural(self, u: torch.Tensor, round_generators: bool = True) -> Batch:
        """``(B, P)`` normalised -> batch dict in natural units (discrete values rounded as the
        module docstring says; the rounding passes no gradient)."""
        p = self.spec.denormalize(u.clamp(0.0, 1.0))
        for n in self._round_filter + (self._round_gen if round_generators else []):
            p[n] = torch.round(p[n])
        return p

    def keep_in_range(self, v: torch.Tensor, idx: Sequence[int] | None = None) -> torch.Tensor:
        """Normalised values ``v`` (B, len(idx)) of the parameters ``idx`` (all: ``None``) back
        into [0, 1] after an optimiser's step: periodic ones (a hue) wrap around, the others
        are clamped (a count with a window: to its window)."""
        sel = slice(None) if idx is None else list(idx)
        lo, hi = self._lo[sel].to(v.device), self._hi[sel].to(v.device)
        return torch.where(self._periodic[sel].to(v.device), torch.remainder(v, 1.0),
                           torch.minimum(torch.maximum(v, lo), hi))

    # --- the count window ---------------------------------------------------------------------
    def set_windows(self, windows: Mapping[str, tuple[float, float]]) -> None:
        """Keep the structure searches of the parameters named in ``windows`` within ``(lowest,
        highest)`` (natural units, inclusive; counts: ``estimator.count_windows``,
        ``layout.layout_windows``; a bond offset: ``layout.layout_windows``): Stage II's steps
        (:meth:`keep_in_range`), the random search's draws and the compass and coordinate
        searches' moves (:meth:`into_window`, :meth:`in_window`). Not in the paper."""
        discrete = {p.name for p in self.spec if p.discrete}
        self.windows = {k: (int(a), int(b)) if k in discrete else (float(a), float(b))
                        for k, (a, b) in windows.items()}
        self._lo.fill_(0.0)
        self._hi.fill_(1.0)
        for i, p in enumerate(self.spec):
            if p.name in self.windows:
                a, b = self.windows[p.name]
                span = p.high - p.low
                # a count: half a value of slack either side, anything in it rounds into the window
                slack = 0.49 if p.discrete else 0.0
                self._lo[i] = max(0.0, (a - slack - p.low) / span)
                self._hi[i] = min(1.0, (b + slack - p.low) / span)

    def in_window(self, i: int, value: float) -> bool:
        """Whether normalised ``value`` of parameter ``i`` lies in its window (no window: True)."""
        return float(self._lo[i]) - 1e-9 <= value <= float(self._hi[i]) + 1e-9

    def into_window(self, u: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``u`` (B, P) with every windowed parameter outside its window moved in: to a value drawn
        uniformly from those the prior can draw inside it (a continuous one: uniformly in it;
        ``generator`` given: the random search's draws), else to the nearest end."""
        if not self.windows:
            return u
        u = u.clone()
        for i, p in enumerate(self.spec):
            if p.name not in self.windows:
                continue
            a, b = self.windows[p.name]
            out = (u[:, i] < self._lo[i]) | (u[:, i] > self._hi[i])
            if not bool(out.any()):
                continue
            span = p.high - p.low
            if generator is None:
                nearest = torch.where(u[:, i] < self._lo[i], (a - p.low) / span, (b - p.low) / span)
                u[:, i] = torch.where(out, nearest.to(u.dtype), u[:, i])
                continue
            if not p.discrete:
                r = torch.rand(int(out.sum()), generator=generator, dtype=u.dtype)
                u[out, i] = (self._lo[i] + r.to(u.device) * (self._hi[i] - self._lo[i])).to(u.dtype)
                continue
            levels = [p.low + k for k in p.allowed_levels if a <= p.low + k <= b] or [a]
            pick = torch.randint(len(levels), (int(out.sum()),), generator=generator)
            values = (torch.tensor(levels, dtype=u.dtype)[pick] - p.low) / span
            u[out, i] = values.to(u.device)
        return u

    def normalize(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.spec.normalize({k: v.to(self.device, torch.float32) for k, v in params.items()})

    def defaults(self) -> torch.Tensor:
        return self.normalize(self.spec.defaults())

    def to_json(self, u: torch.Tensor) -> dict:
        """Normalised ``(1, P)`` -> the graph's JSON parameters (discrete values rounded)."""
        return self.spec.to_json(self.spec.round(self.natural(u.detach().cpu())))

    # --- rendering ----------------------------------------------------------------------------
    def render_res(self, res: int | None = None) -> int:
        """Side at which maps are made and rendered for an image of side ``res``: the preset's
        ``supersample`` times larger (see :meth:`render`)."""
        return (res or self.res) * self.supersample

    def patterns(self, u: torch.Tensor, res: int | None = None,
                 generators: Mapping[str, PatternFn] | None = None) -> dict[str, torch.Tensor]:
        """Slot patterns for an image of side ``res``, at :meth:`render_res` (real generators
        unless swapped; no gradient needed)."""
        return self.graph.patterns(self.natural(u, round_generators=not generators), self.render_res(res),
                                   generators)

    def render(self, u: torch.Tensor, res: int | None = None,
               generators: Mapping[str, PatternFn] | None = None,
               patterns: Mapping[str, torch.Tensor] | None = None,
               maps_out: dict | None = None) -> torch.Tensor:
        """``(B, P)`` -> flash render ``(B, 3, res, res)`` sRGB.

        ``generators``: slot -> callable (proxies; generator parameters then stay continuous);
        ``patterns``: precomputed slot outputs at :meth:`render_res` (filters-only stages reuse
        them every step); ``maps_out`` receives the maps (at :meth:`render_res`).

        Maps and the flash render are computed ``supersample`` times larger and the render is
        area-averaged down to ``res``, as a camera integrates detail finer than a pixel: a
        photo holds such detail (mortar lines, grain, bumps under the flash) and its downsized
        copy is what the losses see. Rendering at ``res`` directly shades an already smoothed
        surface: on 8 synthetic targets made at 256 px, the targets' own parameters scored a
        style loss of up to 0.39 (mean 0.13) at 96 px; with 2x supersampling up to 0.14
        (mean 0.04), for ~1.5x the time of a step.
        """
        res = res or self.res
        rres = self.render_res(res)
        patterns = _batched(patterns, u.shape[0])
        params = self.natural(u, round_generators=not generators)
        maps = self.graph.maps(params, rres, generators=generators, patterns=patterns)
        if maps_out is not None:
            maps_out.update(maps)
        img = render(maps)
        return resize(img, res) if rres != res else img

    def render_full(self, u: torch.Tensor, maps_px: int,
                    patterns: Mapping[str, torch.Tensor] | None = None,
                    maps_out: dict | None = None) -> torch.Tensor:
        """``(B, P)`` -> flash render ``(B, 3, maps_px, maps_px)`` of the maps made at ``maps_px``
        (the real generators; ``patterns`` precomputed at ``maps_px``), at the maps' own size:
        what :meth:`render_from` and :meth:`look_of` of any fit see, made once. ``maps_out``
        receives the maps, as in :meth:`render`."""
        maps = self.graph.maps(self.natural(u), maps_px, patterns=_batched(patterns, u.shape[0]))
        if maps_out is not None:
            maps_out.update(maps)
        return render(maps)

    def render_from(self, u: torch.Tensor, maps_px: int,
                    patterns: Mapping[str, torch.Tensor] | None = None,
                    maps_out: dict | None = None) -> torch.Tensor:
        """``(B, P)`` -> flash render ``(B, 3, res, res)`` of the maps made at ``maps_px`` (the
        real generators; ``patterns`` precomputed at ``maps_px``): how the material looks when
        its maps are synthesised at that size, e.g. the export's 2048 px, seen at the fit's
        resolution. No gradient is needed through it (Stage "detail" uses it as a correction).
        ``maps_out`` receives the maps."""
        return resize(self.render_full(u, maps_px, patterns, maps_out), self.res)

    # --- losses -------------------------------------------------------------------------------
    def style(self, image: torch.Tensor) -> torch.Tensor:
        """Multi-scale style loss ``(B,)`` (Stages I and III)."""
        return self.loss(image, self.target, w_feature=0.0, w_style=1.0)[0]

    def joint(self, image: torch.Tensor) -> torch.Tensor:
        """Feature + 0.05 x style ``(B,)`` (Stage II)."""
        return self.loss(image, self.target, w_feature=STAGE2_W_FEATURE, w_style=STAGE2_W_STYLE)[0]

    def gray(self, image: torch.Tensor) -> torch.Tensor:
        """Grayscale feature + 0.05 x style ``(B,)`` at the search resolution (Stage II's search),
        luminance standardised to the photo's (structure only: Stage I already set the colours)."""
        return self.gray_loss(image, self.gray_target, w_feature=SEARCH_W_FEATURE, w_style=SEARCH_W_STYLE)[0]

    def small_style(self, image: torch.Tensor) -> torch.Tensor:
        """Colour style loss ``(B,)`` at the search resolution (Stage I's filter search)."""
        return self.small_loss(image, self.small_target, w_feature=0.0, w_style=1.0)[0]

    @torch.no_grad()
    def evaluate(self, u: torch.Tensor, maps_px: int | None = None,
                 patterns: Mapping[str, torch.Tensor] | None = None) -> dict[str, float]:
        """Feature and style loss of ``u`` (1, P) with the real generators (comparable numbers);
        with ``maps_px``, of the render of maps made at that size (:meth:`render_from`)."""
        if maps_px is None:
            return self.score(self.render(u))
        return self.look_of(self.render_full(u, maps_px, patterns))

    @torch.no_grad()
    def look_of(self, image: torch.Tensor) -> dict[str, float]:
        """Feature and style loss of a render ``image`` (1, 3, S, S) of any size (a
        :meth:`render_full`), seen at this fit's resolution: one render of the export's maps
        judged by the fit and by its :meth:`sharper` view alike."""
        return self.score(resize(image, self.res))

    @torch.no_grad()
    def score(self, image: torch.Tensor) -> dict[str, float]:
        """Feature and style loss of a render ``image`` (1, 3, res, res) against the photo."""
        _, parts = self.loss(image, self.target, w_feature=1.0, w_style=1.0)
        return {"feature": float(parts["feature"][0]), "style": float(parts["style"][0])}
