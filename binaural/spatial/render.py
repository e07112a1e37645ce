"""DSP rendering: propagation from a source and HRTF convolution along a trajectory.

The same two functions serve the scene synthesizer (dry source -> microphone and ears)
and the DSP renderer (true mono -> ears), so the two agree by construction:

    mono      = sum_k propagate(s_k, r_k(t))
    binaural  = sum_k spatialize(propagate(s_k, r_k(t)), HRIR(dir_k(t)))

The microphone sits at the listener's head, so rendering the mono adds no further
distance gain or delay: it only applies the direction filters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from scipy import fft as sfft

from binaural.constants import MIN_DISTANCE_M, REFERENCE_DISTANCE_M, SPEED_OF_SOUND_M_S
from binaural.spatial.hrtf import HRTFSet

# filter_at(times_s (F,)) -> (F, 2, taps) filters for the blocks centred at those times.
FilterFn = Callable[[np.ndarray], np.ndarray]


def propagate(
    signal: np.ndarray, distance_m: np.ndarray, sample_rate: int
) -> np.ndarray:
    """Free-field propagation over a time-varying distance.

    Applies the delay r/c (fractional, linear interpolation) and the gain
    REFERENCE_DISTANCE_M / r. `distance_m` is given per sample (N,).
    """
    signal = np.asarray(signal, dtype=np.float64)
    r = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    if r.shape != signal.shape:
        raise ValueError(f"distance per sample expected: {r.shape} vs {signal.shape}")
    n = np.arange(signal.shape[0], dtype=np.float64)
    source_time = n - r / SPEED_OF_SOUND_M_S * sample_rate
    delayed = np.interp(source_time, n, signal, left=0.0, right=0.0)
    return (delayed * REFERENCE_DISTANCE_M / r).astype(np.float32)


def direction_filter(
    hrtf: HRTFSet,
    times_s: np.ndarray,
    azimuth_deg: np.ndarray,
    elevation_deg: np.ndarray,
    neighbours: int = 3,
) -> FilterFn:
    """A filter function following one trajectory sampled at `times_s`."""
    times_s = np.asarray(times_s, dtype=np.float64)
    az = np.unwrap(np.radians(np.asarray(azimuth_deg, dtype=np.float64)))
    el = np.asarray(elevation_deg, dtype=np.float64)

    def filter_at(t: np.ndarray) -> np.ndarray:
        a = np.degrees(np.interp(t, times_s, az))
        e = np.interp(t, times_s, el)
        return hrtf.interpolate(a, e, neighbours)

    return filter_at


# weights_at(times (F,)) -> (K, F) non-negative weight of each track at those times
WeightFn = Callable[[np.ndarray], np.ndarray]


def track_parts(
    hrtf: HRTFSet,
    tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    t: np.ndarray,
    neighbours: int = 3,
    weights_at: WeightFn | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """mixture_filter's pieces at times `t` (F,): each track's energy share (track_shares)
    and its direction filters (F, 2, taps) per track."""
    per_track = []
    for times, az, el, _ in tracks:
        a = np.degrees(np.interp(t, times, np.unwrap(np.radians(az))))
        per_track.append(hrtf.interpolate(a, np.interp(t, times, el), neighbours))
    return track_shares(tracks, t, weights_at), per_track


def track_shares(
    tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    t: np.ndarray,
    weights_at: WeightFn | None = None,
) -> np.ndarray:
    """Each track's expected energy share at times `t` (K, F): its 1/r^2 where present
    times its weight (not normalised)."""
    shares = np.zeros((len(tracks), len(t)))
    for k, (times, _, _, dist) in enumerate(tracks):
        inside = (t >= times[0]) & (t <= times[-1])
        shares[k] = np.where(inside, 1.0 / np.maximum(np.interp(t, times, dist), 0.1) ** 2, 0)
    if weights_at is not None and tracks:
        shares *= weights_at(np.asarray(t, dtype=np.float64))
    return shares


class MixtureFilter:
    """Filters that render one mixture from several tracked sources at once (a FilterFn).

    Each track is (times_s, azimuth_deg, elevation_deg, distance_m). At each time the
    mixture is sent to every source present with an energy share proportional to
    1/r^2 (its expected loudness at the microphone), times its weight at that time when
    `weights_at` is given (e.g. the activity gate); the shares sum to one, so the render
    keeps the mono's energy. Where no source is present, or every present one weighs
    zero, the mixture is rendered straight ahead (`front`, (2, taps)). `parts(t)` gives the
    pieces (track_parts), for a renderer that shares them out per frequency.
    """

    def __init__(self, hrtf: HRTFSet,
                 tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 neighbours: int = 3, weights_at: WeightFn | None = None):
        self.hrtf, self.tracks, self.neighbours = hrtf, tracks, neighbours
        self.weights_at = weights_at
        self.front = hrtf.interpolate(np.zeros(1), np.zeros(1), neighbours)[0]

    def parts(self, t: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        return track_parts(self.hrtf, self.tracks, t, self.neighbours, self.weights_at)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        filters = np.zeros((len(t), *self.front.shape), dtype=np.float64)
        shares, per_track = self.parts(t)
        total = shares.sum(axis=0)
        for k, h in enumerate(per_track):
            gain = np.sqrt(np.divide(shares[k], total, out=np.zeros_like(total), where=total > 0))
            filters += gain[:, None, None] * h
        filters[total <= 0] = self.front
        return filters.astype(np.float32)


def mixture_filter(
    hrtf: HRTFSet,
    tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    neighbours: int = 3,
    weights_at: WeightFn | None = None,
) -> MixtureFilter:
    """MixtureFilter over `tracks` (its docstring)."""
    return MixtureFilter(hrtf, tracks, neighbours, weights_at)


class Spatializer:
    """Streaming time-varying convolution: windowed overlap-add over blocks.

    The input is cut into frames of 2*block samples with hop `block`, each weighted by
    a periodic Hann window (the windows sum to one), convolved with the filter of its
    centre time and overlap-added. Successive filters are thereby crossfaded over one
    block. Memory is bounded by the chunk size, not by the signal length.
    """

    channels = 2  # output channels (the filters' second axis): the two ears

    def __init__(self, filter_at: FilterFn, taps: int, sample_rate: int, block: int = 512):
        if block <= 0 or taps <= 0:
            raise ValueError("block and taps must be positive")
        self.filter_at = filter_at
        self.taps = taps
        self.block = block
        self.sample_rate = sample_rate
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * block) / (2 * block)))
        self.nfft = sfft.next_fast_len(2 * block + taps - 1, real=True)
        # Input is conceptually padded with `block` zeros in front.
        self._pending = np.zeros(block, dtype=np.float64)
        self._next_frame = 0  # index k of the next frame; it starts at padded position k*B
        # output from k*B on
        self._acc = np.zeros((self.channels, 2 * block + taps), dtype=np.float64)
        self._consumed = 0  # input samples received
        self._emitted = 0  # output samples returned

    def _spectra(self, spec: np.ndarray, h_spec: np.ndarray) -> np.ndarray:
        """Output spectra (F, 2, bins) of frame spectra (F, bins) and their filters
        (F, 2, bins): the convolution; a subclass may split or reshape the filtering."""
        return spec[:, None, :] * h_spec

    def _filter_spectra(self, times: np.ndarray) -> np.ndarray | None:
        """The filters' spectra (F, 2, bins) at the frames' centre times (F,)."""
        return sfft.rfft(self.filter_at(times), self.nfft, axis=-1)  # filters (F, 2, taps)

    def _run_frames(self, count: int) -> np.ndarray:
        b = self.block
        frames = np.lib.stride_tricks.sliding_window_view(self._pending, 2 * b)[::b][:count]
        times = (self._next_frame + np.arange(count)) * b / self.sample_rate
        spec = sfft.rfft(frames * self.window, self.nfft, axis=-1)
        out_spec = self._spectra(spec, self._filter_spectra(times))
        seg = sfft.irfft(out_spec, self.nfft, axis=-1)[..., : 2 * b + self.taps - 1]
        span = (count - 1) * b + seg.shape[-1]
        out = np.zeros((self.channels, max(span, self._acc.shape[1])))
        out[:, : self._acc.shape[1]] += self._acc
        for i in range(count):  # overlap-add; vectorising this buys little at F ~ 100
            out[:, i * b : i * b + seg.shape[-1]] += seg[i]
        ready = out[:, : count * b]
        self._acc = out[:, count * b :]
        self._pending = self._pending[count * b :]
        self._next_frame += count
        return ready

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Feed mono samples; returns the binaural samples that are final, (2, n)."""
        chunk = np.asarray(chunk, dtype=np.float64).reshape(-1)
        self._pending = np.concatenate([self._pending, chunk])
        self._consumed += chunk.shape[0]
        count = (self._pending.shape[0] - self.block) // self.block
        if count <= 0:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return self._emit(self._run_frames(count))

    def flush(self, tail: bool = False) -> np.ndarray:
        """Finish the stream. Output length equals input length (+ taps - 1 with `tail`)."""
        total = self._consumed + (self.taps - 1 if tail else 0)
        pieces = []
        # Output is final up to original index (next_frame - 1) * block.
        while (self._next_frame - 1) * self.block < total:
            self._pending = np.concatenate([self._pending, np.zeros(self.block)])
            pieces.append(self._run_frames((self._pending.shape[0] - self.block) // self.block))
        ready = np.concatenate(pieces, axis=1) if pieces else np.zeros((self.channels, 0))
        return self._emit(ready, limit=total)

    def _emit(self, ready: np.ndarray, limit: int | None = None) -> np.ndarray:
        # The first `block` padded output samples precede the signal's start.
        skip = max(0, self.block - (self._next_frame * self.block - ready.shape[1]))
        out = ready[:, skip:]
        if limit is not None:
            out = out[:, : max(0, limit - self._emitted)]
        self._emitted += out.shape[1]
        return out.astype(np.float32)


def spatialize(
    signal: np.ndarray,
    filter_at: FilterFn,
    taps: int,
    sample_rate: int,
    block: int = 512,
    tail: bool = False,
) -> np.ndarray:
    """Whole-signal convenience wrapper around Spatializer: (N,) -> (2, N)."""
    sp = Spatializer(filter_at, taps, sample_rate, block)
    return np.concatenate([sp.push(signal), sp.flush(tail=tail)], axis=1)


def spatialize_stream(
    chunks: Iterable[np.ndarray], filter_at: FilterFn, taps: int, sample_rate: int,
    block: int = 512,
) -> Iterator[np.ndarray]:
    """Chunked rendering: yields (2, n) pieces whose total length equals the input's."""
    return drain(Spatializer(filter_at, taps, sample_rate, block), chunks)


def drain(spatializer: Spatializer, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Push every chunk through a (streaming) spatializer (or anything with its push and
    flush, e.g. room_split.RoomSplit), then flush it: the non-empty (2, n) pieces, whose
    total length equals the input's."""
    for chunk in chunks:
        piece = spatializer.push(chunk)
        if piece.shape[1]:
            yield piece
    last = spatializer.flush()
    if last.shape[1]:
        yield last
