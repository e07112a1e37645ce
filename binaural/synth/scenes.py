"""Synthetic scenes: video with a sprite per object, true-mono capture, binaural truth.

Per sounding source, with the renderer's own functions (binaural/spatial/render.py):

    direct   mono += propagate(s, r(t));  ears += spatialize(that, HRIR(dir(t)))
    room     early image-source reflections and a late tail (binaural/synth/rooms.py)

then the diffuse beds (binaural/synth/ambience.py) at the microphone and the ears, and the
microphone's colouration (binaural/synth/microphone.py) on the mono only. The mono is the omni
capture at the camera, never a downmix of the binaural, except with mono_mode
"downmix": the labelled control experiment, where it is exactly (L + R) / 2 of the target.
Visible objects may stay silent and sources fall silent for a while; the truth marks
per source and time whether it sounds (binaural/synth/silences.py).

Random streams: the v1 draws (plan, backdrop) come from the scene seed in v1 order and
every v2 draw from a stream of its own, so with the v2 options off a scene is the v1 scene.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from binaural.io.audio import write_wav
from binaural.io.outputs import atomic_path, write_json
from binaural.io.video import write_video
from binaural.spatial.config import DEFAULT_CLASS_HEIGHTS_M
from binaural.spatial.geometry import Camera
from binaural.spatial.hrtf import HRTFSet, direction_vectors
from binaural.spatial.render import direction_filter, propagate, spatialize
from binaural.synth.ambience import ambience_bed, noise_bed
from binaural.synth.animation import own_envelope, silent_envelope, sway
from binaural.synth.config import SynthConfig
from binaural.synth.microphone import MicColour, colour, draw_mic
from binaural.synth.rooms import ShoeboxRoom, control_times, draw_room, render_room
from binaural.synth.silences import draw_gaps, gate, is_sounding, sounding_intervals
from binaural.synth.source_audio import render_source
from binaural.synth.source_files import SourceLibrary, load_excerpt
from binaural.synth.sprites import SPRITE_ASPECT, draw_background, render_frame, sprite_box

log = logging.getLogger(__name__)

PEAK_LEVEL = 0.8  # peak of the louder of mono and binaural after scaling
SECTOR_MARGIN_DEG = 1.5  # free angle kept at each side of a source's sector
DIRECT_CONTROL_S = 0.01  # direction updates of the direct path
# Random streams beside the v1 one (np.random.default_rng([scene seed, stream, ...])).
EXTRAS_STREAM, ROOM_STREAM, BED_STREAM, MIC_STREAM, FILE_STREAM, HEAD_STREAM = range(1, 7)
ANIM_STREAM = 7
SAME_CLASS_STREAM = 8
SILENT_MOTION_STREAM = 9
MONO_DESCRIPTIONS = {
    "omni": "true omni capture at the camera",
    "downmix": "(L+R)/2 downmix of the binaural target (control experiment, not a capture)",
}


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


@dataclass(frozen=True)
class ScenePlan:
    """Everything drawn for a scene; objects[k] is silent when silent[k]."""

    camera: Camera
    objects: tuple[SourcePlan, ...]
    silent: tuple[bool, ...]
    gaps: tuple[tuple[tuple[float, float], ...], ...]
    files: tuple[str | None, ...]
    room: ShoeboxRoom | None
    ambience_db: float | None
    noise_db: float | None
    mic: MicColour | None


@dataclass
class Scene:
    """A rendered scene: truth record, audio (float32, already scaled) and its frames.

    dry (K, N) holds each object's dry signal on the same scale (zeros when silent).
    """

    truth: dict
    mono: np.ndarray
    binaural: np.ndarray
    dry: np.ndarray
    frames: Callable[[], Iterator[np.ndarray]]


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


def offsets(plan: SourcePlan, times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """The source relative to the listener (forward, left, up), (T, 3) metres."""
    az, el, dist = trajectory(plan, times_s, duration_s)
    return direction_vectors(az, el) * dist[:, None]


def plan_scene(cfg: SynthConfig, camera: Camera, rng: np.random.Generator, sources: int,
               last_like: int | None = None):
    """Draw classes and trajectories that keep each sprite inside the picture and apart;
    `last_like` k: the last object takes object k's class (a same-class distractor).

    The camera's field of view is cut into one sector per source (in random order);
    each source moves within its own sector and is kept far enough away for its sprite
    to fit in it, so sources never cross or hide each other.
    """
    classes = rng.choice(len(cfg.classes), size=sources, replace=False)
    if last_like is not None:
        classes[-1] = classes[last_like]
    sector_deg = camera.fov_deg / sources
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
        lo = -camera.fov_deg / 2 + slot * sector_deg
        inner = max(0.0, sector_deg / 2 - half_w_deg - SECTOR_MARGIN_DEG - wobble)
        centre = lo + sector_deg / 2
        a0, a1 = (float(centre + rng.uniform(-inner, inner)) for _ in range(2))
        plans.append(
            SourcePlan(
                source_class=name,
                seed=int(rng.integers(1 << 30)),
                gain=float(rng.uniform(*cfg.source_gain)),
                azimuth_deg=(a0, a1),
                elevation_deg=(float(rng.uniform(-8, 4)), float(rng.uniform(-8, 4))),
                distance_m=(float(d0), float(d1)),
                wobble_deg=wobble,
                wobble_hz=float(rng.uniform(0.1, 0.4)),
            )
        )
    return plans


def _maybe(rng: np.random.Generator, probability: float, draw: Callable[[], object]):
    return draw() if rng.random() < probability else None


def draw_scene(cfg: SynthConfig, seed: int, sources: int,
               library: SourceLibrary | None = None) -> tuple[ScenePlan, np.ndarray]:
    """The scene's plan and its backdrop (both deterministic by seed)."""
    rng = np.random.default_rng(seed)
    extra = np.random.default_rng([seed, EXTRAS_STREAM])
    fov = float(extra.uniform(*cfg.fov_range_deg)) if cfg.fov_range_deg else cfg.fov_deg
    camera = Camera(cfg.width, cfg.height, fov)
    if library is not None:
        cfg = replace(cfg, classes=library.classes(cfg.classes))
    sources = min(sources, len(cfg.classes))
    silent = int(sources < len(cfg.classes) and extra.random() < cfg.silent_object_prob)
    like = None
    if silent and cfg.same_class_silent_prob > 0:  # a stream of its own: v2 scenes unchanged
        same = np.random.default_rng([seed, SAME_CLASS_STREAM])
        if same.random() < cfg.same_class_silent_prob:
            like = int(same.integers(sources))
    plans = plan_scene(cfg, camera, rng, sources + silent, like)
    background = draw_background(cfg.height, cfg.width, rng)
    is_silent = tuple(k >= sources for k in range(len(plans)))
    gaps = tuple(() if s else draw_gaps(extra, cfg.duration_s, cfg.silence_gap_prob,
                                        cfg.silence_gap_s, cfg.max_silence_gaps)
                 for s in is_silent)
    files = tuple(None if s or library is None else library.pick(p.source_class, extra)
                  for p, s in zip(plans, is_silent))
    room = None
    if cfg.room == "shoebox":
        times = control_times(cfg.duration_s)
        where = np.stack([offsets(p, times, cfg.duration_s) for p in plans])
        room = draw_room(cfg, extra, where)
    plan = ScenePlan(
        camera=camera, objects=tuple(plans), silent=is_silent, gaps=gaps, files=files,
        room=room,
        ambience_db=_maybe(extra, cfg.ambience_prob,
                           lambda: float(extra.uniform(*cfg.ambience_level_db))),
        noise_db=_maybe(extra, cfg.noise_prob, lambda: float(extra.uniform(*cfg.noise_level_db))),
        mic=_maybe(extra, cfg.mic_colour_prob, lambda: draw_mic(cfg, extra)),
    )
    return plan, background


def render_audio(cfg: SynthConfig, hrtf: HRTFSet, plan: ScenePlan, seed: int,
                 parts: dict | None = None, stems_hrtf: HRTFSet | None = None):
    """(mono (N,), binaural (2, N), dry (K, N)) float32 on one scale, and per object its
    sounding intervals. `parts` (a dict) receives the unscaled pieces: "objects" (K, 2, N)
    each object's ears (direct + room), "beds" (2, N), "mono" (N,) the capture and "scale"
    (what the returned signals were multiplied by). With `stems_hrtf`, parts' ears are those
    of that head instead (the same sources, rooms and beds heard by another head, rendered
    in the same pass: the sources, their propagation and the capture are computed once)."""
    sr, duration = cfg.sample_rate, cfg.duration_s
    n = int(round(duration * sr))
    audio_t = np.arange(n) / sr
    control_t = np.arange(0, duration + 2 * DIRECT_CONTROL_S, DIRECT_CONTROL_S)
    mono, binaural = np.zeros(n), np.zeros((2, n))
    dry_all, sounding = np.zeros((len(plan.objects), n)), []
    ears_all = np.zeros((len(plan.objects), 2, n))
    stems_ears = None if stems_hrtf is None else np.zeros((len(plan.objects), 2, n))
    for k, obj in enumerate(plan.objects):
        if plan.silent[k]:
            sounding.append([])
            continue
        if plan.files[k] is None:
            signal = render_source(obj.source_class, duration, sr, obj.seed, cfg.soundfont)
        else:
            signal = load_excerpt(plan.files[k], duration, sr,
                                  np.random.default_rng([seed, FILE_STREAM, k]))
        dry = obj.gain * signal
        if plan.gaps[k]:
            dry = dry * gate(n, sr, plan.gaps[k])
        dry_all[k] = dry
        sounding.append(sounding_intervals(dry, sr))
        _, _, dist_audio = trajectory(obj, audio_t, duration)
        wet = propagate(dry, dist_audio, sr)
        mono += wet
        az_c, el_c, _ = trajectory(obj, control_t, duration)
        for head, ears in ((hrtf, ears_all), (stems_hrtf, stems_ears)):
            if head is None:
                continue
            ears[k] = spatialize(wet, direction_filter(head, control_t, az_c, el_c),
                                 head.taps, sr)
            if plan.room is not None:
                times = control_times(duration)
                room_mono, room_ears = render_room(
                    dry, wet, times, offsets(obj, times, duration), plan.room, head, sr,
                    np.random.default_rng([seed, ROOM_STREAM, k]))
                ears[k] += room_ears
                if head is hrtf:  # the capture does not depend on the head
                    mono += room_mono
        binaural += ears_all[k]
    sources_rms = float(np.sqrt(np.mean(mono**2)))
    beds_ears = _render_beds(plan, hrtf, seed, sr, sources_rms, mono)
    binaural += beds_ears
    if plan.mic is not None:
        mono = colour(mono, sr, plan.mic, np.random.default_rng([seed, MIC_STREAM]))
    scale = PEAK_LEVEL / max(np.abs(mono).max(), np.abs(binaural).max(), 1e-9)
    if parts is not None:
        if stems_hrtf is not None:
            ears_all = stems_ears
            beds_ears = _render_beds(plan, stems_hrtf, seed, sr, sources_rms, np.zeros(n))
        parts.update(objects=ears_all, beds=beds_ears, mono=mono.copy(), scale=scale)
    mono, binaural = (mono * scale).astype(np.float32), (binaural * scale).astype(np.float32)
    if cfg.mono_mode == "downmix":  # same scale and target as "omni"; only the mono differs
        mono = 0.5 * (binaural[0] + binaural[1])
    return mono, binaural, (dry_all * scale).astype(np.float32), sounding


def _render_beds(plan: ScenePlan, hrtf: HRTFSet, seed: int, sr: int, sources_rms: float,
                 mono: np.ndarray) -> np.ndarray:
    """The scene's ambience and noise beds heard by `hrtf` (ears (2, N), returned; their
    capture added to `mono` (N,) in place), at their levels relative to the sources'
    capture RMS (the same draws for every head)."""
    n = mono.shape[0]
    bed_rng = np.random.default_rng([seed, BED_STREAM])
    beds = ((plan.ambience_db, lambda: ambience_bed(n, sr, bed_rng, hrtf, plan.camera.fov_deg)),
            (plan.noise_db, lambda: noise_bed(n, sr, bed_rng, hrtf)))
    ears = np.zeros((2, n))
    for level_db, bed in beds:
        if level_db is not None:
            bed_mono, bed_ears = bed()
            gain = sources_rms * 10 ** (level_db / 20)
            mono += gain * bed_mono
            ears += gain * bed_ears
    return ears


def _clipped(box: tuple[float, float, float, float], width: int, height: int):
    """The box draw_sprite returns: clipped to the frame."""
    x1, y1, x2, y2 = box
    return (min(max(x1, 0.0), width), min(max(y1, 0.0), height),
            max(min(x2, float(width)), 0.0), max(min(y2, float(height)), 0.0))


def render_scene(cfg: SynthConfig, hrtf: HRTFSet, name: str, seed: int, sources: int,
                 library: SourceLibrary | None = None,
                 edit_plan: Callable[[ScenePlan], ScenePlan] | None = None,
                 parts: dict | None = None, stems_hrtf: HRTFSet | None = None) -> Scene:
    """Plan and render one scene (nothing written); `edit_plan` may change the drawn plan
    first (the association's turn-taking scenes schedule their own gaps); `parts` and
    `stems_hrtf` as render_audio's."""
    plan, background = draw_scene(cfg, seed, sources, library)
    if edit_plan is not None:
        plan = edit_plan(plan)
    camera, duration = plan.camera, cfg.duration_s
    video_t = np.arange(int(round(duration * cfg.video_fps))) / cfg.video_fps
    mono, binaural, dry, sounding = render_audio(cfg, hrtf, plan, seed, parts, stems_hrtf)
    tracks = [trajectory(obj, video_t, duration) for obj in plan.objects]
    poses = _poses(cfg, plan, dry, seed, video_t) if cfg.animate else None
    sprites = []  # per frame: (class, cx, cy, height_px[, motion]) per object
    for i in range(len(video_t)):
        row = []
        for k, (obj, (az, el, dist)) in enumerate(zip(plan.objects, tracks)):
            u, v, _ = camera.project(az[i], el[i], dist[i])
            h = camera.box_height_px(DEFAULT_CLASS_HEIGHTS_M[obj.source_class],
                                     az[i], el[i], dist[i])
            if poses is None:
                row.append((obj.source_class, float(u), float(v), float(h)))
            else:
                level, (sx, sy) = poses[0][k][i], poses[1][k][i]
                row.append((obj.source_class, float(u + sx * h), float(v + sy * h), float(h),
                            float(level)))
        sprites.append(row)

    def frames() -> Iterator[np.ndarray]:
        for i, row in enumerate(sprites):
            far_first = np.argsort([-tracks[k][2][i] for k in range(len(row))])
            yield render_frame(background, [row[j] for j in far_first])[0]

    records = []
    for k, (obj, (az, el, dist)) in enumerate(zip(plan.objects, tracks)):
        on = is_sounding(sounding[k], video_t)
        records.append({
            "id": k,
            "class": obj.source_class,
            "gain": 0.0 if plan.silent[k] else round(obj.gain, 4),
            "silent": plan.silent[k],
            "audio": "builtin" if plan.files[k] is None else Path(plan.files[k]).name,
            "sounding": sounding[k],
            "gaps": [list(g) for g in plan.gaps[k]],  # scheduled silences
            "track": [
                {
                    "t": round(float(t), 4),
                    "azimuth_deg": round(float(az[i]), 3),
                    "elevation_deg": round(float(el[i]), 3),
                    "distance_m": round(float(dist[i]), 3),
                    "box": [round(float(x), 1) for x in
                            _clipped(sprite_box(*sprites[i][k][:4]), cfg.width, cfg.height)],
                    "sounding": bool(on[i]),
                }
                for i, t in enumerate(video_t)
            ],
        })
    truth = {
        "name": name,
        "seed": seed,
        "fov_deg": round(camera.fov_deg, 3),
        "width": cfg.width,
        "height": cfg.height,
        "fps": cfg.video_fps,
        "sample_rate": cfg.sample_rate,
        "duration_s": duration,
        "hrtf": hrtf.name,
        "hrtf_digest": hrtf.digest,
        "room": {"type": "none"} if plan.room is None else plan.room.record(),
        "mono": cfg.mono_mode,
        "mono_description": MONO_DESCRIPTIONS[cfg.mono_mode],
        "microphone": None if plan.mic is None else plan.mic.record(),
        "ambience_db": None if plan.ambience_db is None else round(plan.ambience_db, 2),
        "noise_db": None if plan.noise_db is None else round(plan.noise_db, 2),
        "sources": records,
    }
    return Scene(truth, mono, binaural, dry, frames)


def _poses(cfg: SynthConfig, plan: ScenePlan, dry: np.ndarray, seed: int,
           video_t: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per object its motion level per frame (a sounding object's own envelope, a silent
    one's animation.silent_envelope) and its sway (T, 2) in heights."""
    levels, sways = [], []
    for k, obj in enumerate(plan.objects):
        rng = np.random.default_rng([seed, ANIM_STREAM, k])
        own_class = np.random.default_rng([seed, SILENT_MOTION_STREAM, k])
        levels.append(silent_envelope(cfg, obj.source_class, rng, len(video_t), own_class)
                      if plan.silent[k]
                      else own_envelope(dry[k], cfg.sample_rate, cfg.video_fps, len(video_t),
                                        cfg.animate_gain))
        sways.append(sway(rng, video_t, cfg.sway))
    return levels, sways


def write_scene_video(scene: Scene, path: str | Path, cfg: SynthConfig) -> None:
    """The scene's frames with its mono as the (AAC) audio track, written atomically."""
    with atomic_path(path) as tmp:
        write_video(tmp, scene.frames(), cfg.video_fps, scene.mono, cfg.sample_rate)


def synthesize_scene(
    cfg: SynthConfig, hrtf: HRTFSet, out_dir: str | Path, name: str, seed: int, sources: int,
    library: SourceLibrary | None = None,
) -> dict:
    """Render one scene into `out_dir` (flat layout: <name>.mp4, truth/<name>.json and
    truth/<name>.binaural.wav); returns its truth record."""
    out_dir = Path(out_dir)
    scene = render_scene(cfg, hrtf, name, seed, sources, library)
    write_scene_video(scene, out_dir / f"{name}.mp4", cfg)
    write_wav(out_dir / "truth" / f"{name}.binaural.wav", scene.binaural, cfg.sample_rate)
    write_json(out_dir / "truth" / f"{name}.json", scene.truth)
    return scene.truth


def scene_seed(seed: int, index: int) -> int:
    """A per-scene seed that does not collide across (seed, index) pairs."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def scene_specs(cfg: SynthConfig) -> list[tuple[str, int, int]]:
    """(name, scene seed, sources) of cfg.scenes scenes with 1..cfg.max_sources sources."""
    specs = []
    for i in range(cfg.scenes):
        seed = scene_seed(cfg.seed, i)
        sources = int(np.random.default_rng(seed).integers(1, cfg.max_sources + 1))
        specs.append((f"scene_{cfg.seed:03d}_{i:04d}", seed + 1, sources))
    return specs


def pick_head(heads: Sequence[HRTFSet], seed: int) -> HRTFSet:
    """The scene's HRTF set, drawn from `heads` by the scene seed."""
    if len(heads) == 1:
        return heads[0]
    return heads[int(np.random.default_rng([seed, HEAD_STREAM]).integers(len(heads)))]


def synthesize(
    cfg: SynthConfig,
    hrtf: HRTFSet | Sequence[HRTFSet],
    out_dir: str | Path,
    progress: Callable[[int, int, str], None] | None = None,
    library: SourceLibrary | None = None,
) -> list[dict]:
    """Render cfg.scenes scenes (flat layout), each with a head drawn from `hrtf`."""
    heads = [hrtf] if isinstance(hrtf, HRTFSet) else list(hrtf)
    truths = []
    for i, (name, seed, sources) in enumerate(scene_specs(cfg)):
        truths.append(synthesize_scene(cfg, pick_head(heads, seed), out_dir, name, seed,
                                       sources, library))
        if progress:
            progress(i + 1, cfg.scenes, name)
    return truths
