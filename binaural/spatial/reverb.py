"""Blind reverberation analysis of a mono: T60 from free decays, late-reverberation PSD.

    T60Tracker:        streaming T60 estimate from the subband energy decay of free decays
                       (where a sound stops, the room's tail decays at 60 dB per T60)
    LateReverbTracker: per STFT frame, the late-reverberation spectral variance (Lebart et
                       al. 2001: the smoothed signal PSD T_e earlier, attenuated by
                       exp(-2 delta T_e), delta = 3 ln 10 / T60) plus a stationary diffuse
                       floor (minimum statistics), as a direct/early fraction per bin

Both trackers hold bounded state (a few seconds of frames at most), so a long video is
analysed chunk by chunk. Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from binaural.constants import DECAY_DB

ENVELOPE_HOP_S = 0.01  # the T60 analysis' frame hop (window: two hops, Hann)
DECAY_BANDS_HZ: tuple[float, ...] = (500.0, 1000.0, 2000.0, 4000.0)  # octave centres
ENVELOPE_HISTORY_S = 2.0  # frames kept across chunks (a decay can span a chunk edge)
MAX_DECAYS = 400  # the most recent free decays kept per tracker


# ---------------------------------------------------------------- T60 from free decays


@dataclass(frozen=True)
class DecaySettings:
    """What counts as a free decay in a subband's energy envelope (dB per 10 ms frame).

    A decay is a run of frames whose (3-frame smoothed) level never rises by more than
    `rise_tol_db`, at least `min_length_s` long and falling at least `min_drop_db` before
    it comes within `floor_margin_db` of the band's noise floor (its 10th-percentile level).
    Its first `skip_s` are left out, and the line is fitted to its last `fit_db` above its
    end (the tail, not the direct sound's offset).
    """

    min_length_s: float = 0.08
    min_drop_db: float = 10.0
    rise_tol_db: float = 0.5
    floor_margin_db: float = 6.0
    skip_s: float = 0.02
    fit_db: float = 15.0


def band_envelopes_db(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Level (dB) per octave band of DECAY_BANDS_HZ and frame of ENVELOPE_HOP_S, (B, T)."""
    hop = int(round(ENVELOPE_HOP_S * sample_rate))
    win = 2 * hop
    signal = np.asarray(signal, dtype=np.float64)
    if signal.size < win:
        return np.zeros((len(DECAY_BANDS_HZ), 0))
    frames = np.lib.stride_tricks.sliding_window_view(signal, win)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(win) + 0.5) / win)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # (T, F)
    freqs = np.fft.rfftfreq(win, 1.0 / sample_rate)
    bands = []
    for centre in DECAY_BANDS_HZ:
        inside = (freqs >= centre / math.sqrt(2)) & (freqs < centre * math.sqrt(2))
        bands.append(power[:, inside].sum(axis=1))
    return 10 * np.log10(np.stack(bands) + 1e-20)


def decay_t60s(levels_db: np.ndarray, settings: DecaySettings, floor_db: float | None = None
               ) -> list[tuple[int, float]]:
    """(end frame, T60 s) of every free decay in one band's level track (T,)."""
    if levels_db.size < 5:
        return []
    level = uniform_filter1d(levels_db, 3, mode="nearest")
    floor = float(np.percentile(level, 10)) if floor_db is None else floor_db
    min_frames = max(3, int(round(settings.min_length_s / ENVELOPE_HOP_S)))
    skip = int(round(settings.skip_s / ENVELOPE_HOP_S))
    falling = np.diff(level) < settings.rise_tol_db  # frame i -> i+1 does not rise
    found, start, n = [], 0, level.size
    while start < n - 1:
        if not falling[start]:
            start += 1
            continue
        end = start
        while end < n - 1 and falling[end]:
            end += 1
        # the run covers frames start..end; stop where the floor is near
        above = np.nonzero(level[start:end + 1] > floor + settings.floor_margin_db)[0]
        stop = start + (int(above[-1]) if above.size else 0)
        # The fit covers the run's last `fit_db` above the floor: the reverberant tail,
        # not the direct sound's offset (a step of the direct-to-reverberant ratio).
        first = start + skip
        tail = np.nonzero(level[first:stop + 1] <= level[stop] + settings.fit_db)[0]
        first = first + int(tail[0]) if tail.size else stop
        if (stop - start + 1 >= min_frames and stop - first + 1 >= min_frames // 2
                and level[start] - level[stop] >= settings.min_drop_db):
            t = np.arange(first, stop + 1) * ENVELOPE_HOP_S
            slope = np.polyfit(t, level[first:stop + 1], 1)[0]  # dB per second
            if slope < 0:
                found.append((stop, DECAY_DB / -slope))
        start = end + 1
    return found


class T60Tracker:
    """Streaming blind T60: free decays collected chunk by chunk, summarised robustly.

    The room's tail bounds every free decay from below (a sound that stops abruptly still
    decays at the room's rate), so the estimate is the `quantile` of the decays' T60s,
    times `scale` (calibrated on training scenes); fewer than `min_decays` decays give 0
    (no evidence of reverberation: the renderer stays anechoic).
    """

    def __init__(self, sample_rate: int, quantile: float = 0.3, scale: float = 1.0,
                 min_decays: int = 3, settings: DecaySettings | None = None):
        self.sample_rate = sample_rate
        self.quantile = quantile
        self.scale = scale
        self.min_decays = min_decays
        self.settings = settings or DecaySettings()
        self._hop = int(round(ENVELOPE_HOP_S * sample_rate))
        self._tail = np.zeros(0)  # samples not yet framed (less than one hop + window)
        self._levels = np.zeros((len(DECAY_BANDS_HZ), 0))  # recent frames (B, T)
        self._analysed = 0  # frames of _levels whose decays are already counted
        self._decays: deque[float] = deque(maxlen=MAX_DECAYS)

    def update(self, chunk: np.ndarray) -> float:
        """Feed mono samples; returns the T60 estimate (s) so far."""
        data = np.concatenate([self._tail, np.asarray(chunk, dtype=np.float64).reshape(-1)])
        new = band_envelopes_db(data, self.sample_rate)
        used = new.shape[1] * self._hop
        self._tail = data[used:] if new.shape[1] else data
        self._levels = np.concatenate([self._levels, new], axis=1)
        # Decays ending in frames already analysed were counted; a run still open at the
        # end may grow, so the last frames are analysed again with the next chunk.
        open_frames = int(round(self.settings.min_length_s / ENVELOPE_HOP_S)) * 4
        for band in self._levels:
            for end, t60 in decay_t60s(band, self.settings):
                if self._analysed <= end < self._levels.shape[1] - open_frames:
                    self._decays.append(t60)
        self._analysed = max(self._analysed, self._levels.shape[1] - open_frames)
        keep = int(ENVELOPE_HISTORY_S / ENVELOPE_HOP_S)
        drop = max(0, self._levels.shape[1] - keep)
        self._levels, self._analysed = self._levels[:, drop:], max(0, self._analysed - drop)
        return self.t60_s

    def finish(self) -> float:
        """Count the decays still open at the end of the stream; returns the estimate."""
        for band in self._levels:
            for end, t60 in decay_t60s(band, self.settings):
                if end >= self._analysed:
                    self._decays.append(t60)
        self._analysed = self._levels.shape[1]
        return self.t60_s

    @property
    def decays(self) -> int:
        return len(self._decays)

    @property
    def t60_s(self) -> float:
        if len(self._decays) < self.min_decays:
            return 0.0
        return self.scale * float(np.quantile(np.fromiter(self._decays, float), self.quantile))


def estimate_t60(signal: np.ndarray, sample_rate: int, **kwargs) -> float:
    """Whole-signal convenience wrapper around T60Tracker (seconds; 0: no reverberation)."""
    tracker = T60Tracker(sample_rate, **kwargs)
    tracker.update(signal)
    return tracker.finish()


# ---------------------------------------------------------------- late reverberation PSD


class LateReverbTracker:
    """Per frame and bin, the fraction of the mono's power that is direct/early.

    Frames arrive in order (hop `hop` samples): P_k = |S_k|^2, smoothed over time
    (time constant `smoothing_s`) and over `freq_smoothing` bins. The diffuse part is

        lambda_k = late_scale exp(-2 delta T_e) Pbar_{k - N_e}    (Lebart; T_e = late_onset)
                 + floor_scale min(Pbar over the last floor_window_s)  (stationary beds)

    and the direct fraction G = clip(1 - lambda_k / Pbar_k, direct_floor, 1). A T60 below
    `min_t60_s` (or 0: unknown) means no late part. Bins from `split_hz` up may take
    another onset (`high_onset_s`): there the early reflections, arriving from elsewhere
    than the source, already scatter the level differences and count as diffuse, while the
    low bins' phase (the direct sound's ITD, which the early reflections keep on average)
    stays direct until the late onset.
    """

    def __init__(self, sample_rate: int, hop: int, late_onset_s: float = 0.05,
                 late_scale: float = 1.0, smoothing_s: float = 0.02, freq_smoothing: int = 5,
                 direct_floor: float = 0.1, min_t60_s: float = 0.12,
                 floor_scale: float = 0.0, floor_window_s: float = 1.5,
                 high_onset_s: float | None = None, split_hz: float = 1500.0):
        self.sample_rate, self.hop = sample_rate, hop
        hop_s = hop / sample_rate
        self.delay_frames = max(1, int(round(late_onset_s / hop_s)))
        high = late_onset_s if high_onset_s is None else high_onset_s
        self.high_delay_frames = max(1, int(round(high / hop_s)))
        self.split_hz = split_hz
        self.late_scale = late_scale
        self.alpha = math.exp(-hop_s / smoothing_s) if smoothing_s > 0 else 0.0
        self.freq_smoothing = freq_smoothing
        self.direct_floor = direct_floor
        self.min_t60_s = min_t60_s
        self.floor_scale = floor_scale
        self.floor_frames = max(1, int(round(floor_window_s / hop_s)))
        self._zi: np.ndarray | None = None
        self._history: np.ndarray | None = None  # (H, F) smoothed PSD of recent frames

    def direct_fraction(self, spectra: np.ndarray, t60_s: float) -> np.ndarray:
        """spectra (K, F) complex of the next K frames -> G (K, F) in [direct_floor, 1]."""
        power = np.abs(spectra) ** 2
        if self.freq_smoothing > 1:
            power = uniform_filter1d(power, self.freq_smoothing, axis=1, mode="nearest")
        if self._zi is None:
            self._zi = power[0] * self.alpha  # start as if the first frame had lasted
        smooth, zf = lfilter([1 - self.alpha], [1, -self.alpha], power, axis=0,
                             zi=self._zi[None, :])
        self._zi = zf[0]
        past = smooth if self._history is None else np.concatenate([self._history, smooth])
        keep = max(self.delay_frames, self.high_delay_frames,
                   self.floor_frames if self.floor_scale > 0 else 0)
        offset = past.shape[0] - smooth.shape[0]  # index in `past` of the first new frame
        diffuse = np.zeros_like(smooth)
        if t60_s >= self.min_t60_s and self.late_scale > 0:
            delta = 3 * math.log(10) / t60_s
            freqs = np.arange(smooth.shape[1]) * self.sample_rate / (2 * (smooth.shape[1] - 1))
            high = freqs >= self.split_hz
            for delay, bins in ((self.delay_frames, ~high), (self.high_delay_frames, high)):
                decay = self.late_scale * math.exp(-2 * delta * delay * self.hop
                                                   / self.sample_rate)
                idx = np.arange(smooth.shape[0]) + offset - delay
                earlier = past[np.clip(idx, 0, None)][:, bins] * (idx >= 0)[:, None]
                diffuse[:, bins] += decay * earlier
        if self.floor_scale > 0:
            windows = np.lib.stride_tricks.sliding_window_view(
                np.concatenate([np.repeat(past[:1], self.floor_frames - 1, 0), past]),
                self.floor_frames, axis=0)  # (len(past), F, W)
            diffuse += self.floor_scale * windows[offset:].min(axis=-1)
        self._history = past[-keep:]
        late = np.divide(diffuse, smooth, out=np.zeros_like(smooth), where=smooth > 0)
        return np.clip(1.0 - late, self.direct_floor, 1.0)
