"""Synthetic scenes: video with a sprite per source, true-mono capture, binaural truth.

The mono track is what one omni microphone at the camera records: each source's dry
signal propagated over its time-varying distance (gain and delay). The binaural truth
is the same propagated signals, each filtered by the measured HRIRs of its own
direction at the listener's ears. The mono is never a downmix of the binaural.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binaural.audio_io import write_wav
from binaural.config import DEFAULT_CLASS_HEIGHTS_M, SynthConfig
from binaural.geometry import Camera
from binaural.hrtf import HRTFSet
from binaural.outputs import atomic_path, write_json
from binaural.render import direction_filter, propagate, spatialize
from binaural.source_audio import render_source
from binaural.sprites import SPRITE_ASPECT, draw_background, render_frame
from binaural.video import write_video

log = logging.getLogger(__name__)

PEAK_LEVEL = 0.8  # peak of the louder of mono and binaural after scaling
SECTOR_MARGIN_DEG = 1.5  # free angle kept at each side of a source's sector


@dataclass(frozen=True)
class SourcePlan:
    source_class: str
    seed: int
    gain: float
    azimuth_deg: tuple[float, float]  # start, end
    elevation_deg: tuple[float, float]
    distance_m: tuple[float, float]
    wobble_deg: float
    wobble_hz: float


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3 - 2 * x)


def trajectory(plan: SourcePlan, times_s: np.ndarray, duration_s: float):
    """Smooth azimuth, elevation and distance over time for one source."""
    s = _smoothstep(np.clip(times_s / duration_s, 0, 1))
    az = plan.azimuth_deg[0] + (plan.azimuth_deg[1] - plan.azimuth_deg[0]) * s
    az = az + plan.wobble_deg * np.sin(2 * np.pi * plan.wobble_hz * times_s)
    el = plan.elevation_deg[0] + (plan.elevation_deg[1] - plan.elevation_deg[0]) * s
    log_d = np.log(plan.distance_m[0]) + np.log(plan.distance_m[1] / plan.distance_m[0]) * s
    return az, el, np.exp(log_d)


def plan_scene(cfg: SynthConfig, camera: Camera, rng: np.random.Generator, sources: int):
    """Draw classes and trajectories that keep each sprite inside the picture and apart.

    The field of view is cut into one sector per source (in random order); each source
    moves within its own sector and is kept far enough away for its sprite to fit in it,
    so sources never cross or hide each other.
    """
    classes = rng.choice(len(cfg.classes), size=sources, replace=False)
    sector_deg = cfg.fov_deg / sources
    order = rng.permutation(sources)
    plans: list[SourcePlan] = []
    for slot, k in zip(order, classes):
        name = cfg.classes[int(k)]
        wobble = float(rng.uniform(0, 3))
        half_width_m = DEFAULT_CLASS_HEIGHTS_M[name] * SPRITE_ASPECT[name] / 2
        room_deg = max(1.0, sector_deg / 2 - SECTOR_MARGIN_DEG - wobble)
        nearest = min(cfg.distance_m[1], half_width_m / np.tan(np.radians(room_deg)))
        low = max(cfg.distance_m[0], nearest)
        d0, d1 = rng.uniform(low, max(low, cfg.distance_m[1]), size=2)
        half_w_deg = np.degrees(np.arctan(half_width_m / min(d0, d1)))
        lo = -cfg.fov_deg / 2 + slot * sector_deg
        inner = max(0.0, sector_deg / 2 - half_w_deg - SECTOR_MARGIN_DEG - wobble)
        centre = lo + sector_deg / 2
        a0, a1 = (float(centre + rng.uniform(-inner, inner)) for _ in range(2))
        plans.append(
            SourcePlan(
                source_class=name,
                seed=int(rng.integers(1 << 30)),
                gain=float(rng.uniform(0.6, 1.0)),
                azimuth_deg=(a0, a1),
                elevation_deg=(float(rng.uniform(-8, 4)), float(rng.uniform(-8, 4))),
                distance_m=(float(d0), float(d1)),
                wobble_deg=wobble,
                wobble_hz=float(rng.uniform(0.1, 0.4)),
            )
        )
    return plans


def synthesize_scene(
    cfg: SynthConfig, hrtf: HRTFSet, out_dir: str | Path, name: str, seed: int, sources: int
) -> dict:
    """Render one scene into `out_dir`; returns its truth record."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    camera = Camera(cfg.width, cfg.height, cfg.fov_deg)
    sr, duration = cfg.sample_rate, cfg.duration_s
    n = int(round(duration * sr))
    audio_t = np.arange(n) / sr
    video_t = np.arange(int(round(duration * cfg.video_fps))) / cfg.video_fps
    plans = plan_scene(cfg, camera, rng, sources)

    mono = np.zeros(n)
    binaural = np.zeros((2, n))
    records = []
    for plan in plans:
        dry = plan.gain * render_source(plan.source_class, duration, sr, plan.seed, cfg.soundfont)
        _, _, dist_audio = trajectory(plan, audio_t, duration)
        wet = propagate(dry, dist_audio, sr)
        mono += wet
        control_t = np.arange(0, duration + 0.02, 0.01)
        az_c, el_c, _ = trajectory(plan, control_t, duration)
        filt = direction_filter(hrtf, control_t, az_c, el_c)
        binaural += spatialize(wet, filt, hrtf.taps, sr)
        records.append((plan, *trajectory(plan, video_t, duration)))

    scale = PEAK_LEVEL / max(np.abs(mono).max(), np.abs(binaural).max(), 1e-9)
    mono, binaural = mono * scale, binaural * scale

    background = draw_background(cfg.height, cfg.width, rng)
    boxes_per_frame: list[list[tuple[float, float, float, float]]] = []

    def frames():
        for i in range(len(video_t)):
            sprites, order = [], []
            for plan, az, el, dist in records:
                u, v, _ = camera.project(az[i], el[i], dist[i])
                h = camera.box_height_px(DEFAULT_CLASS_HEIGHTS_M[plan.source_class],
                                         az[i], el[i], dist[i])
                sprites.append((plan.source_class, float(u), float(v), float(h)))
                order.append(-dist[i])
            idx = np.argsort(order)  # far first, so near sprites occlude them
            frame, boxes = render_frame(background, [sprites[j] for j in idx])
            by_source = [None] * len(sprites)
            for j, b in zip(idx, boxes):
                by_source[j] = b
            boxes_per_frame.append(by_source)
            yield frame

    video_path = out_dir / f"{name}.mp4"
    with atomic_path(video_path) as tmp:
        write_video(tmp, frames(), cfg.video_fps, mono, sr)
    write_wav(out_dir / "truth" / f"{name}.binaural.wav", binaural, sr)
    truth = {
        "name": name,
        "seed": seed,
        "fov_deg": cfg.fov_deg,
        "width": cfg.width,
        "height": cfg.height,
        "fps": cfg.video_fps,
        "sample_rate": sr,
        "duration_s": duration,
        "hrtf": hrtf.name,
        "mono": "true omni capture at the camera (anechoic)",
        "sources": [
            {
                "id": k,
                "class": plan.source_class,
                "gain": round(plan.gain, 4),
                "track": [
                    {
                        "t": round(float(t), 4),
                        "azimuth_deg": round(float(az[i]), 3),
                        "elevation_deg": round(float(el[i]), 3),
                        "distance_m": round(float(dist[i]), 3),
                        "box": [round(float(x), 1) for x in boxes_per_frame[i][k]],
                    }
                    for i, t in enumerate(video_t)
                ],
            }
            for k, (plan, az, el, dist) in enumerate(records)
        ],
    }
    write_json(out_dir / "truth" / f"{name}.json", truth)
    return truth


def scene_seed(seed: int, index: int) -> int:
    """A per-scene seed that does not collide across (seed, index) pairs."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def synthesize(
    cfg: SynthConfig,
    hrtf: HRTFSet,
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[dict]:
    """Render cfg.scenes scenes with 1..cfg.max_sources sources each."""
    truths = []
    for i in range(cfg.scenes):
        seed = scene_seed(cfg.seed, i)
        rng = np.random.default_rng(seed)
        sources = int(rng.integers(1, cfg.max_sources + 1))
        name = f"scene_{cfg.seed:03d}_{i:04d}"
        truths.append(synthesize_scene(cfg, hrtf, out_dir, name, seed + 1, sources))
        if progress:
            progress(i + 1, cfg.scenes, name)
    return truths
