"""Slider edits -> re-synthesised maps: debounced, latest value wins, images updated in place.

A persistent app timer calls :func:`tick`. For every DiffProxy material it compares the current
parameter values (its custom properties) with the values its images were made from. A change
that has been stable for ``DEBOUNCE_S`` is sent to the engine; if values change again while a
request is in flight, that request is cancelled and the newest values go next. Undo, redo,
Python edits and drivers are all seen the same way, because only the values are compared.

Maps larger than ``PREVIEW_RES`` are first re-synthesised at ``PREVIEW_RES`` (quick feedback
while a slider moves), then at the material's own resolution once the values stay put.

Background Blender runs no timers; there (and in tests) call :func:`tick` directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import bpy

from . import jobs, material_params, properties
from .engine_client import EngineError
from .preferences import get_settings

DEBOUNCE_S = 0.15
INTERVAL_S = 0.05
PREVIEW_RES = 512


@dataclass
class _State:
    synced: dict[str, Any]  # values the images show
    seen: dict[str, Any]  # values at the last tick
    changed_at: float = 0.0
    job: "jobs.EngineJob | None" = None
    sent: dict[str, Any] | None = None
    sent_res: int = 0
    previewed: dict[str, Any] | None = None  # values the images show at preview resolution
    failed: dict[str, Any] | None = None  # values whose synthesis failed (not retried)


class Watcher:
    def __init__(self) -> None:
        self.states: dict[int, _State] = {}
        self.last_error = ""
        self.updates = 0  # images refreshed at full resolution (for tests and measurements)
        self.previews = 0  # images refreshed at preview resolution
        self.last_timings: dict[str, Any] = {}

    def reset(self) -> None:
        for st in self.states.values():
            if st.job is not None:
                st.job.request_cancel(hard=False)
        self.states.clear()

    def busy(self) -> bool:
        return any(st.job is not None or st.seen != st.synced and st.seen != st.failed
                   for st in self.states.values())

    def tick(self) -> float:
        now = time.monotonic()
        live = set()
        for mat in bpy.data.materials:
            if not material_params.is_diffproxy(mat):
                continue
            live.add(mat.session_uid)
            try:
                self._check(mat, now)
            except (EngineError, RuntimeError, OSError, KeyError, ValueError) as e:
                self._report(f"'{mat.name}': {e}")
        for uid in [u for u in self.states if u not in live]:
            st = self.states.pop(uid)
            if st.job is not None:
                st.job.request_cancel(hard=False)
        _status_syncing(sum(st.job is not None for st in self.states.values()))
        return INTERVAL_S

    def _check(self, mat: bpy.types.Material, now: float) -> None:
        values = material_params.read(mat)
        st = self.states.get(mat.session_uid)
        if st is None:  # first sight: the images were made from these values
            self.states[mat.session_uid] = _State(synced=values, seen=values)
            return
        if values != st.seen:
            st.seen, st.changed_at = values, now
        if st.job is not None:
            if st.job.poll():
                self._finish(mat, st)
            elif st.sent != values and not st.job.cancel_requested:
                st.job.request_cancel(hard=False)  # latest value wins
            return
        if values == st.synced or values == st.failed or now - st.changed_at < DEBOUNCE_S:
            return
        settings = get_settings()
        res = int(mat.get(material_params.KEY_RES, settings.resolution))
        if res > PREVIEW_RES and values != st.previewed:
            res = PREVIEW_RES
        st.job = jobs.start_synthesize(mat, settings, res, values)
        st.sent, st.sent_res = values, res

    def _finish(self, mat: bpy.types.Material, st: _State) -> None:
        job, sent = st.job, st.sent
        st.job, st.sent = None, None
        assert job is not None and sent is not None
        full = st.sent_res >= int(mat.get(material_params.KEY_RES, 0))
        t = time.perf_counter()
        try:
            result = jobs.finish_synthesize(job, mat, get_settings(), record_resolution=full)
        except EngineError as e:
            if e.code != "cancelled":
                st.failed = sent
                self._report(f"'{mat.name}': {e}")
            return
        # where the time went, for the status line and measurements
        self.last_timings = {**result.get("timings", {}), "blender_update": time.perf_counter() - t,
                             "resolution": result.get("resolution")}
        st.failed = None
        if full:
            st.synced = sent
            self.updates += 1
        else:
            st.previewed = sent
            self.previews += 1
        self.last_error = ""
        _redraw()

    def _report(self, text: str) -> None:
        self.last_error = text
        print(f"DiffProxy: {text}")
        s = properties.status()
        if s is not None:
            s.message = text


def _status_syncing(n: int) -> None:
    s = properties.status()
    if s is not None and s.syncing != n:
        s.syncing = n


def _redraw() -> None:
    wm = bpy.context.window_manager
    for win in (wm.windows if wm else ()):
        for area in win.screen.areas:
            if area.type in {'NODE_EDITOR', 'IMAGE_EDITOR', 'VIEW_3D'}:
                area.tag_redraw()


WATCHER = Watcher()


def _tick() -> float:
    try:
        return WATCHER.tick()
    except Exception as e:  # noqa: BLE001 - a timer that raises is unregistered by Blender
        print(f"DiffProxy slider timer: {type(e).__name__}: {e}")
        return 1.0


@bpy.app.handlers.persistent
def _on_load(_a: Any = None, _b: Any = None) -> None:
    WATCHER.reset()


def start() -> None:
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.5, persistent=True)
    if _on_load not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(_on_load)


def stop() -> None:
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    if _on_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load)
    WATCHER.reset()
