"""The per-video stages as plain functions; tasks/ wraps them in Ray actors.

    localize_video: scene extraction (frames) + detection/tracking + camera model
    render_video:   scene extraction (audio, streamed) + generation + evaluation
                    + outputs (WAV, MP4, JSON, PNG)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from binaural.audio_io import iter_wav, read_wav, write_wav_stream
from binaural.config import EvaluateConfig, LocalizeConfig, RenderConfig, SceneConfig
from binaural.damage import Damage, judge
from binaural.geometry import Camera
from binaural.hrtf import HRTFSet
from binaural.localize import Detection, SourceTrack, build_tracks
from binaural.metrics import (
    direction_track,
    envelope_distance,
    fairplay_stft_distance,
)
from binaural.outputs import atomic_path, file_sha256, write_json
from binaural.render import drain
from binaural.scene_render import build_spatializer, renderer_version
from binaural.silence import SILENT_DBFS, LevelMeter
from binaural.video import MediaError, VideoInfo, iter_audio, iter_frames, probe, remux

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 480
# A reference longer than this is not loaded whole for the with-reference metrics.
MAX_REFERENCE_S = 600.0


class Tracker(Protocol):
    version: str
    embedding_source: str  # what made its detections' embeddings (tracks carry it)

    def track(self, frames) -> list[Detection]: ...


@dataclass
class Localization:
    """What the localization stage hands to generation (small: no frames)."""

    info: VideoInfo
    tracks: list[SourceTrack]
    detector_version: str
    thumbnail: np.ndarray
    fov_deg: float
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    damage: dict = field(default_factory=dict)  # {"video": Damage.to_json()} when damaged


def localize_video(
    path: str | Path, tracker: Tracker, scene: SceneConfig, localize: LocalizeConfig
) -> Localization:
    """Probe the video, track sources over frames sampled at scene.fps, place them."""
    start = time.perf_counter()
    info = probe(path, scene.min_duration_s)
    warnings = []
    if info.audio_channels > 1:
        warnings.append(
            f"{path}: audio has {info.audio_channels} channels; mixed to mono "
            "(the system is made for single-microphone recordings)"
        )
    if info.audio_rate != scene.sample_rate:
        warnings.append(f"{path}: audio at {info.audio_rate} Hz resampled to {scene.sample_rate}")
    thumb: list[np.ndarray] = []
    damage = Damage("video")

    def frames():
        for t, rgb in iter_frames(path, scene.fps, damage):
            if not thumb and t >= min(1.0, info.duration_s / 2):
                step = max(1, rgb.shape[1] // THUMBNAIL_WIDTH)
                thumb.append(np.ascontiguousarray(rgb[::step, ::step]))
            yield t, rgb

    detections = tracker.track(frames())
    damaged = _judge_damage(path, damage, info.duration_s, scene)
    if damaged:
        warnings.append(damaged)
    camera = Camera(*info.display_size, localize.fov_deg)  # boxes are on the shown picture
    tracks = build_tracks(
        detections, camera, localize.class_map, localize.class_heights_m,
        localize.smoothing_s, localize.min_track_s, localize.max_sources,
        tracker.embedding_source,
    )
    if not tracks:
        warnings.append(f"{path}: no sound source found; rendered straight ahead")
    return Localization(
        info=info,
        tracks=tracks,
        detector_version=tracker.version,
        thumbnail=thumb[0] if thumb else np.zeros((1, 1, 3), np.uint8),
        fov_deg=localize.fov_deg,
        warnings=warnings,
        seconds=time.perf_counter() - start,
        damage={"video": damage.to_json()} if damage else {},
    )


def _judge_damage(path: str | Path, damage: Damage, duration_s: float,
                  scene: SceneConfig) -> str | None:
    """The warning naming a stream's damage; MediaError when too much was lost."""
    try:
        text = judge(damage, duration_s, scene.max_lost_fraction)
    except ValueError as exc:
        raise MediaError(f"{path}: damaged beyond use: {exc}") from exc
    return f"{path}: damaged stream concealed: {text}" if text else None


def dominant_azimuth(tracks: list[SourceTrack], times_s: np.ndarray) -> np.ndarray:
    """Azimuth of the source expected loudest (nearest) at each time; NaN where none."""
    best = np.full(len(times_s), np.inf)
    az = np.full(len(times_s), np.nan)
    for tr in tracks:
        inside = (times_s >= tr.times_s[0]) & (times_s <= tr.times_s[-1])
        d = np.interp(times_s, tr.times_s, tr.distance_m)
        better = inside & (d < best)
        az[better] = np.interp(times_s[better], tr.times_s, tr.azimuth_deg)
        best[better] = d[better]
    return az


@dataclass
class _RunningEvaluation:
    """Reference-free metrics accumulated chunk by chunk (bounded memory)."""

    sample_rate: int
    cfg: EvaluateConfig
    offset: int = 0
    side: float = 0.0
    mid: float = 0.0
    times: list[np.ndarray] = field(default_factory=list)
    azimuth: list[np.ndarray] = field(default_factory=list)
    ild: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)

    def add(self, chunk: np.ndarray) -> None:
        self.side += float(np.sum((chunk[0] - chunk[1]) ** 2, dtype=np.float64))
        self.mid += float(np.sum((chunk[0] + chunk[1]) ** 2, dtype=np.float64))
        if chunk.shape[1] >= int(self.cfg.window_s * self.sample_rate):
            tr = direction_track(chunk, self.sample_rate, self.cfg)
            self.times.append(tr.times_s + self.offset / self.sample_rate)
            self.azimuth.append(tr.azimuth_deg)
            self.ild.append(tr.ild_db)
            self.valid.append(tr.valid)
        self.offset += chunk.shape[1]

    def result(self, tracks: list[SourceTrack], level: LevelMeter | None = None,
               silence_dbfs: float = -np.inf) -> tuple[dict, dict]:
        """Metrics and series; with `level` (the input's), windows whose input is under
        `silence_dbfs` are not judged."""
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))  # noqa: E731
        times, az, ild = cat(self.times), cat(self.azimuth), cat(self.ild)
        valid = cat(self.valid).astype(bool)
        if level is not None:
            valid &= level.loud_at(times, silence_dbfs)
        visual = dominant_azimuth(tracks, times) if tracks else np.full(len(times), np.nan)
        usable = valid & ~np.isnan(visual)
        err = np.abs(az[usable] - visual[usable])
        metrics = {
            "collapse_score_db": 10 * np.log10((self.side + 1e-12) / (self.mid + 1e-12)),
            "direction_error_deg_median": float(np.median(err)) if err.size else None,
            "direction_error_deg_mean": float(np.mean(err)) if err.size else None,
            "direction_windows": int(usable.sum()),
            # the share of the clip's windows where a direction could be judged at all
            "direction_judged_fraction": round(float(valid.mean()), 4) if valid.size else 0.0,
        }
        series = {"times_s": times, "azimuth_deg": az, "ild_db": ild, "valid": valid,
                  "visual_azimuth_deg": visual}
        return metrics, series


def _mono_chunks(path: str | Path, scene: SceneConfig, damage: Damage | None = None,
                 level: LevelMeter | None = None):
    for chunk in iter_audio(path, scene.sample_rate, scene.chunk_s, damage):
        if level is not None:
            level.add(chunk)
        yield chunk


def render_video(
    path: str | Path,
    loc: Localization,
    hrtf: HRTFSet,
    dest_dir: str | Path,
    name: str,
    scene: SceneConfig,
    render: RenderConfig,
    evaluate: EvaluateConfig,
    reference: str | Path | None = None,
    generator=None,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Generate, evaluate and write the four outputs; returns the report record.

    `generator` (models.generator.Generator: `.generate(mono_chunks, tracks, sample_rate,
    frame_size)`, `.describe()`, `.fallback_reason(tracks)`, `.visual_use(tracks)`) replaces
    the DSP renderer
    when given; without it the mono is rendered by the renderer alone. `progress` is called
    with the seconds of audio done after each generated piece."""
    from binaural.report import plot_report  # matplotlib only where a report is drawn

    dest_dir = Path(dest_dir)
    timings = {"localization": round(loc.seconds, 3)}
    sr = scene.sample_rate
    evaluation = _RunningEvaluation(sr, evaluate)
    audio_damage, level = Damage("audio"), LevelMeter(sr, evaluate.window_s)

    t0 = time.perf_counter()
    spatializer = build_spatializer(hrtf, loc.tracks, render, sr) if generator is None else None
    warnings = list(loc.warnings)
    fallback = generator.fallback_reason(loc.tracks) if generator is not None else None
    if fallback:
        warnings.append(f"{path}: {fallback}")
    visual, degraded = (generator.visual_use(loc.tracks) if generator is not None
                        else (None, False))
    if degraded and not fallback:
        warnings.append(f"{path}: visual condition {visual}")

    def generated():
        mono = _mono_chunks(path, scene, audio_damage, level)
        if generator is not None:
            pieces = generator.generate(mono, loc.tracks, sr, loc.info.display_size)
        else:
            pieces = drain(spatializer, mono)
        for out in pieces:
            evaluation.add(out)
            if progress is not None:
                progress(evaluation.offset / sr)
            yield out

    wav_path = dest_dir / f"{name}.binaural.wav"
    frames = write_wav_stream(wav_path, generated(), sr)
    timings["generation"] = round(time.perf_counter() - t0, 3)
    damaged = _judge_damage(path, audio_damage, frames / sr, scene)
    if damaged:
        warnings.append(damaged)

    t0 = time.perf_counter()
    metrics, series = evaluation.result(loc.tracks, level, scene.silence_dbfs)
    peak = level.peak_dbfs()
    metrics["input_peak_dbfs"] = round(peak, 2)
    if peak < scene.silence_dbfs:
        loudest = "digital silence" if peak <= SILENT_DBFS else f"loudest {peak:.1f} dBFS"
        warnings.append(f"{path}: silent audio track ({loudest}, under "
                        f"{scene.silence_dbfs:g} dBFS); no direction can be judged")
    if reference is not None and Path(reference).is_file():
        mono = np.concatenate(list(_mono_chunks(path, scene)))
        metrics.update(reference_metrics(wav_path, mono, reference, evaluate))
    timings["evaluation"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    mp4_path = dest_dir / f"{name}.binaural.mp4"
    with atomic_path(mp4_path) as tmp:
        remux(path, iter_wav(wav_path, int(scene.chunk_s * sr)), tmp, sr)
    timings["mux"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    png_path = dest_dir / f"{name}.png"
    with atomic_path(png_path) as tmp:
        plot_report(tmp, name, loc.thumbnail, loc.info.display_size[0], loc.tracks, series)
    timings["report"] = round(time.perf_counter() - t0, 3)

    report = {
        "name": name,
        "input": str(path),
        "input_sha256": file_sha256(path),
        "duration_s": round(frames / sr, 4),
        "sample_rate": sr,
        "video": {"width": loc.info.width, "height": loc.info.height, "fps": loc.info.fps,
                  "codec": loc.info.video_codec, "display_width": loc.info.display_size[0],
                  "display_height": loc.info.display_size[1],
                  "rotation_deg": loc.info.rotation_deg},
        "audio_in": {"rate": loc.info.audio_rate, "channels": loc.info.audio_channels,
                     "codec": loc.info.audio_codec},
        "fov_deg": loc.fov_deg,
        "generator": (generator.describe() | {"fallback": fallback, "visual": visual}
                      if generator is not None else
                      {"name": "dsp", "version": renderer_version(hrtf, render),
                       "hrtf": hrtf.name, "block": render.block, "reverb": render.reverb,
                       "reverberant": bool(render.reverb
                                           and getattr(spatializer, "reverberant", False)),
                       "t60_s": round(float(getattr(spatializer, "last_t60_s", 0.0)), 3),
                       "activity_model": render.activity_model}),
        "detector": {"version": loc.detector_version},
        "sources": [t.to_json() for t in loc.tracks],
        "metrics": metrics,
        "damage": loc.damage | ({"audio": audio_damage.to_json()} if audio_damage else {}),
        "warnings": warnings,
        "timings_s": timings,
        "outputs": {"wav": wav_path.name, "mp4": mp4_path.name, "png": png_path.name,
                    "json": f"{name}.json"},
    }
    return report


def reference_metrics(output_wav: str | Path, mono: np.ndarray, reference_wav: str | Path,
                      evaluate: EvaluateConfig) -> dict:
    """STFT distance and ENV (FAIR-Play conventions) against a reference binaural, with
    the mono-copy baseline beside them."""
    out, sr = read_wav(output_wav)
    ref, ref_sr = read_wav(reference_wav)
    if ref_sr != sr or ref.shape[0] != 2:
        raise ValueError(f"{reference_wav}: reference must be stereo at {sr} Hz")
    if ref.shape[1] > MAX_REFERENCE_S * sr:
        return {}
    n = min(out.shape[1], ref.shape[1], mono.shape[0])
    out, ref = out[:, :n], ref[:, :n]
    mono = np.stack([mono[:n], mono[:n]])  # the mono-copy baseline: L = R = input
    return {
        "stft_distance": fairplay_stft_distance(out, ref, sr, evaluate),
        "envelope_distance": envelope_distance(out, ref, sr, evaluate),
        "mono_copy_stft_distance": fairplay_stft_distance(mono, ref, sr, evaluate),
        "mono_copy_envelope_distance": envelope_distance(mono, ref, sr, evaluate),
    }


def write_report(dest_dir: str | Path, report: dict) -> Path:
    path = Path(dest_dir) / f"{report['name']}.json"
    write_json(path, report)
    return path
