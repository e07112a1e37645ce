"""Which visible object is sounding: a learned audio-visual association, any detector.

    window_features:  per window (window_s long, centred every hop_s from the first frame
                      to the last) and present track, how its motion (box and the part
                      cell that follows the audio best over cell_context_s either side,
                      binaural.spatial.motion) follows the mono's envelope and onsets over
                      the window and over its central short_window_s (turns shorter than
                      a window), its share of the motion, the audio level over the window
                      and its centre, the level of the centre's median frame (a pause of
                      half the centre: nobody sounds there) and its class's activity
    AssociationModel: a one-hidden-layer MLP (numpy inference, a small .npz) giving the
                      probability that the track sounds in the window
    decode:           per track, those probabilities over time through a two-state hidden
                      Markov chain (who sounds changes rarely: a flicker is bridged, a turn
                      kept)
    associate_video:  a second, cheap decode pass after tracking (grey, downscaled, at
                      `fps` capped at the video's rate) -> each track's `sounding`
                      probability over its times, and a summary for the report

Trained on synthesized scenes whose sprites move with their own audio and whose silent
objects move on their own (scripts/train_association.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from binaural.io.grey import iter_grey_frames
from binaural.io.video import iter_audio
from binaural.spatial.config import AssociateConfig
from binaural.spatial.gate import ActivityModel, mlp_probability
from binaural.spatial.motion import audio_envelope, track_motion
from binaural.spatial.tracks import SourceTrack

FEATURES = (
    "ncc_part_env", "ncc_part_change", "ncc_part_onset", "ncc_box_env", "ncc_box_change",
    "part_share", "box_motion_rel", "change_lead", "env_lead", "box_change_lead",
    "audio_level", "class_activity", "one_over_tracks", "part_variation",
    "short_part_env", "short_part_change", "short_change_lead", "centre_level",
    "centre_median_level", "part_search",
)
CENTRE_S = 0.5  # centre_level: the audio level over the window's central 0.5 s...
LOUD_PERCENTILE = 95.0  # ...and its median frame's over this percentile of the clip's frames
MIN_COVERAGE = 0.6  # a track takes part in a window where it has this share of its frames
EVIDENCE_FLOOR = 0.02  # decode: no window is surer than 1 - this either way (odds 1:49)
LEVEL_RANGE_DB = 60.0


def _ncc(x: np.ndarray, y: np.ndarray, lags: Sequence[int]) -> float:
    """Max normalised cross-correlation of x (motion) lagging y (audio) by `lags` frames."""
    best = -1.0
    for lag in lags:
        a, b = (x[lag:], y[:len(y) - lag]) if lag >= 0 else (x[:lag], y[-lag:])
        if a.size < 4:
            continue
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        if den > 1e-12:
            best = max(best, float((a * b).sum() / den))
    return best if best > -1.0 else 0.0


def _filled(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    return np.where(finite, x, x[finite].mean() if finite.any() else 0.0)


def _cell_scores(part: np.ndarray, envelope: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Per part cell (C, L) how well its motion follows the envelope (max NCC); NaN for a
    cell never measured."""
    return np.array([_ncc(_filled(cell), envelope, lags) if np.isfinite(cell).any()
                     else np.nan for cell in part])


def _chosen_cells(scores: np.ndarray, context: int) -> np.ndarray:
    """Per window (W, C scores) the cell whose score, averaged over the `context` windows
    either side, is the best: the part that moves with the sound is found over a few
    seconds, so one window's chance correlation of a silent torso does not pick it."""
    finite = np.isfinite(scores)
    values = np.where(finite, scores, 0.0)
    out = np.zeros(len(scores), dtype=np.int64)
    for w in range(len(scores)):
        sl = slice(max(0, w - context), w + context + 1)
        count = finite[sl].sum(axis=0)
        mean = np.where(count > 0, values[sl].sum(axis=0) / np.maximum(count, 1), -np.inf)
        out[w] = int(np.argmax(mean))
    return out


def _level(rms: float, top: float) -> float:
    return float(np.clip(20 * np.log10(max(rms, 1e-9) / top) / LEVEL_RANGE_DB, -2, 0))


def _around(centre: int, length: int, n: int) -> slice:
    """The `length` frames centred on `centre`, cut to [0, n)."""
    start = centre - length // 2
    return slice(max(start, 0), min(start + length, n))


def window_features(box: np.ndarray, part: np.ndarray, envelope: np.ndarray,
                    activity: np.ndarray, fps: float, cfg: AssociateConfig
                    ) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Features (N, len(FEATURES)) and their (window index, track index, centre frame) of
    every window and track present in it; box, activity (K, T), part (K, C, T) (part
    cells, binaural.spatial.motion.part_cells), envelope (T,). Windows are centred every
    hop from the first frame to the last (cut to the clip at its ends)."""
    n = envelope.size
    length = max(4, int(round(cfg.window_s * fps)))
    short = min(length, max(4, int(round(cfg.short_window_s * fps))))
    centre = max(1, int(round(CENTRE_S * fps)))
    hop = max(1, int(round(cfg.hop_s * fps)))
    context = int(round(cfg.cell_context_s / cfg.hop_s))
    lags = range(int(round(cfg.min_lag_s * fps)), int(round(cfg.max_lag_s * fps)) + 1)
    change = np.abs(np.diff(envelope, prepend=envelope[:1]))
    log_env = np.log(envelope + 1e-4 * max(envelope.max(), 1e-9))
    onset = np.maximum(np.diff(log_env, prepend=log_env[:1]), 0.0)
    centres = list(range(0, n, hop))
    spans = [_around(c, length, n) for c in centres]
    window_rms = [np.sqrt(np.mean(envelope[sl] ** 2)) for sl in spans]
    top = max(max(window_rms, default=0.0), 1e-9)
    loud = max(float(np.percentile(envelope, LOUD_PERCENTILE)), 1e-9) if n else 1e-9
    present = [[k for k in range(box.shape[0])
                if np.isfinite(part[k, :, sl]).any(axis=0).mean() >= MIN_COVERAGE]
               for sl in spans]
    scores = np.full((box.shape[0], len(centres), part.shape[1]), np.nan)
    for w, sl in enumerate(spans):
        for k in present[w]:
            scores[k, w] = _cell_scores(part[k, :, sl], envelope[sl], lags)
    chosen = [_chosen_cells(scores[k], context) for k in range(box.shape[0])]
    searched = np.isfinite(part).any(axis=2).sum(axis=1) > 1  # a face searched over cells
    rows, index = [], []
    for w, (sl, mid) in enumerate(zip(spans, centres)):
        if not present[w]:
            continue
        ss, cs = _around(mid, short, n), _around(mid, centre, n)
        level = _level(window_rms[w], top)
        centre_level = _level(float(np.sqrt(np.mean(envelope[cs] ** 2))), top)
        median_level = _level(float(np.median(envelope[cs])), loud)
        raw = {}
        for k in present[w]:
            cell = part[k, chosen[k][w]]
            p = _filled(cell[sl]) if np.isfinite(cell[sl]).any() else np.zeros(sl.stop - sl.start)
            b = _filled(box[k, sl])
            q = p[ss.start - sl.start:ss.stop - sl.start]
            raw[k] = (_ncc(p, envelope[sl], lags), _ncc(p, change[sl], lags),
                      _ncc(p, onset[sl], lags), _ncc(b, envelope[sl], lags),
                      _ncc(b, change[sl], lags), p.mean(), b.mean(), p.std() / (p.mean() + 1e-6),
                      _ncc(q, envelope[ss], lags), _ncc(q, change[ss], lags))
        part_total = sum(r[5] for r in raw.values()) + 1e-9
        box_top = max(r[6] for r in raw.values()) + 1e-9
        for k in present[w]:
            r = raw[k]
            others = [raw[j] for j in present[w] if j != k]

            def lead(i: int, r=r, others=others) -> float:
                return r[i] - max(o[i] for o in others) if others else 0.0

            rows.append([r[0], r[1], r[2], r[3], r[4], r[5] / part_total,
                         np.log((r[6] + 1e-6) / box_top), lead(1), lead(0), lead(4), level,
                         float(np.mean(activity[k, sl])), 1.0 / len(present[w]), min(r[7], 5.0),
                         r[8], r[9], lead(9), centre_level, median_level,
                         float(searched[k])])
            index.append((w, k, mid))
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES)), index


@dataclass(frozen=True)
class AssociationModel:
    """MLP: FEATURES clipped to the training range [low, high] (no extrapolation: a
    cleaner correlation than any synthesized scene showed reads as the cleanest seen),
    standardised -> ReLU hidden layer -> sigmoid (the track sounds)."""

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = (np.clip(features, self.low, self.high) - self.mean) / self.scale
        return mlp_probability(x, self.w1, self.b1, self.w2, self.b2).reshape(-1)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, features=np.array(FEATURES), low=self.low, high=self.high,
                            mean=self.mean, scale=self.scale, w1=self.w1, b1=self.b1,
                            w2=self.w2, b2=self.b2)

    @classmethod
    def load(cls, path: str | Path) -> AssociationModel:
        with np.load(path, allow_pickle=False) as data:
            if tuple(str(f) for f in data["features"]) != FEATURES:
                raise ValueError(f"{path}: association model made for other features")
            return cls(*(data[k] for k in ("low", "high", "mean", "scale", "w1", "b1", "w2",
                                           "b2")))


def window_probabilities(model: AssociationModel, features: np.ndarray,
                         index: list[tuple[int, int, int]], n_tracks: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(centre frames (W,), probabilities (K, W), NaN where a track is absent)."""
    windows = sorted({(w, c) for w, _, c in index})
    column = {w: i for i, (w, _) in enumerate(windows)}
    probs = np.full((n_tracks, len(windows)), np.nan)
    p = model.predict(features) if len(index) else np.zeros(0)
    for (w, k, _), value in zip(index, p):
        probs[k, column[w]] = value
    return np.array([c for _, c in windows], dtype=np.float64), probs


def decode(probs: np.ndarray, switch: float, weight: float) -> np.ndarray:
    """Per track (K, W), the probability that it sounds given all its windows: a two-state
    (silent, sounding) hidden Markov chain that changes state with probability `switch`
    per hop, each window's probability read as evidence (its odds to the power `weight`:
    overlapping windows share their frames); forward-backward. NaN (absent) windows add no
    evidence and stay NaN; switch 0.5 leaves every window on its own."""
    out = np.full(probs.shape, np.nan)
    stay = np.array([[1 - switch, switch], [switch, 1 - switch]])
    for k, row in enumerate(probs):
        ok = np.isfinite(row)
        if not ok.any():
            continue
        p = np.clip(np.where(ok, row, 0.5), EVIDENCE_FLOOR, 1 - EVIDENCE_FLOOR)
        evidence = np.stack([(1 - p) ** weight, p ** weight], axis=1)
        forward = np.zeros_like(evidence)
        belief = np.array([0.5, 0.5])
        for w in range(len(p)):
            belief = (belief @ stay if w else belief) * evidence[w]
            forward[w] = belief = belief / belief.sum()
        backward = np.ones(2)
        for w in range(len(p) - 1, -1, -1):
            post = forward[w] * backward
            out[k, w] = post[1] / post.sum()
            backward = stay @ (evidence[w] * backward)
            backward = backward / backward.sum()
        out[k, ~ok] = np.nan
    return out


def summarize(probs: np.ndarray, tracks: Sequence[SourceTrack], confident: float) -> dict:
    """The report's view: mean margin of the likeliest track over the next (a lone track:
    over 0.5, doubled), the share of windows with a track at >= `confident`, per track
    its mean probability."""
    margins, sure = [], []
    for col in probs.T:
        p = np.sort(col[np.isfinite(col)])[::-1]
        if not p.size:
            continue
        margins.append(p[0] - p[1] if p.size > 1 else abs(2 * p[0] - 1))
        sure.append(p[0] >= confident)
    return {
        "confidence": round(float(np.mean(margins)), 4) if margins else None,
        "confident_fraction": round(float(np.mean(sure)), 4) if sure else None,
        "windows": len(margins),
        "tracks": {str(t.source_id): (round(float(np.nanmean(row)), 4)
                                      if np.isfinite(row).any() else None)
                   for t, row in zip(tracks, probs)},
    }


def track_series(path: str | Path, tracks: Sequence[SourceTrack], display_size: tuple[int, int],
                 fps: float, duration_s: float, sample_rate: int, cfg: AssociateConfig,
                 activity: ActivityModel | None):
    """Motion (box, part) and audio (envelope, activity) series of a video's tracks."""
    n = max(1, int(np.ceil(duration_s * fps)))
    box, part = track_motion(iter_grey_frames(path, fps, cfg.width), tracks, display_size,
                             fps, n)
    envelope, probs = audio_envelope(iter_audio(path, sample_rate, cfg.chunk_s), sample_rate,
                                     fps, n, [t.source_class for t in tracks], activity)
    return box, part, envelope, probs


def associate_tracks(tracks: Sequence[SourceTrack], box: np.ndarray, part: np.ndarray,
                     envelope: np.ndarray, activity: np.ndarray, fps: float,
                     model: AssociationModel, cfg: AssociateConfig
                     ) -> tuple[list[SourceTrack], dict]:
    """Tracks with `sounding` (the probability at each of their times) and the summary."""
    features, index = window_features(box, part, envelope, activity, fps, cfg)
    centres, probs = window_probabilities(model, features, index, len(tracks))
    probs = decode(probs, cfg.switch_prob, cfg.evidence_weight)
    out = []
    for k, tr in enumerate(tracks):
        ok = np.isfinite(probs[k])
        if not ok.any():
            out.append(replace(tr, sounding=np.full(len(tr.times_s), 0.5)))
            continue
        out.append(replace(tr, sounding=np.interp(tr.times_s, centres[ok] / fps, probs[k, ok])))
    return out, summarize(probs, tracks, cfg.confident)


def associate_video(path: str | Path, tracks: Sequence[SourceTrack],
                    display_size: tuple[int, int], video_fps: float, duration_s: float,
                    sample_rate: int, cfg: AssociateConfig, model: AssociationModel,
                    activity: ActivityModel | None = None) -> tuple[list[SourceTrack], dict]:
    """The second pass over the video (module docstring); the summary has its seconds."""
    start = time.perf_counter()
    if not tracks:
        return list(tracks), {"windows": 0, "tracks": {}, "confidence": None,
                              "confident_fraction": None, "seconds": 0.0}
    fps = min(cfg.fps, video_fps) if video_fps > 0 else cfg.fps
    series = track_series(path, tracks, display_size, fps, duration_s, sample_rate, cfg,
                          activity)
    out, summary = associate_tracks(tracks, *series, fps, model, cfg)
    return out, summary | {"fps": round(fps, 3),
                           "seconds": round(time.perf_counter() - start, 3)}
