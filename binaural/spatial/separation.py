"""Which visible source each time-frequency cell of the mono belongs to: a small audio
separation model over log-mel frames, used by the renderer to send each cell to its own
source's direction instead of one per-frame blend of every source's filter.

    cell_features:      per log-mel frame, the activity model's context statistics
                        (binaural.spatial.gate.frame_features) and the frame's own log-mel
                        shape with SHAPE_CONTEXT frames either side (level-invariant)
    SeparationModel:    an MLP (numpy inference) giving per frame, class and mel band a
                        dominance logit: within a cell, source k of class c_k takes the share
                        softmax_k(logit[c_k] + log prior_k) of the cell's energy, prior_k its
                        expected share (1/r^2 times its gates)
    SeparationTracker:  the same, streaming (chunks in, logits at any time seen so far)
    bin_interpolation:  mel-band values -> the renderer's STFT bins (linear in mel)
    cell_shares:        the per-cell shares of K tracks from logits and priors

Trained on the generator's training scenes with per-source stems (scripts/train_separation.py:
the target of a cell is each sounding source's share of the stems' energy in it). Two
sources of one class get the same logit, so between them the prior alone decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binaural.spatial.gate import (
    FRAME_HOP_S,
    FRAME_WIN_S,
    N_MELS,
    LogmelStream,
    frame_features,
    hz_to_mel,
    mel_edges_hz,
)

SHAPE_CONTEXT = 2  # the frame's own log-mel with this many frames either side
SHAPE_FLOOR_DB = -80.0  # the shape features' floor below the loudest frame


def cell_features(logmel: np.ndarray, ref_db: float | None = None) -> np.ndarray:
    """Per frame (T, 3 M + 2 + (2 SHAPE_CONTEXT + 1) M): frame_features and the log-mel
    of the frames t - SHAPE_CONTEXT .. t + SHAPE_CONTEXT (edges repeated) relative to the
    loudest frame level `ref_db` (default: the clip's), floored at SHAPE_FLOOR_DB."""
    n = logmel.shape[0]
    width = (2 * SHAPE_CONTEXT + 1) * N_MELS
    if n == 0:
        return np.zeros((0, 3 * N_MELS + 2 + width))
    ref = logmel.max() if ref_db is None else ref_db
    shape = np.maximum(logmel - ref, SHAPE_FLOOR_DB)
    index = np.clip(np.arange(n)[:, None] + np.arange(-SHAPE_CONTEXT, SHAPE_CONTEXT + 1), 0,
                    n - 1)
    return np.concatenate([frame_features(logmel, ref), shape[index].reshape(n, width)], axis=1)


def mel_centres_hz() -> np.ndarray:
    """Centre frequencies (Hz) of the log-mel bands (binaural.spatial.gate's filters)."""
    return mel_edges_hz()[1:-1]


def bin_interpolation(freqs_hz: np.ndarray) -> np.ndarray:
    """(F, M) weights taking per-mel-band values to bins at `freqs_hz`: linear
    interpolation on the mel scale between band centres, the end bands held beyond."""
    position = np.interp(hz_to_mel(freqs_hz), hz_to_mel(mel_centres_hz()), np.arange(N_MELS))
    lower = np.minimum(np.floor(position).astype(int), N_MELS - 2)
    frac = position - lower
    out = np.zeros((len(freqs_hz), N_MELS))
    rows = np.arange(len(freqs_hz))
    out[rows, lower] = 1.0 - frac
    out[rows, lower + 1] = frac
    return out


@dataclass(frozen=True)
class SeparationModel:
    """MLP: standardised cell_features -> two ReLU layers -> (C, M) logits per frame.

    Attributes:
        classes: The sound-source classes (the logits' first axis).
        mean, scale: Feature standardisation, (D,).
        layers: ((W, b), ...) weights (D, H), (H, H), (H, C M) and biases.
    """

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Dominance logits (T, C, M) from cell_features (T, D)."""
        x = (features - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x.reshape(features.shape[0], len(self.classes), N_MELS)

    def save(self, path: str | Path) -> None:
        arrays = {f"w{i}": w for i, (w, _) in enumerate(self.layers)}
        arrays |= {f"b{i}": b for i, (_, b) in enumerate(self.layers)}
        np.savez_compressed(path, classes=np.array(self.classes), mean=self.mean,
                            scale=self.scale, n_layers=len(self.layers),
                            frame_hop_s=FRAME_HOP_S, n_mels=N_MELS,
                            shape_context=SHAPE_CONTEXT, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> SeparationModel:
        with np.load(path, allow_pickle=False) as data:
            if (int(data["n_mels"]) != N_MELS or float(data["frame_hop_s"]) != FRAME_HOP_S
                    or int(data["shape_context"]) != SHAPE_CONTEXT):
                raise ValueError(f"{path}: separation model made for other features")
            layers = tuple((data[f"w{i}"], data[f"b{i}"]) for i in range(int(data["n_layers"])))
            return cls(tuple(str(c) for c in data["classes"]), data["mean"], data["scale"],
                       layers)


def class_logits(logits: np.ndarray, classes: Sequence[str], known: Sequence[str]
                 ) -> np.ndarray:
    """(T, K, M) logits of K tracks of `classes` from the model's (T, C, M) over `known`;
    a class the model does not know takes the mean over the known ones."""
    index = {c: i for i, c in enumerate(known)}
    mean = logits.mean(axis=1)
    return np.stack([logits[:, index[c]] if c in index else mean for c in classes], axis=1)


def cell_shares(logits: np.ndarray, prior: np.ndarray, sharpness: float = 1.0) -> np.ndarray:
    """Per cell the tracks' shares (F, K, B): softmax over k of sharpness * logits (F, K, B)
    + log prior (K, F); a track with prior 0 (absent, gated off) takes none, and a frame
    where every prior is 0 gives all zeros."""
    prior = np.asarray(prior, dtype=np.float64).T[:, :, None]  # (F, K, 1)
    z = np.where(prior > 0, sharpness * logits, -np.inf)
    top = np.max(z, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(z - top) * prior
    total = e.sum(axis=1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def interpolate_frames(frames: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rows of `frames` (T, ...) at fractional frame positions `pos` (P,), linear between
    neighbours, held beyond the first and last: (P, ...) in frames' dtype."""
    count = frames.shape[0]
    pos = np.clip(pos, 0.0, count - 1.0)
    lo = np.minimum(np.floor(pos).astype(int), count - 1)
    hi = np.minimum(lo + 1, count - 1)
    frac = (pos - lo).astype(frames.dtype).reshape(-1, *([1] * (frames.ndim - 1)))
    return (1 - frac) * frames[lo] + frac * frames[hi]


class SeparationTracker:
    """Streaming dominance logits: log-mel frames accumulate chunk by chunk (gate.LogmelStream,
    which keeps the features' context); `at(times)` answers for times up to the end of what
    was fed (earlier than the kept history: the oldest kept frame)."""

    def __init__(self, model: SeparationModel, sample_rate: int):
        self.model, self.sample_rate = model, sample_rate
        self._hop = int(round(FRAME_HOP_S * sample_rate))
        self._win = int(round(FRAME_WIN_S * sample_rate))
        self._stream = LogmelStream(sample_rate)
        self._logits = np.zeros((0, len(model.classes), N_MELS))
        self._logits_first = 0

    def update(self, chunk: np.ndarray) -> None:
        step = self._stream.add(chunk)
        if step is not None:
            frames, self._logits_first, _ = step
            self._logits = self.model.logits(cell_features(frames, self._stream.peak))

    def at(self, times_s: np.ndarray) -> np.ndarray:
        """Logits (len(times_s), C, M) at the given times (0 before any audio)."""
        times_s = np.asarray(times_s, dtype=np.float64)
        count = self._logits.shape[0]
        if not count:
            return np.zeros((times_s.size, len(self.model.classes), N_MELS))
        pos = (times_s * self.sample_rate - self._win / 2) / self._hop - self._logits_first
        return interpolate_frames(self._logits, pos)
