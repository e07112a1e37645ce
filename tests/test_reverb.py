"""Blind reverberation analysis: T60 from free decays, the late-reverberation split."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from binaural.spatial.diffuse import diffuse_coherence
from binaural.spatial.reverb import LateReverbTracker, T60Tracker, estimate_t60

SR = 48000


def _bursts(rng: np.random.Generator, duration_s: float = 4.0) -> np.ndarray:
    """Noise bursts of 0.5 s with silences between them (free decays after each)."""
    src = np.zeros(int(duration_s * SR))
    for start in np.arange(0.2, duration_s - 0.6, 1.3):
        i = int(start * SR)
        src[i:i + SR // 2] = rng.standard_normal(SR // 2)
    return src


def _reverberant(src: np.ndarray, t60_s: float, rng: np.random.Generator,
                 direct: float = 10.0) -> np.ndarray:
    """src through an exponentially decaying noise response (Polack's model) + a direct
    path, with a noise floor 80 dB down."""
    t = np.arange(int(1.5 * t60_s * SR)) / SR
    rir = rng.standard_normal(t.size) * 10 ** (-3 * t / t60_s)
    rir[0] = direct
    out = fftconvolve(src, rir)[: src.size]
    return out + 1e-4 * out.std() * rng.standard_normal(out.size)


@pytest.mark.parametrize("t60_s", [0.25, 0.5, 0.9])
def test_t60_of_an_exponential_decay_reverberation(t60_s: float) -> None:
    rng = np.random.default_rng(1)
    y = _reverberant(_bursts(rng), t60_s, rng)
    estimate = estimate_t60(y, SR, quantile=0.5, scale=1.0)
    assert estimate == pytest.approx(t60_s, rel=0.25)


def test_anechoic_input_has_no_reverberation() -> None:
    rng = np.random.default_rng(2)
    src = _bursts(rng)
    src += 1e-5 * rng.standard_normal(src.size)
    assert estimate_t60(src, SR) < 0.12  # below the renderer's min_t60_s: rendered anechoic


def test_streaming_t60_matches_the_whole_signal() -> None:
    rng = np.random.default_rng(3)
    y = _reverberant(_bursts(rng, 6.0), 0.5, rng)
    whole = estimate_t60(y, SR, quantile=0.5)
    tracker = T60Tracker(SR, quantile=0.5)
    for chunk in np.array_split(y, 7):
        tracker.update(chunk)
    assert tracker.finish() == pytest.approx(whole, rel=0.1)


def _stft(x: np.ndarray, hop: int = 512) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, 2 * hop)[::hop]
    return np.fft.rfft(frames * np.hanning(2 * hop), axis=-1)


def test_late_part_appears_after_the_source_stops_and_not_without_reverberation() -> None:
    rng = np.random.default_rng(4)
    src = _bursts(rng)
    y = _reverberant(src, 0.6, rng)
    spec = _stft(y)
    g = LateReverbTracker(SR, 512).direct_fraction(spec, 0.6)
    frame_s = 512 / SR
    stop = int((0.2 + 0.5) / frame_s)  # first burst ends
    during = g[stop - 20:stop - 5].mean()
    after = g[stop + 8:stop + 20].mean()
    assert during > 0.6 and after < 0.3
    # No T60 (anechoic): everything direct; split into chunks: the same state carried.
    assert np.all(LateReverbTracker(SR, 512).direct_fraction(spec, 0.0) == 1.0)
    tracker = LateReverbTracker(SR, 512)
    parts = [tracker.direct_fraction(s, 0.6) for s in np.array_split(spec, 5)]
    np.testing.assert_allclose(np.concatenate(parts), g, atol=1e-9)


def test_diffuse_coherence_is_one_at_dc_and_low_at_high_frequency() -> None:
    gamma = diffuse_coherence(np.array([0.0, 200.0, 3000.0, 8000.0]))
    assert gamma[0] == pytest.approx(1.0)
    assert gamma[1] > 0.8
    assert np.all(np.abs(gamma[2:]) < 0.2)


def test_high_bins_take_their_own_late_onset() -> None:
    """Bins from split_hz up counted late after high_onset_s, the low bins after
    late_onset_s; without a high onset both halves are what the single onset gives, and
    the split tracker streams chunk by chunk as the whole does."""
    rng = np.random.default_rng(5)
    y = _reverberant(_bursts(rng), 0.6, rng)
    spec = _stft(y)
    freqs = np.arange(spec.shape[1]) * SR / (2 * (spec.shape[1] - 1))
    high = freqs >= 1500.0
    late = LateReverbTracker(SR, 512, late_onset_s=0.05).direct_fraction(spec, 0.6)
    early = LateReverbTracker(SR, 512, late_onset_s=0.011).direct_fraction(spec, 0.6)
    tracker = LateReverbTracker(SR, 512, late_onset_s=0.05, high_onset_s=0.011)
    split = tracker.direct_fraction(spec, 0.6)
    np.testing.assert_allclose(split[:, ~high], late[:, ~high], atol=1e-12)
    np.testing.assert_allclose(split[:, high], early[:, high], atol=1e-12)
    assert early[:, high].mean() < late[:, high].mean() - 0.05  # more counted late
    same = LateReverbTracker(SR, 512, late_onset_s=0.05, high_onset_s=0.05)
    np.testing.assert_array_equal(same.direct_fraction(spec, 0.6), late)
    streamed = LateReverbTracker(SR, 512, late_onset_s=0.05, high_onset_s=0.011)
    parts = [streamed.direct_fraction(s, 0.6) for s in np.array_split(spec, 5)]
    np.testing.assert_allclose(np.concatenate(parts), split, atol=1e-9)
