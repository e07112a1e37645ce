"""Which visible classes sound: a small audio-class activity model over log-mel frames.

    logmel_frames:   log-mel power (dB) per frame of a mono, (T, M)
    frame_features:  per frame, context statistics of the log-mel (level-invariant)
    ActivityModel:   a one-hidden-layer MLP (numpy inference) giving per frame and class
                     the probability that the class sounds; saved as a small .npz
    LogmelStream:    log-mel frames of a stream with their context (the trackers' input)
    ActivityTracker: the same, streaming: chunks in, probabilities at any time seen so far

Trained on the synthesizer's training scenes (scripts/train_activity.py), labels from the
truth's sounding intervals. Pure numpy; sklearn only in the training script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

FRAME_HOP_S = 0.02
FRAME_WIN_S = 0.04
N_MELS = 40
MEL_RANGE_HZ = (60.0, 12000.0)
CONTEXT_FRAMES = 25  # statistics over +-CONTEXT_FRAMES / 2 frames (0.5 s)
LEVEL_FLOOR_DB = -100.0
HISTORY_FRAMES = 2 * CONTEXT_FRAMES  # log-mel frames kept across chunks


def hz_to_mel(f) -> np.ndarray:
    """Mel (O'Shaughnessy's formula) of frequencies in Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m) -> np.ndarray:
    """Hz of mel values (hz_to_mel's inverse)."""
    return 700.0 * (10 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_edges_hz() -> np.ndarray:
    """The N_MELS + 2 edges (Hz) of the triangular filters over MEL_RANGE_HZ: filter m rises
    from edge m, peaks at edge m + 1 (its centre) and falls to edge m + 2."""
    return mel_to_hz(np.linspace(hz_to_mel(MEL_RANGE_HZ[0]), hz_to_mel(MEL_RANGE_HZ[1]),
                                 N_MELS + 2))


def _mel_matrix(sample_rate: int, n_fft: int) -> np.ndarray:
    """Triangular mel filters (M, F) over MEL_RANGE_HZ."""
    edges = mel_edges_hz()
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.clip(np.minimum(up, down), 0.0, None)


def logmel_frames(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel power (dB) of frames every FRAME_HOP_S (window FRAME_WIN_S), (T, N_MELS);
    frame i covers samples [i hop, i hop + win)."""
    hop = int(round(FRAME_HOP_S * sample_rate))
    win = int(round(FRAME_WIN_S * sample_rate))
    signal = np.asarray(signal, dtype=np.float64).reshape(-1)
    if signal.size < win:
        return np.zeros((0, N_MELS))
    frames = np.lib.stride_tricks.sliding_window_view(signal, win)[::hop]
    window = np.hanning(win)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = power @ _mel_matrix(sample_rate, win).T
    return np.maximum(10 * np.log10(mel + 1e-20), LEVEL_FLOOR_DB)


def frame_features(logmel: np.ndarray, ref_db: float | None = None) -> np.ndarray:
    """Per frame (T, 3 M + 2): the context mean of the spectral shape (log-mel minus the
    loudest frame level `ref_db`, by default the clip's), its context standard deviation,
    the context mean of the frame-to-frame change, and the frame level and its context
    range re the loudest."""
    if logmel.shape[0] == 0:
        return np.zeros((0, 3 * N_MELS + 2))
    level = logmel.max(axis=1)
    ref = level.max() if ref_db is None else ref_db
    shape = logmel - ref
    mean = uniform_filter1d(shape, CONTEXT_FRAMES, axis=0, mode="nearest")
    sq = uniform_filter1d(shape ** 2, CONTEXT_FRAMES, axis=0, mode="nearest")
    std = np.sqrt(np.maximum(sq - mean ** 2, 0.0))
    delta = np.abs(np.diff(logmel, axis=0, prepend=logmel[:1]))
    flux = uniform_filter1d(delta, CONTEXT_FRAMES, axis=0, mode="nearest")
    rel = level - ref
    spread = uniform_filter1d((rel - uniform_filter1d(rel, CONTEXT_FRAMES, mode="nearest")) ** 2,
                              CONTEXT_FRAMES, mode="nearest")
    spread = np.sqrt(np.maximum(spread, 0.0))
    return np.concatenate([mean, std, flux, rel[:, None], spread[:, None]], axis=1)


def mlp_probability(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
                    b2: np.ndarray) -> np.ndarray:
    """The small models' forward pass: standardised x -> ReLU hidden layer -> sigmoid."""
    hidden = np.maximum(x @ w1 + b1, 0.0)
    return 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)))


@dataclass(frozen=True)
class ActivityModel:
    """MLP: standardised features -> ReLU hidden layer -> per-class sigmoid.

    Attributes:
        classes: The sound-source classes (output order).
        mean, scale: Feature standardisation, (D,).
        w1, b1, w2, b2: Layers, (D, H), (H,), (H, C), (C,).
    """

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (T, C) that each class sounds, from frame_features (T, D)."""
        return mlp_probability((features - self.mean) / self.scale,
                               self.w1, self.b1, self.w2, self.b2)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, classes=np.array(self.classes), mean=self.mean,
                            scale=self.scale, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2,
                            frame_hop_s=FRAME_HOP_S, n_mels=N_MELS)

    @classmethod
    def load(cls, path: str | Path) -> ActivityModel:
        with np.load(path, allow_pickle=False) as data:
            if int(data["n_mels"]) != N_MELS or float(data["frame_hop_s"]) != FRAME_HOP_S:
                raise ValueError(f"{path}: activity model made for other features")
            return cls(tuple(str(c) for c in data["classes"]), data["mean"], data["scale"],
                       data["w1"], data["b1"], data["w2"], data["b2"])


def activity_labels(truth: dict, times_s: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(T, C) 1 where a truth source of the class sounds at the frame time, else 0."""
    labels = np.zeros((len(times_s), len(classes)))
    for source in truth["sources"]:
        if source["class"] not in classes:
            continue
        c = list(classes).index(source["class"])
        intervals = source.get("sounding")
        if intervals is None:
            intervals = [] if source.get("silent") else [[0.0, float("inf")]]
        for t0, t1 in intervals:
            labels[(times_s >= t0) & (times_s <= t1), c] = 1.0
    return labels


def frame_times(n_frames: int, sample_rate: int) -> np.ndarray:
    """Centre times (s) of logmel_frames' frames."""
    hop = int(round(FRAME_HOP_S * sample_rate))
    win = int(round(FRAME_WIN_S * sample_rate))
    return (np.arange(n_frames) * hop + win / 2) / sample_rate


class LogmelStream:
    """Log-mel frames of a stream, chunk by chunk: the samples short of a frame wait for the
    next chunk, the last HISTORY_FRAMES frames are kept as context, and `peak` is the
    loudest frame level seen so far (the features' level reference)."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._hop = int(round(FRAME_HOP_S * sample_rate))
        self._tail = np.zeros(0)
        self._frames = np.zeros((0, N_MELS))
        self._first = 0  # index of _frames[0] among all frames
        self.peak = LEVEL_FLOOR_DB

    def add(self, chunk: np.ndarray) -> tuple[np.ndarray, int, int] | None:
        """(the kept context and the chunk's new frames (T, M), the index of the first of
        them among all frames, how many are new); None when the chunk completes none."""
        data = np.concatenate([self._tail, np.asarray(chunk, dtype=np.float64).reshape(-1)])
        new = logmel_frames(data, self.sample_rate)
        self._tail = data[new.shape[0] * self._hop:] if new.shape[0] else data
        if not new.shape[0]:
            return None
        self.peak = max(self.peak, float(new.max()))
        frames, first = np.concatenate([self._frames, new]), self._first
        keep = frames[-HISTORY_FRAMES:]
        self._first += frames.shape[0] - keep.shape[0]
        self._frames = keep
        return frames, first, new.shape[0]


class ActivityTracker:
    """Streaming class activity: log-mel frames accumulate chunk by chunk (the last
    HISTORY_FRAMES kept for context), probabilities are smoothed over `smoothing_s`.

    `at(times)` answers for times up to the end of what was fed; earlier than the kept
    history it returns the oldest kept value. The loudest-frame reference of the features
    is the loudest frame seen so far.
    """

    def __init__(self, model: ActivityModel, sample_rate: int, smoothing_s: float = 0.3):
        self.model, self.sample_rate = model, sample_rate
        self._hop = int(round(FRAME_HOP_S * sample_rate))
        self._win = int(round(FRAME_WIN_S * sample_rate))
        self._smooth = max(1, int(round(smoothing_s / FRAME_HOP_S)))
        self._stream = LogmelStream(sample_rate)
        self._probs = np.zeros((0, len(model.classes)))
        self._probs_first = 0
        self.new_probs = np.zeros((0, len(model.classes)))

    def update(self, chunk: np.ndarray) -> None:
        step = self._stream.add(chunk)
        if step is None:
            self.new_probs = np.zeros((0, len(self.model.classes)))
            return
        frames, first, added = step
        probs = self.model.predict(frame_features(frames, self._stream.peak))
        self._probs = uniform_filter1d(probs, self._smooth, axis=0, mode="nearest")
        self._probs_first = first  # probabilities cover the context and the chunk
        self.new_probs = self._probs[-added:]  # those of the frames just added

    def at(self, times_s: np.ndarray) -> np.ndarray:
        """Probabilities (len(times_s), C) at the given times (0.5 before any audio)."""
        times_s = np.asarray(times_s, dtype=np.float64)
        if not self._probs.shape[0]:
            return np.full((times_s.size, len(self.model.classes)), 0.5)
        centres = (np.arange(self._probs.shape[0]) + self._probs_first) * self._hop
        centres = (centres + self._win / 2) / self.sample_rate
        return np.stack([np.interp(times_s, centres, p) for p in self._probs.T], axis=1)
