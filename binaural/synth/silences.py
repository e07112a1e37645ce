"""When a source sounds: scheduled silence gaps and the sounding intervals of a signal.

A source may fall silent for a while (a gap in its dry signal, with short fades outside
the gap so the gap itself is exact silence). What the truth calls sounding is read off
the dry signal afterwards: frames above a floor relative to its loudest frame, with
pauses shorter than MIN_PAUSE_S bridged (a breath between words still counts as
speaking) and blips shorter than MIN_ACTIVE_S dropped. So `sounding: false` always
means near-zero dry energy at the source, and a scheduled gap is always marked silent.
"""

from __future__ import annotations

import numpy as np

Interval = tuple[float, float]

FRAME_S = 0.02  # analysis frame for the sounding intervals
FLOOR_DB = -40.0  # a frame sounds above this, relative to the loudest frame
MIN_PAUSE_S = 0.3  # shorter pauses are bridged (shorter than any scheduled gap)
MIN_ACTIVE_S = 0.06  # shorter bursts are dropped
GAP_FADE_S = 0.02  # fade out before / in after a gap
MIN_GAP_S = 2 * MIN_PAUSE_S  # scheduled gaps are never bridged


def draw_gaps(
    rng: np.random.Generator, duration_s: float, probability: float,
    gap_s: tuple[float, float], max_gaps: int,
) -> tuple[Interval, ...]:
    """With `probability`, 1..max_gaps silent intervals (merged where they overlap), each
    at least MIN_GAP_S and at most half the scene (none in scenes too short for one)."""
    if max_gaps < 1 or duration_s < 2 * MIN_GAP_S or rng.random() >= probability:
        return ()
    gaps = []
    for _ in range(int(rng.integers(1, max_gaps + 1))):
        length = min(max(float(rng.uniform(*gap_s)), MIN_GAP_S), duration_s / 2)
        start = float(rng.uniform(0.0, duration_s - length))
        gaps.append((start, start + length))
    merged: list[list[float]] = []
    for start, end in sorted(gaps):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((round(a, 3), round(b, 3)) for a, b in merged)


def gate(n: int, sample_rate: int, gaps: tuple[Interval, ...]) -> np.ndarray:
    """Gain (N,): 0 inside each gap, 1 elsewhere, raised-cosine fades just outside."""
    t = np.arange(n) / sample_rate
    gain = np.ones(n)
    for start, end in gaps:
        before = np.clip((start - t) / GAP_FADE_S, 0.0, 1.0)
        after = np.clip((t - end) / GAP_FADE_S, 0.0, 1.0)
        ramp = np.maximum(before, after)  # 0 inside the gap, 1 a fade away from it
        gain *= 0.5 - 0.5 * np.cos(np.pi * ramp)
    return gain


def sounding_intervals(signal: np.ndarray, sample_rate: int) -> list[list[float]]:
    """[[t0, t1], ...] where `signal` sounds (module docstring), in seconds."""
    frame = max(1, int(round(FRAME_S * sample_rate)))
    count = int(np.ceil(len(signal) / frame))
    padded = np.zeros(count * frame)
    padded[: len(signal)] = signal
    energy = np.mean(padded.reshape(count, frame) ** 2, axis=1)
    if not energy.size or energy.max() <= 0:
        return []
    active = energy > energy.max() * 10 ** (FLOOR_DB / 10)
    runs = _runs(active)
    bridged = np.zeros_like(active)
    for start, end in runs:
        bridged[start:end] = True
    for (_, end), (start, _) in zip(runs, runs[1:]):  # bridge short pauses between runs
        if (start - end) * frame / sample_rate < MIN_PAUSE_S:
            bridged[end:start] = True
    duration = len(signal) / sample_rate
    return [[round(float(start * frame / sample_rate), 3),
             round(float(min(end * frame / sample_rate, duration)), 3)]
            for start, end in _runs(bridged)
            if (end - start) * frame / sample_rate >= MIN_ACTIVE_S]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs of a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def is_sounding(intervals: list[list[float]], times_s: np.ndarray) -> np.ndarray:
    """Boolean per time: inside one of the intervals (start inclusive, end exclusive)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    inside = np.zeros(times_s.shape, dtype=bool)
    for start, end in intervals:
        inside |= (times_s >= start) & (times_s < end)
    return inside
