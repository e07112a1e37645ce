"""Delivery loudness: ITU-R BS.1770-4 integrated loudness, true peak and a limiter.

    LoudnessMeter:   streaming integrated loudness: pyloudnorm's K-weighting filters run
                     chunk by chunk (filter state kept), mean squares per 100 ms, gating
                     blocks of 400 ms at 100 ms steps, -70 LUFS absolute and -10 LU
                     relative gates (BS.1770-4, eq. 1-7)
    TruePeakMeter:   streaming true peak, 4x oversampled (BS.1770-4 Annex 2)
    master_wav:      two passes over a written WAV in bounded memory: measure, then gain
                     and a look-ahead true-peak limiter into the delivered file

The limiter never clips: per sample the gain needed to keep the 4x-oversampled peak under
the ceiling is taken as a minimum over blocks widened by the look-ahead, held with
instant attack and exponential release at block rate, then smoothed by a Hann kernel
as wide as twice the look-ahead; every kernel tap sees a block whose minimum covers the
sample, so the smoothed gain never exceeds the needed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

from binaural.io.outputs import atomic_path

OVERSAMPLING = 4  # BS.1770-4 Annex 2: true peak from 4x oversampling (at 48 kHz)
SUBBLOCK_S = 0.1  # gating blocks are 4 sub-blocks of 100 ms (75 % overlap)
BLOCK_SUBBLOCKS = 4
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LOUDNESS_OFFSET_DB = -0.691  # BS.1770 eq. 2
RESAMPLE_MARGIN = 16  # input samples beyond which resample_poly's filter has no effect
LIMITER_BLOCK = 32  # samples per gain-hold block of the limiter's release recursion
MAX_GAIN_PASSES = 3  # gain passes when limiting pulls the loudness under the target
# The limiter aims this far under the ceiling: the gain is smooth but not constant between
# samples, and the file is float32, so the written peak may differ by a few 1e-6 dB.
CEILING_MARGIN_DB = 0.01
# A source whose true peak times the gain stays this far under the ceiling cannot reach
# it anywhere: the limiter's per-sample true peaks (4x oversampling, the costliest part)
# are skipped there; its gain is then 1 everywhere, as they would have given.
UNREACHED_MARGIN_DB = 0.1


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


class LoudnessMeter:
    """Integrated loudness (LUFS) of a stream of (C, n) chunks.

    `channel_gains` are the BS.1770 channel weights G_i (1.0 for left and right); a mono
    track presented on both ears of a headphone is measured as one channel of weight 2.
    """

    def __init__(self, sample_rate: int, channel_gains: tuple[float, ...] = (1.0, 1.0)):
        import pyloudnorm  # the K-weighting filters of a well-kept BS.1770 meter

        meter = pyloudnorm.Meter(sample_rate)
        self._stages = [(f.b, f.a) for f in meter._filters.values()]
        self.gains = np.asarray(channel_gains, dtype=np.float64)
        self.sample_rate = sample_rate
        self.sub = int(round(SUBBLOCK_S * sample_rate))
        self._zi = [np.zeros((len(self.gains), max(len(a), len(b)) - 1))
                    for b, a in self._stages]
        self._partial = 0.0  # weighted sum of squares of the unfinished sub-block
        self._partial_n = 0
        self._subblocks: list[float] = []  # weighted sum of squares per finished sub-block

    def add(self, chunk: np.ndarray) -> None:
        x = np.atleast_2d(np.asarray(chunk, dtype=np.float64))
        if x.shape[0] != len(self.gains):
            raise ValueError(f"{x.shape[0]} channels for a meter of {len(self.gains)}")
        for i, (b, a) in enumerate(self._stages):
            x, self._zi[i] = lfilter(b, a, x, axis=-1, zi=self._zi[i])
        power = self.gains @ (x * x)  # (n,) channel-weighted squares
        start = 0
        if self._partial_n:
            take = min(self.sub - self._partial_n, power.size)
            self._partial += float(power[:take].sum())
            self._partial_n += take
            start = take
            if self._partial_n == self.sub:
                self._subblocks.append(self._partial)
                self._partial, self._partial_n = 0.0, 0
        whole = (power.size - start) // self.sub
        if whole:
            blocks = power[start:start + whole * self.sub].reshape(whole, self.sub).sum(axis=1)
            self._subblocks.extend(blocks.tolist())
        rest = power[start + whole * self.sub:]
        if rest.size:
            self._partial += float(rest.sum())
            self._partial_n += rest.size

    def integrated(self) -> float:
        """Gated integrated loudness so far (LUFS); -inf for silence or < 400 ms."""
        sub = np.asarray(self._subblocks)
        if sub.size < BLOCK_SUBBLOCKS:
            return -math.inf
        z = np.lib.stride_tricks.sliding_window_view(sub, BLOCK_SUBBLOCKS).sum(axis=1)
        z /= BLOCK_SUBBLOCKS * self.sub  # mean square per 400 ms block
        with np.errstate(divide="ignore"):
            level = LOUDNESS_OFFSET_DB + 10 * np.log10(z)
        gated = z[level >= ABSOLUTE_GATE_LUFS]
        if not gated.size:
            return -math.inf
        relative = LOUDNESS_OFFSET_DB + 10 * math.log10(gated.mean()) + RELATIVE_GATE_LU
        kept = z[(level >= ABSOLUTE_GATE_LUFS) & (level > relative)]
        return LOUDNESS_OFFSET_DB + 10 * math.log10(kept.mean())


def oversampled_peaks(x: np.ndarray) -> np.ndarray:
    """Per input sample k, the largest |value| of the 4x-oversampled signal over [k, k+1)
    and across channels: (C, n) -> (n,)."""
    up = resample_poly(np.atleast_2d(x), OVERSAMPLING, 1, axis=-1)
    return np.abs(up).reshape(up.shape[0], -1, OVERSAMPLING).max(axis=(0, 2))


class TruePeakMeter:
    """The true peak (linear) of a stream of (C, n) chunks; equals oversampled_peaks of
    the whole signal (each sample is judged with RESAMPLE_MARGIN samples either side)."""

    def __init__(self):
        self._tail: np.ndarray | None = None
        self.peak = 0.0

    def add(self, chunk: np.ndarray) -> None:
        x = np.atleast_2d(np.asarray(chunk, dtype=np.float64))
        m = RESAMPLE_MARGIN
        if self._tail is None:
            self._tail = np.zeros((x.shape[0], 2 * m))
        buf = np.concatenate([self._tail, x], axis=1)
        if buf.shape[1] >= 3 * m:
            self.peak = max(self.peak, float(oversampled_peaks(buf)[m:buf.shape[1] - m].max()))
            self._tail = buf[:, -2 * m:]
        else:
            self._tail = buf

    def finish(self) -> float:
        if self._tail is not None:
            m = RESAMPLE_MARGIN
            buf = np.concatenate([self._tail, np.zeros((self._tail.shape[0], m))], axis=1)
            self.peak = max(self.peak, float(oversampled_peaks(buf)[m:].max()))
            self._tail = None
        return self.peak


def measure_wav(path: str | Path, chunk_frames: int,
                channel_gains: tuple[float, ...] | None = None) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP) of a WAV, read in chunks;
    `channel_gains`: BS.1770 channel weights (default 1 each)."""
    with sf.SoundFile(str(path)) as f:
        meter = LoudnessMeter(f.samplerate, channel_gains or (1.0,) * f.channels)
        peak = TruePeakMeter()
        for block in f.blocks(blocksize=chunk_frames, dtype="float64", always_2d=True):
            meter.add(block.T)
            peak.add(block.T)
    return meter.integrated(), gain_to_db(peak.finish())


@dataclass(frozen=True)
class Limiter:
    """Look-ahead true-peak limiter settings (module docstring)."""

    ceiling_dbtp: float = -1.0
    lookahead_ms: float = 2.5
    release_ms: float = 80.0


def limit_wav(src: str | Path, dest: str | Path, gain: float, limiter: Limiter,
              chunk_frames: int, channel_gains: tuple[float, ...] | None = None,
              src_true_peak: float | None = None) -> tuple[float, float, float]:
    """Write gain * src, limited (all channels linked), to dest; returns (loudness LUFS
    with `channel_gains` as BS.1770 weights (default 1 each), true peak dBTP, largest
    gain reduction dB) of what was written. `src_true_peak` (linear, as measure_wav
    gives it), when known, lets a source that stays well under the ceiling skip the
    per-sample true peaks (UNREACHED_MARGIN_DB): the same output, bit for bit."""
    ceiling = db_to_gain(limiter.ceiling_dbtp - CEILING_MARGIN_DB)
    unreached = (src_true_peak is not None
                 and src_true_peak * gain <= ceiling * db_to_gain(-UNREACHED_MARGIN_DB))
    with sf.SoundFile(str(src)) as f:
        sr, channels, total = f.samplerate, f.channels, f.frames
        bsz = LIMITER_BLOCK
        half = max(1, int(round(limiter.lookahead_ms * 1e-3 * sr)))  # A
        kernel = np.hanning(2 * half + 3)[1:-1]
        kernel /= kernel.sum()
        alpha = math.exp(-bsz / max(1e-6, limiter.release_ms * 1e-3 * sr))
        chunk_frames = max(bsz, chunk_frames // bsz * bsz)
        reach = half + bsz + half + 1 + RESAMPLE_MARGIN  # input needed beyond a chunk
        meter = LoudnessMeter(sr, channel_gains or (1.0,) * channels)
        peak_meter = TruePeakMeter()
        r_prev, deepest = 1.0, 1.0
        with atomic_path(dest) as tmp, sf.SoundFile(str(tmp), "w", sr, channels,
                                                    subtype="FLOAT", format="WAV") as out:
            for a in range(0, total, chunk_frames):
                b = min(total, a + chunk_frames)
                lo, hi = a - reach, b + reach
                f.seek(max(0, lo))
                x = f.read(min(total, hi) - max(0, lo), dtype="float64", always_2d=True).T
                x = np.pad(x, ((0, 0), (max(0, lo) - lo, hi - min(total, hi)))) * gain
                if unreached:  # every true peak under the ceiling: no reduction needed
                    need = np.ones(x.shape[1])
                else:  # true peaks over [k, k+1); a peak is near k when in [k-1, k+1)
                    tp = oversampled_peaks(x)
                    need = np.minimum(1.0, ceiling / np.maximum(np.maximum(tp, np.roll(tp, 1)),
                                                                1e-12))
                # blocks covering [a - A, b + A); block j spans [jB, (j+1)B)
                first, last = (a - half) // bsz, (b + half - 1) // bsz
                starts = np.arange(first, last + 1) * bsz - half - lo  # window starts in x
                width = bsz + 2 * half
                win = np.lib.stride_tricks.sliding_window_view(need, width)
                block_min = win[starts].min(axis=1)
                r = np.empty_like(block_min)
                level = r_prev  # the release state just before block `first`
                for j, m in enumerate(block_min):
                    level = m if m < level else level + (1 - alpha) * (m - level)
                    r[j] = level
                held = np.repeat(r, bsz)[(a - half) - first * bsz:][: b - a + 2 * half]
                g = np.convolve(held, kernel, mode="valid")  # (b - a,)
                y = x[:, a - lo:b - lo] * g
                # the next chunk starts its recursion at block (b - A) // B
                r_prev = float(r[(b - half) // bsz - 1 - first])
                deepest = min(deepest, float(g.min()))
                out.write(y.astype(np.float32).T)
                meter.add(y)
                peak_meter.add(y.astype(np.float32))
    return meter.integrated(), gain_to_db(peak_meter.finish()), abs(gain_to_db(deepest))


def master_wav(src: str | Path, dest: str | Path, target_lufs: float | None,
               limiter: Limiter, chunk_frames: int,
               channel_gains: tuple[float, ...] | None = None) -> dict:
    """Deliver `src` at `target_lufs` under the true-peak ceiling into `dest` (None or
    a silent input: the level is kept, only the ceiling enforced).

    Pass 1 measures the integrated loudness; pass 2 applies the gain and the limiter.
    When limiting pulls the result more than 0.3 LU under the target, the gain pass is
    repeated with the shortfall added (at most MAX_GAIN_PASSES passes); a target the
    ceiling makes unreachable is reported, not forced. Memory: a few chunks.
    `channel_gains`: the BS.1770 weights the loudness is measured with (default 1 each;
    e.g. ambisonics by W alone).
    """
    before, before_peak = measure_wav(src, chunk_frames, channel_gains)
    keep_level = (target_lufs is None or not math.isfinite(target_lufs)
                  or not math.isfinite(before))
    if keep_level:
        target_lufs = before
    gain_db = 0.0 if keep_level else target_lufs - before
    passes = 0
    while passes < MAX_GAIN_PASSES:
        passes += 1
        after, peak, reduction = limit_wav(src, dest, db_to_gain(gain_db), limiter,
                                           chunk_frames, channel_gains,
                                           db_to_gain(before_peak))
        shortfall = target_lufs - after
        if keep_level or not math.isfinite(after) or abs(shortfall) <= 0.3 or reduction <= 0:
            break
        gain_db += shortfall
    return {"rendered_lufs": _round(before), "rendered_true_peak_dbtp": _round(before_peak),
            "target_lufs": _round(target_lufs), "gain_db": _round(gain_db),
            "output_lufs": _round(after), "output_true_peak_dbtp": _round(peak),
            "ceiling_dbtp": limiter.ceiling_dbtp,
            "limiter_max_reduction_db": _round(reduction), "gain_passes": passes}


def _round(x: float) -> float | None:
    return round(float(x), 3) if math.isfinite(x) else None
