"""The input track's level over time: where the direction of a sound can be judged.

The direction metrics judge each window against the loudest one of its chunk, so a
track of hiss or digital silence would still get a direction figure. This meter keeps
the absolute level (dBFS RMS) of the mono input in fixed windows, streamed chunk by
chunk: a track that never rises above the threshold is silent, and only windows above
it count towards the share of the clip over which the direction could be judged.
"""

from __future__ import annotations

import numpy as np

SILENT_DBFS = -200.0  # the level given to windows of digital silence


class LevelMeter:
    """RMS level in dBFS of consecutive `window_s` windows of a mono stream."""

    def __init__(self, sample_rate: int, window_s: float) -> None:
        self.window = max(1, int(round(window_s * sample_rate)))
        self.sample_rate = sample_rate
        self._rest = np.zeros(0, np.float32)
        self._levels: list[np.ndarray] = []

    def add(self, mono: np.ndarray) -> None:
        x = np.concatenate([self._rest, np.asarray(mono, np.float32).reshape(-1)])
        n = x.shape[0] // self.window
        if n:
            blocks = x[: n * self.window].reshape(n, self.window).astype(np.float64)
            self._levels.append(_dbfs(np.mean(blocks**2, axis=1)))
        self._rest = x[n * self.window:]

    @property
    def levels_dbfs(self) -> np.ndarray:
        """One level per window; a last partial window counts as one."""
        parts = list(self._levels)
        if self._rest.shape[0]:
            parts.append(_dbfs(np.array([np.mean(self._rest.astype(np.float64) ** 2)])))
        return np.concatenate(parts) if parts else np.zeros(0)

    def peak_dbfs(self) -> float:
        levels = self.levels_dbfs
        return float(levels.max()) if levels.size else SILENT_DBFS

    def loud_at(self, times_s: np.ndarray, threshold_dbfs: float) -> np.ndarray:
        """Whether the window holding each time is at or above the threshold."""
        levels = self.levels_dbfs
        if not levels.size:
            return np.zeros(len(times_s), bool)
        index = np.clip((np.asarray(times_s) * self.sample_rate / self.window).astype(int),
                        0, levels.size - 1)
        return levels[index] >= threshold_dbfs

    def loud_fraction(self, threshold_dbfs: float) -> float:
        levels = self.levels_dbfs
        return float(np.mean(levels >= threshold_dbfs)) if levels.size else 0.0


def _dbfs(power: np.ndarray) -> np.ndarray:
    """Mean square -> dB relative to a full-scale square wave's (1.0)."""
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(power), SILENT_DBFS)
