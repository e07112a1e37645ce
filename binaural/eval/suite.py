"""Per-clip evaluation of binaural systems against a reference (docs/formats.md, EVAL_DIR).

    metrics:   METRICS (leading: band and TF cue errors, LSD, direction errors, ITD/ILD
               mismatch, collapse; beside them the FAIR-Play and Richard et al. sets),
               computed by binaural.eval.metrics
    one clip:  evaluate_clip (every system of binaural.eval.systems, every metric) ->
               write_clip_folder (wavs, reference, frame, muted video, info.json)

Aggregation and report.md: binaural.eval.report; plots: binaural.eval.plots. Pure domain
code: no Prefect, Ray or MLflow (flows/evaluate.py drives it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from binaural.eval.association import association_accuracy, heard_direction_error_deg
from binaural.eval.datasets import Record
from binaural.eval.direction import DirectionTrack
from binaural.eval.metrics import (
    direction_vs_reference_deg,
    finite,
    reference_free_metrics,
    reference_metrics,
)
from binaural.eval.systems import Clip, EvalContext, SystemSpec, sounding_tracks
from binaural.io.audio import write_wav
from binaural.io.outputs import atomic_path, write_json
from binaural.io.video import MediaError, copy_video_stream, iter_frames
from binaural.spatial.tracks import SourceTrack, dominant_azimuth

log = logging.getLogger(__name__)

FRAME_SEARCH_FPS = 4.0  # frames decoded per second when looking for the middle frame

# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric: its key in metrics.json, a table label, and which way is better."""

    key: str
    label: str
    lower_is_better: bool = True
    needs_reference: bool = True


# Spatial claims are judged on the leading metrics: when the reference was made with another
# head than the renderer's, complex-STFT MSE and ENV reward hedged, averaged outputs
# (DESIGN.md section 5), so those are reported beside, not in front. In rooms the per-bin
# cue errors stop discriminating (a diffuse tail has random per-bin cues): the band-smoothed
# ones come first.
LEADING_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("band_ild_error_db", "band ILD err dB"),
    MetricSpec("band_ipd_error_rad", "band IPD err rad"),
    MetricSpec("band_coherence_error", "band IC err"),
    MetricSpec("tf_ild_error_db", "TF-ILD err dB"),
    MetricSpec("tf_ipd_error_rad", "TF-IPD err rad"),
    MetricSpec("lsd_db", "LSD dB"),
    MetricSpec("direction_error_itd_deg", "dir err ITD deg", needs_reference=False),
    MetricSpec("direction_error_ild_deg", "dir err ILD deg", needs_reference=False),
    # against the one source sounding at each time (truth only: turn-taking, silent
    # distractors; binaural.eval.association)
    MetricSpec("heard_direction_error_deg", "dir err heard deg", needs_reference=False),
    MetricSpec("direction_vs_reference_deg", "dir vs ref ITD deg"),
    MetricSpec("itd_ild_mismatch_deg", "ITD-ILD mismatch deg", needs_reference=False),
    MetricSpec("collapse_score_db", "collapse dB", lower_is_better=False, needs_reference=False),
)
FAIRPLAY_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("stft_distance", "STFT"),
    MetricSpec("envelope_distance", "ENV"),
    MetricSpec("magnitude_distance", "Mag"),
    MetricSpec("phase_difference_rad", "D_phase"),
    MetricSpec("snr_db", "SNR dB", lower_is_better=False),
)
RICHARD_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("wave_l2_x1e3", "wave L2 x1e3"),
    MetricSpec("amplitude_distance", "amplitude"),
    MetricSpec("phase_error_rad", "phase rad"),
    MetricSpec("mrstft_distance", "MR-STFT"),
)
METRICS: tuple[MetricSpec, ...] = LEADING_METRICS + FAIRPLAY_METRICS + RICHARD_METRICS

# ---------------------------------------------------------------- one clip


@dataclass
class ClipResult:
    """Everything measured on one clip (audio kept until written, then dropped)."""

    clip_id: str
    n_sources: int | None
    duration_s: float
    mono_source: str
    direction_reference: str | None  # "truth", "detector" or None
    visual_tracks: list[SourceTrack]
    visual_azimuth_deg: float | None
    metrics: dict[str, dict[str, float | None]]
    directions: dict[str, DirectionTrack]
    reference_metrics: dict[str, float | None]
    reference_direction: DirectionTrack
    skipped: dict[str, str] = field(default_factory=dict)
    audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # The truth's group (real-footage layouts) and the localization's association
    # scores (binaural.eval.association; None: no truth, no detection or no estimate).
    group: str | None = None
    association: dict | None = None


def _fit_length(audio: np.ndarray, n: int, name: str) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"system {name} returned shape {audio.shape}, expected (2, N)")
    if audio.shape[1] < n:
        audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
    return audio[:, :n]


def _heard_error(direction: DirectionTrack, clip: Clip) -> float | None:
    if clip.truth is None:
        return None
    return finite(heard_direction_error_deg(direction, clip.truth, clip.truth_tracks))


def evaluate_clip(record: Record, context: EvalContext, systems: Sequence[SystemSpec]
                  ) -> ClipResult:
    """Run every system on one record and measure every metric.

    A system that needs a truth the record lacks is skipped (its reason kept). The visual
    reference of the direction errors is the truth's sounding tracks, else the detector's
    tracks when a system already ran the detector on this clip, else none.
    """
    clip = context.clip(record)
    sr, cfg = context.sample_rate, context.evaluate
    audio, skipped = {}, {}
    for spec in systems:
        if spec.needs_truth and clip.truth is None:
            skipped[spec.name] = "needs the truth tracks; the record has no truth"
            continue
        audio[spec.name] = _fit_length(spec.fn(record, context), clip.mono.shape[0], spec.name)
    if clip.truth is not None:
        visual, direction_reference = sounding_tracks(clip.truth, clip.truth_tracks), "truth"
    elif (loc := context.cached_localization(record)) is not None and loc.tracks:
        visual, direction_reference = list(loc.tracks), "detector"
    else:
        visual, direction_reference = [], None
    metrics, directions = {}, {}
    for name, out in audio.items():
        free, directions[name] = reference_free_metrics(out, sr, cfg, context.ild_table, visual)
        metrics[name] = {**reference_metrics(out, clip.reference, sr, cfg), **free}
    ref_free, ref_direction = reference_free_metrics(clip.reference, sr, cfg,
                                                     context.ild_table, visual)
    for name in audio:
        metrics[name]["direction_vs_reference_deg"] = direction_vs_reference_deg(
            directions[name], ref_direction)
    association = None
    for name in audio:  # against the source sounding at each time (None without truth)
        metrics[name]["heard_direction_error_deg"] = _heard_error(directions[name], clip)
    ref_free["heard_direction_error_deg"] = _heard_error(ref_direction, clip)
    if clip.truth is not None and (loc := context.cached_localization(record)) is not None:
        association = association_accuracy(loc.tracks, clip.truth, clip.truth_tracks,
                                           clip.duration_s)
    middle = dominant_azimuth(visual, np.array([clip.duration_s / 2.0])) if visual else [np.nan]
    return ClipResult(
        clip_id=record.id, n_sources=clip.n_sources, duration_s=clip.duration_s,
        mono_source=clip.mono_source, direction_reference=direction_reference,
        visual_tracks=visual, visual_azimuth_deg=finite(float(middle[0])),
        metrics=metrics, directions=directions, reference_metrics=ref_free,
        reference_direction=ref_direction, skipped=skipped, audio=audio,
        group=clip.truth.get("group") if clip.truth is not None else None,
        association=association,
    )


def middle_frame(video: str | Path, duration_s: float) -> np.ndarray | None:
    """An RGB frame from the middle of the video (None when none decodes)."""
    last = None
    for t, rgb in iter_frames(video, FRAME_SEARCH_FPS):
        last = rgb
        if t >= duration_s / 2.0:
            break
    return last


def write_clip_folder(clip_dir: str | Path, clip: Clip, result: ClipResult,
                      systems: Sequence[str], copy_video: bool = True) -> Path:
    """EVAL_DIR/clips/<id>/: one wav per system, reference.wav, frame.png, video.mp4 (muted
    copy) and info.json. Drops the result's audio once written."""
    import matplotlib.image

    clip_dir = Path(clip_dir)
    clip_dir.mkdir(parents=True, exist_ok=True)
    for old in clip_dir.glob("*.wav"):  # systems of an earlier run that this one lacks
        if old.stem not in result.audio and old.stem != "reference":
            old.unlink()
    for name, audio in result.audio.items():
        write_wav(clip_dir / f"{name}.wav", audio, clip.sample_rate)
    write_wav(clip_dir / "reference.wav", clip.reference, clip.sample_rate)
    frame = middle_frame(clip.record.video, clip.duration_s)
    if frame is not None:
        with atomic_path(clip_dir / "frame.png") as tmp:
            matplotlib.image.imsave(tmp, frame)
    if copy_video:
        try:
            with atomic_path(clip_dir / "video.mp4") as tmp:
                copy_video_stream(clip.record.video, tmp)
        except (MediaError, av.error.FFmpegError) as exc:  # optional output: say why
            log.warning("%s: no muted video copy (%s)", clip.record.video, exc)
    write_json(clip_dir / "info.json", {
        "clip": result.clip_id,
        "n_sources": result.n_sources,
        "systems": [s for s in systems if s in result.audio],
        "has_reference": True,
        "visual_azimuth_deg": result.visual_azimuth_deg,
        "duration_s": round(result.duration_s, 4),
        "sample_rate": clip.sample_rate,
        "split": clip.record.split,
        "mono_source": result.mono_source,
        "direction_reference": result.direction_reference,
    })
    result.audio.clear()
    return clip_dir
