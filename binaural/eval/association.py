"""Scoring against "the sounding source at each time" (real-footage set, turn-taking and
silent distractors; binaural.synth.real_footage makes such truths):

    heard_azimuth:            per time, the azimuth of the one truth source sounding then
                              (NaN where none sounds, or more than one)
    heard_direction_error_deg: median |azimuth heard in an output - heard_azimuth| over
                              the output's valid direction windows
    association_accuracy:     per window (0.5 s), is the localization's most-sounding track
                              the truth's sounding source? (the tracks' per-sample
                              `sounding` probability; n/a without it)

A truth source sounds inside its `sounding` spans ([[t0, t1], ...]; none when silent); one
without that key sounds all along its track. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from binaural.eval.cues import median_direction_error_deg
from binaural.eval.direction import DirectionTrack
from binaural.spatial.box_merge import iou_matrix
from binaural.spatial.tracks import SourceTrack

WINDOW_S = 0.5  # association windows
MAJORITY = 0.5  # a source sounds in a window when it sounds this share of it
SOUNDING_THRESHOLD = 0.5  # a track above this mean probability claims a window
MIN_IOU = 0.3  # a track is a truth source when their boxes overlap this much (mean IoU)


def sounding_mask(source: dict, track: SourceTrack, times_s: np.ndarray) -> np.ndarray:
    """Boolean per time: the source sounds then (inside its spans and its track)."""
    times_s = np.asarray(times_s, np.float64)
    inside = (times_s >= track.times_s[0]) & (times_s <= track.times_s[-1])
    spans = source.get("sounding")
    if spans is None:
        return inside
    on = np.zeros(times_s.shape, dtype=bool)
    for start, end in spans:
        on |= (times_s >= start) & (times_s < end)
    return on & inside


def heard_azimuth(truth: dict, tracks: Sequence[SourceTrack], times_s: np.ndarray
                  ) -> np.ndarray:
    """Azimuth (deg) of the one source sounding at each time; NaN where none or several."""
    times_s = np.asarray(times_s, np.float64)
    count = np.zeros(times_s.shape, dtype=int)
    azimuth = np.full(times_s.shape, np.nan)
    for source, track in zip(truth["sources"], tracks):
        on = sounding_mask(source, track, times_s)
        count += on
        azimuth[on] = np.interp(times_s[on], track.times_s, track.azimuth_deg)
    azimuth[count != 1] = np.nan
    return azimuth


def heard_direction_error_deg(direction: DirectionTrack, truth: dict,
                              tracks: Sequence[SourceTrack]) -> float | None:
    """Median |azimuth heard (ITD) - the sounding source's azimuth| over the valid windows
    where exactly one source sounds; None when no window qualifies."""
    return median_direction_error_deg(direction, heard_azimuth(truth, tracks,
                                                               direction.times_s))


def window_edges(duration_s: float, window_s: float = WINDOW_S) -> np.ndarray:
    """Start times of the whole windows in [0, duration_s] (a last short one dropped)."""
    return np.arange(0.0, duration_s - window_s + 1e-9, window_s)


def truth_per_window(truth: dict, tracks: Sequence[SourceTrack], duration_s: float,
                     window_s: float = WINDOW_S, step_s: float = 0.01) -> list[int | None]:
    """Per window, the index of the truth source sounding most of it (at least MAJORITY of
    it), else None (nobody heard)."""
    out = []
    for start in window_edges(duration_s, window_s):
        t = np.arange(start, start + window_s, step_s)
        shares = [sounding_mask(s, tr, t).mean() for s, tr in zip(truth["sources"], tracks)]
        best = int(np.argmax(shares)) if shares else -1
        out.append(best if best >= 0 and shares[best] >= MAJORITY else None)
    return out


def _box_at(track: SourceTrack, times_s: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(times_s, track.times_s, track.boxes[:, j]) for j in range(4)],
                    axis=1)


def match_truth(track: SourceTrack, times_s: np.ndarray, truth_tracks: Sequence[SourceTrack]
                ) -> int | None:
    """The truth source whose box overlaps the track's most over `times_s` (its own
    samples), if the mean IoU reaches MIN_IOU; else None."""
    boxes = _box_at(track, times_s)
    best, best_iou = None, MIN_IOU
    for k, truth_track in enumerate(truth_tracks):
        covered = (times_s >= truth_track.times_s[0]) & (times_s <= truth_track.times_s[-1])
        if not covered.any():
            continue
        ious = np.diag(iou_matrix(boxes[covered], _box_at(truth_track, times_s[covered])))
        if float(ious.mean()) >= best_iou:
            best, best_iou = k, float(ious.mean())
    return best


def association_accuracy(tracks: Sequence[SourceTrack], truth: dict,
                         truth_tracks: Sequence[SourceTrack], duration_s: float,
                         window_s: float = WINDOW_S) -> dict | None:
    """Share of windows where the localization tells the sounding source right.

    In a window where a truth source sounds, the predicted one is the track with the
    highest mean `sounding` over its samples in the window, matched to a truth source by
    box IoU: right when it is that source. A window with nobody heard is right when no
    track's mean is above SOUNDING_THRESHOLD. None (n/a) when a track carries no
    `sounding` (the localization does not estimate it).

    Returns:
        {"association_accuracy", "association_windows", "sound_windows"} or None.
    """
    if any(getattr(tr, "sounding", None) is None for tr in tracks):
        return None
    heard = truth_per_window(truth, truth_tracks, duration_s, window_s)
    right = 0
    for start, source in zip(window_edges(duration_s, window_s), heard):
        best, best_p, best_times = None, -1.0, None
        for tr in tracks:
            inside = (tr.times_s >= start) & (tr.times_s < start + window_s)
            if not inside.any():
                continue
            p = float(np.mean(np.asarray(tr.sounding, np.float64)[inside]))
            if p > best_p:
                best, best_p, best_times = tr, p, tr.times_s[inside]
        if source is None:
            right += int(best_p <= SOUNDING_THRESHOLD)
        elif best is not None:
            right += int(match_truth(best, best_times, truth_tracks) == source)
    windows = len(heard)
    return {"association_accuracy": right / windows if windows else None,
            "association_windows": windows,
            "sound_windows": sum(s is not None for s in heard)}
