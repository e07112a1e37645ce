"""Tests of binaural/eval/distances.py: the FAIR-Play distances, by hand and by property."""

from __future__ import annotations

import numpy as np
import pytest
from signal_support import signal

from binaural.eval.config import EvaluateConfig
from binaural.eval.distances import (
    envelope_distance,
    fairplay_stft_distance,
    magnitude_distance,
    phase_difference_distance,
    snr_db,
)

SAMPLE_RATE_HZ = 48000
FAIRPLAY_RATE_HZ = 16000
CFG = EvaluateConfig()


def test_fairplay_stft_distance_identical_is_zero() -> None:
    ref = np.stack([signal("speech", 8000, FAIRPLAY_RATE_HZ), signal("noise", 8000, 16000)])
    assert fairplay_stft_distance(ref, ref, FAIRPLAY_RATE_HZ, CFG) == 0.0


def test_fairplay_stft_distance_of_an_impulse_by_hand() -> None:
    # An impulse at sample 800 of 1600 (16 kHz): 1 + 1600 // 160 = 11 frames; with centring it
    # falls in frames 4, 5 and 6 at periodic-Hann indices 360, 200 and 40 (window weights
    # w(40) = w(360) = 0.5 - 0.5 cos(0.2 pi), w(200) = 1). Each such frame has |X_k| = w in all
    # 257 bins, so the mean over the real/imag stack is sum(w^2) * 257 / (2 * 257 * 11).
    ref = np.zeros((2, 1600))
    pred = ref.copy()
    amplitude = 0.7
    pred[0, 800] = amplitude
    edge = 0.5 - 0.5 * np.cos(0.2 * np.pi)
    expected = amplitude**2 * (1.0 + 2.0 * edge**2) / (2.0 * 11)
    assert fairplay_stft_distance(pred, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(expected)


@pytest.mark.parametrize("position", [0, 1, 100, 1599])
def test_fairplay_stft_distance_of_impulses_near_the_edges(position: int) -> None:
    # Constant (zero) centre padding: an edge impulse is not mirrored into the padding. Frame t
    # covers original samples 160 t - 256 ... 160 t + 255, the window starting 56 samples in.
    ref = np.zeros((2, 1600))
    pred = ref.copy()
    pred[1, position] = 1.0
    window_index = position + 256 - 160 * np.arange(11) - 56
    inside = window_index[(window_index >= 0) & (window_index < 400)]
    weights = 0.5 - 0.5 * np.cos(2 * np.pi * inside / 400)
    expected = np.sum(weights**2) / (2.0 * 11)
    assert fairplay_stft_distance(pred, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(expected)


@pytest.mark.parametrize("sample_rate", [FAIRPLAY_RATE_HZ, SAMPLE_RATE_HZ])
def test_fairplay_stft_distance_is_quadratic_symmetric_and_additive(sample_rate: int) -> None:
    n_samples = sample_rate // 2
    ref = np.stack(
        [signal("speech", n_samples, sample_rate, 1), signal("tone", n_samples, sample_rate, 2)]
    )
    error = np.stack(
        [signal("noise", n_samples, sample_rate, 3), signal("noise", n_samples, sample_rate, 4)]
    )
    left_only, right_only = error * [[1.0], [0.0]], error * [[0.0], [1.0]]
    base = fairplay_stft_distance(ref + error, ref, sample_rate, CFG)
    assert base > 0.0
    assert fairplay_stft_distance(ref + 2 * error, ref, sample_rate, CFG) == pytest.approx(4 * base)
    assert fairplay_stft_distance(ref, ref + error, sample_rate, CFG) == pytest.approx(base)
    split = fairplay_stft_distance(ref + left_only, ref, sample_rate, CFG) + fairplay_stft_distance(
        ref + right_only, ref, sample_rate, CFG
    )
    assert split == pytest.approx(base)


def test_fairplay_stft_distance_of_white_noise_and_resampling() -> None:
    # Unit white noise in one ear: E|X_k|^2 = sum(hann400^2) = 150, so the distance is 75.
    # At 48 kHz the anti-alias filter of the resampling to 16 kHz keeps a third of the power.
    rng = np.random.default_rng(5)
    for sample_rate, expected in [(FAIRPLAY_RATE_HZ, 75.0), (SAMPLE_RATE_HZ, 25.0)]:
        noise = np.stack([rng.standard_normal(4 * sample_rate), np.zeros(4 * sample_rate)])
        distance = fairplay_stft_distance(noise, np.zeros_like(noise), sample_rate, CFG)
        assert distance == pytest.approx(expected, rel=0.05)


def test_fairplay_stft_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        fairplay_stft_distance(np.zeros((2, 100)), np.zeros((2, 101)), FAIRPLAY_RATE_HZ, CFG)


def _sinusoids(amplitudes: tuple[float, float], sample_rate: int) -> np.ndarray:
    """One second of a 500 Hz sine (left) and a 1 kHz cosine (right): whole periods."""
    t = np.arange(sample_rate) / sample_rate
    return np.stack(
        [
            amplitudes[0] * np.sin(2 * np.pi * 500.0 * t),
            amplitudes[1] * np.cos(2 * np.pi * 1000.0 * t),
        ]
    )


def test_envelope_distance_identical_is_zero() -> None:
    ref = np.stack([signal("speech", 8000, FAIRPLAY_RATE_HZ), signal("noise", 8000, 16000)])
    assert envelope_distance(ref, ref, FAIRPLAY_RATE_HZ, CFG) == 0.0


@pytest.mark.parametrize(
    ("sample_rate", "tolerance"), [(FAIRPLAY_RATE_HZ, 1e-9), (SAMPLE_RATE_HZ, 1e-2)]
)
def test_envelope_distance_by_hand(sample_rate: int, tolerance: float) -> None:
    # The Hilbert envelope of a whole-period sinusoid is its amplitude: a scaled copy
    # pred = 1.5 ref differs by 0.5 x amplitude everywhere.
    ref = _sinusoids((0.4, 0.2), sample_rate)
    assert envelope_distance(1.5 * ref, ref, sample_rate, CFG) == pytest.approx(
        0.5 * (0.4 + 0.2), rel=tolerance
    )
    other = _sinusoids((0.1, 0.5), sample_rate)
    assert envelope_distance(other, ref, sample_rate, CFG) == pytest.approx(
        abs(0.1 - 0.4) + abs(0.5 - 0.2), rel=tolerance
    )


def test_envelope_distance_scaled_copy_of_speech() -> None:
    ref = np.stack(
        [signal("speech", 8000, FAIRPLAY_RATE_HZ, 6), signal("noise", 8000, FAIRPLAY_RATE_HZ, 7)]
    )
    # ENV(1.5 ref, ref) = 0.5 * sum over ears of RMS(|H(ref_c)|) = 0.5 * sum of RMS(ref_c)
    # within the discrete Hilbert transform's edge error (|H|^2 = x^2 + Hx^2, same power).
    expected = 0.5 * np.sqrt(2.0 * np.mean(ref**2, axis=1)).sum()
    assert envelope_distance(1.5 * ref, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(
        expected, rel=0.02
    )


# ---------------------------------------------------------------- Mag, D_phase, SNR


def test_magnitude_distance_is_twice_the_stft_distance() -> None:
    # ANCHORS: Mag = sum over ears of mean |dS_c|^2, dS the complex STFT difference.
    ref = np.stack([signal("speech", 8000, FAIRPLAY_RATE_HZ, 1), signal("tone", 8000, 16000)])
    pred = ref + 0.1 * np.stack([signal("noise", 8000, FAIRPLAY_RATE_HZ, s) for s in (2, 3)])
    for sample_rate in (FAIRPLAY_RATE_HZ, SAMPLE_RATE_HZ):
        assert magnitude_distance(pred, ref, sample_rate, CFG) == pytest.approx(
            2 * fairplay_stft_distance(pred, ref, sample_rate, CFG))
    # The impulse of test_fairplay_stft_distance_of_an_impulse_by_hand: |dS|^2 = w^2 per bin.
    impulse = np.zeros((2, 1600))
    impulse[0, 800] = 0.7
    edge = 0.5 - 0.5 * np.cos(0.2 * np.pi)
    expected = 0.7**2 * (1.0 + 2.0 * edge**2) / 11
    assert magnitude_distance(impulse, np.zeros_like(impulse), FAIRPLAY_RATE_HZ, CFG) == (
        pytest.approx(expected))


def test_phase_difference_distance_by_hand() -> None:
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((2, 8000))
    assert phase_difference_distance(ref, ref, FAIRPLAY_RATE_HZ, CFG) == 0.0
    # Swapped ears negate the side signal: every bin's angle differs by pi.
    assert phase_difference_distance(ref[::-1], ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(
        np.pi)
    # A mono copy has no side signal (angle 0): the reference's mean |angle|, pi / 2 for
    # noise (the published mono-mono D_phase is 1.571).
    mono = np.stack([ref.mean(axis=0)] * 2)
    assert phase_difference_distance(mono, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(
        np.pi / 2, abs=0.03)


def test_snr_by_hand() -> None:
    ref = 0.1 * np.random.default_rng(5).standard_normal((2, 16000))
    power = float(np.mean(ref**2))
    assert snr_db(np.zeros_like(ref), ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(0.0)
    assert snr_db(2 * ref, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(0.0)
    assert snr_db(1.1 * ref, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(
        10 * np.log10((power + 1e-4) / (0.01 * power + 1e-4)))
    assert snr_db(ref, ref, FAIRPLAY_RATE_HZ, CFG) == pytest.approx(
        10 * np.log10((power + 1e-4) / 1e-4))
