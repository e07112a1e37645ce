"""The metric sets that reports compute, in one place (definitions: shared/research/ANCHORS.md).

    reference_metrics:         every metric against a reference (the evaluation suite)
    reference_free_metrics:    direction errors (ITD and ILD) against the dominant visible
                               source, the ITD/ILD mismatch and the collapse score, on a
                               whole signal
    RunningEvaluation:         the same reference-free cues accumulated chunk by chunk (a
                               remaster's streamed output, bounded memory)
    report_reference_metrics:  a remaster's band cue errors and FAIR-Play distances against a
                               reference binaural, with the mono-copy baseline beside them
    direction_vs_reference_deg: the direction heard in an output against the one heard in
                               the reference, window by window
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from binaural.eval.bands import (
    band_coherence_error,
    band_cue_errors,
    band_ild_error_db,
    band_ipd_error_rad,
)
from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import (
    AzimuthTable,
    ild_direction_track,
    itd_ild_mismatch_deg,
    median_direction_error_deg,
    tf_ild_error_db,
    tf_ipd_error_rad,
)
from binaural.eval.direction import DirectionTrack, collapse_score_db, direction_track
from binaural.eval.distances import (
    envelope_distance,
    fairplay_stft_distance,
    magnitude_distance,
    phase_difference_distance,
    snr_db,
)
from binaural.eval.silence import LevelMeter
from binaural.eval.spectral import (
    amplitude_distance,
    log_spectral_distance_db,
    mrstft_distance,
    phase_error_rad,
    wave_l2,
)
from binaural.io.audio import read_wav
from binaural.spatial.tracks import SourceTrack, dominant_azimuth

WAVE_L2_SCALE = 1e3  # the literature reports wave L2 x 10^3
# A reference longer than this is not loaded whole for a remaster's reference metrics.
MAX_REFERENCE_S = 600.0


MetricFn = Callable[[np.ndarray, np.ndarray, int, EvaluateConfig], float]


def wave_l2_x1e3(pred: np.ndarray, ref: np.ndarray, sr: int, cfg: EvaluateConfig) -> float:
    return WAVE_L2_SCALE * wave_l2(pred, ref, sr, cfg)


REFERENCE_METRIC_FNS: dict[str, MetricFn] = {
    "band_ild_error_db": band_ild_error_db,
    "band_ipd_error_rad": band_ipd_error_rad,
    "band_coherence_error": band_coherence_error,
    "tf_ild_error_db": tf_ild_error_db,
    "tf_ipd_error_rad": tf_ipd_error_rad,
    "lsd_db": log_spectral_distance_db,
    "stft_distance": fairplay_stft_distance,
    "envelope_distance": envelope_distance,
    "magnitude_distance": magnitude_distance,
    "phase_difference_rad": phase_difference_distance,
    "snr_db": snr_db,
    "wave_l2_x1e3": wave_l2_x1e3,
    "amplitude_distance": amplitude_distance,
    "phase_error_rad": phase_error_rad,
    "mrstft_distance": mrstft_distance,
}


def finite(value: float | None) -> float | None:
    """JSON-safe: NaN and infinities become None."""
    return None if value is None or not math.isfinite(value) else float(value)


def reference_metrics(
    pred: np.ndarray, ref: np.ndarray, sample_rate: int, cfg: EvaluateConfig
) -> dict[str, float | None]:
    """Every metric against the reference (same shape, same rate)."""
    return {key: finite(fn(pred, ref, sample_rate, cfg))
            for key, fn in REFERENCE_METRIC_FNS.items()}


def reference_free_metrics(
    binaural: np.ndarray,
    sample_rate: int,
    cfg: EvaluateConfig,
    ild_table: AzimuthTable,
    visual_tracks: Sequence[SourceTrack],
) -> tuple[dict[str, float | None], DirectionTrack]:
    """Direction error from ITD and from ILD against the dominant visible source (median
    over windows; None without visual tracks), the disagreement of the two (median over
    windows of |ITD azimuth - ILD azimuth|, needing no source) and the collapse score."""
    track = direction_track(binaural, sample_rate, cfg)
    metrics: dict[str, float | None] = {
        "collapse_score_db": finite(collapse_score_db(binaural)),
        "itd_ild_mismatch_deg": finite(itd_ild_mismatch_deg(track, ild_table)),
    }
    if visual_tracks:
        seen = dominant_azimuth(list(visual_tracks), track.times_s)
        itd_error = median_direction_error_deg(track, seen)
        ild_error = median_direction_error_deg(ild_direction_track(track, ild_table), seen)
    else:
        itd_error = ild_error = None
    metrics["direction_error_itd_deg"] = itd_error
    metrics["direction_error_ild_deg"] = ild_error
    return metrics, track


def direction_vs_reference_deg(track: DirectionTrack, reference: DirectionTrack
                               ) -> float | None:
    """Median |azimuth heard in the output - azimuth heard in the reference| (ITD, deg)
    over the windows where both have a valid estimate: where the result sounds against
    where the truth sounds, window by window. With several sounding sources the heard
    direction of the truth need not be the dominant visible source's, which the direction
    errors above are scored against; this one needs no choice of source."""
    if track.times_s.shape != reference.times_s.shape:
        raise ValueError("direction tracks of different windowing")
    heard = np.where(np.asarray(reference.valid, bool), reference.azimuth_deg, np.nan)
    return finite(median_direction_error_deg(track, heard))


@dataclass
class RunningEvaluation:
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
               silence_dbfs: float = -np.inf, ild_table: AzimuthTable | None = None
               ) -> tuple[dict, dict]:
        """Metrics and series; with `level` (the input's), windows whose input is under
        `silence_dbfs` are not judged; with `ild_table` (the output head's), the ITD/ILD
        mismatch of the judged windows too."""
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
            # The heard direction against the system's own detection: agreement with it,
            # not an error against the world (a wrong detection agrees as well).
            "agreement_with_detection_deg": float(np.median(err)) if err.size else None,
            "agreement_with_detection_deg_mean": float(np.mean(err)) if err.size else None,
            "agreement_windows": int(usable.sum()),
            # the share of the clip's windows where a direction could be judged at all
            "direction_judged_fraction": round(float(valid.mean()), 4) if valid.size else 0.0,
        }
        if ild_table is not None:
            judged = DirectionTrack(times_s=times, azimuth_deg=az, itd_s=np.full_like(az, np.nan),
                                    ild_db=ild, valid=valid)
            metrics["itd_ild_mismatch_deg"] = finite(itd_ild_mismatch_deg(judged, ild_table))
        series = {"times_s": times, "azimuth_deg": az, "ild_db": ild, "valid": valid,
                  "visual_azimuth_deg": visual}
        return metrics, series


def report_reference_metrics(output_wav: str | Path, mono: np.ndarray, reference_wav: str | Path,
                      evaluate: EvaluateConfig) -> dict:
    """Band-smoothed cue errors (ILD, IPD, coherence: the figures that judge rooms), STFT
    distance and ENV (FAIR-Play conventions; the STFT distance rewards hedged outputs, see
    DESIGN.md section 5) against a reference binaural, with the mono-copy baseline beside
    each."""
    out, sr = read_wav(output_wav)
    ref, ref_sr = read_wav(reference_wav)
    if ref_sr != sr or ref.shape[0] != 2:
        raise ValueError(f"{reference_wav}: reference must be stereo at {sr} Hz")
    if ref.shape[1] > MAX_REFERENCE_S * sr:
        return {}
    n = min(out.shape[1], ref.shape[1], mono.shape[0])
    out, ref = out[:, :n], ref[:, :n]
    mono = np.stack([mono[:n], mono[:n]])  # the mono-copy baseline: L = R = input
    band = {f"{prefix}{key}": finite(value)
            for prefix, signal in (("", out), ("mono_copy_", mono))
            for key, value in band_cue_errors(signal, ref, sr, evaluate).items()}
    return band | {
        "stft_distance": fairplay_stft_distance(out, ref, sr, evaluate),
        "envelope_distance": envelope_distance(out, ref, sr, evaluate),
        "mono_copy_stft_distance": fairplay_stft_distance(mono, ref, sr, evaluate),
        "mono_copy_envelope_distance": envelope_distance(mono, ref, sr, evaluate),
    }
