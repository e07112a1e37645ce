"""Tests of binaural/eval/spectral.py: the Richard et al. set and the log-spectral distance."""

from __future__ import annotations

import numpy as np
import pytest

from binaural.eval.config import EvaluateConfig
from binaural.eval.spectral import (
    amplitude_distance,
    log_spectral_distance_db,
    mrstft_distance,
    phase_error_rad,
    richard_stft,
    stft,
    wave_l2,
)

SAMPLE_RATE_HZ = 48000
CFG = EvaluateConfig()
N_FFT, HOP, WIN = 2048, 480, 1920  # 40 ms window, 10 ms hop at 48 kHz


def _noise(n: int = SAMPLE_RATE_HZ, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((2, n))


def _tone(freq_hz: float, phase_rad: float = 0.0, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    return amplitude * np.cos(2 * np.pi * freq_hz * t - phase_rad)


def _faded(signal: np.ndarray) -> np.ndarray:
    """Silent for the first and last 0.05 s, 0.1 s raised-cosine ramps: the centre padding
    then mirrors only silence."""
    n, gap, ramp = signal.shape[-1], 2400, 4800
    envelope = np.ones(n)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    envelope[:gap] = envelope[-gap:] = 0.0
    envelope[gap : gap + ramp] = rise
    envelope[n - gap - ramp : n - gap] = rise[::-1]
    return signal * envelope


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_stft_matches_torch(pad_mode: str) -> None:
    torch = pytest.importorskip("torch")
    signal = _noise(5000)
    expected = torch.stft(torch.from_numpy(signal), n_fft=N_FFT, hop_length=HOP, win_length=WIN,
                          window=torch.hann_window(WIN, dtype=torch.float64), center=True,
                          pad_mode=pad_mode, return_complex=True).numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(stft(signal, N_FFT, HOP, WIN, pad_mode), expected, atol=1e-10)


def test_richard_stft_settings_and_resampling() -> None:
    spectrum, freqs_hz = richard_stft(_noise(), SAMPLE_RATE_HZ, CFG)
    assert spectrum.shape == (2, 1 + SAMPLE_RATE_HZ // HOP, N_FFT // 2 + 1)
    assert freqs_hz[1] == pytest.approx(SAMPLE_RATE_HZ / N_FFT)
    at_16k, _ = richard_stft(_noise(16000), 16000, CFG)  # resampled to 48 kHz first
    assert at_16k.shape == spectrum.shape


def test_wave_l2_by_hand() -> None:
    ref = _noise()
    assert wave_l2(ref + 0.1, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.01)
    assert wave_l2(ref, ref, SAMPLE_RATE_HZ, CFG) == 0.0
    with pytest.raises(ValueError):
        wave_l2(ref[:, :-1], ref, SAMPLE_RATE_HZ, CFG)


def test_amplitude_distance_of_an_impulse_by_hand() -> None:
    # An impulse of 0.5 at sample 24000 of the left ear: frame t (padded start 480 t) holds it
    # at window index 24000 + 1024 - 480 t - 64 (the 1920 window sits 64 in); each such frame
    # has |X_k| = 0.5 w in all 1025 bins. The mean is over 2 ears x 101 frames x 1025 bins.
    pred = np.zeros((2, SAMPLE_RATE_HZ))
    pred[0, 24000] = 0.5
    index = 24000 + N_FFT // 2 - HOP * np.arange(101) - (N_FFT - WIN) // 2
    index = index[(index >= 0) & (index < WIN)]
    weights = 0.5 - 0.5 * np.cos(2 * np.pi * index / WIN)
    expected = 0.5 * weights.sum() / (2 * 101)
    assert amplitude_distance(pred, np.zeros_like(pred), SAMPLE_RATE_HZ, CFG) == pytest.approx(
        expected)
    # Magnitudes only: a polarity flip costs nothing.
    assert amplitude_distance(-pred, pred, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("phase_rad", [0.5, 2.0, -2.8])
def test_phase_error_of_a_shifted_tone(phase_rad: float) -> None:
    # Every bin of the tones is shifted by the same phase: that is the error.
    ref = _faded(np.stack([_tone(1000.0), _tone(2500.0)]))
    pred = _faded(np.stack([_tone(1000.0, phase_rad), _tone(2500.0, phase_rad)]))
    assert phase_error_rad(pred, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(abs(phase_rad),
                                                                           abs=1e-3)
    assert phase_error_rad(ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-12)


def test_phase_error_skips_bins_below_the_energy_threshold() -> None:
    # A tone 40 dB down lies far below 0.2 x mean energy: its phase error does not count.
    strong, weak = _tone(1000.0), _tone(3000.0, amplitude=0.01)
    ref = np.stack([strong + weak] * 2)
    pred = np.stack([strong + _tone(3000.0, 2.0, 0.01)] * 2)
    assert phase_error_rad(pred, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-4)
    assert phase_error_rad(pred[::-1] * [[1], [-1]], ref, SAMPLE_RATE_HZ, CFG) > 1.0
    assert np.isnan(phase_error_rad(pred, np.zeros_like(pred), SAMPLE_RATE_HZ, CFG))


@pytest.mark.parametrize("gain", [2.0, 0.5])
def test_mrstft_of_a_scaled_copy_by_hand(gain: float) -> None:
    # Magnitudes scale by the gain: spectral convergence |1 - g|, log-magnitude L1 |ln g|,
    # the same at every resolution.
    ref = _noise()
    assert mrstft_distance(gain * ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        abs(1 - gain) + abs(np.log(gain)), rel=1e-6)
    assert mrstft_distance(ref, ref, SAMPLE_RATE_HZ, CFG) == 0.0


def test_log_spectral_distance_by_hand() -> None:
    ref = _noise()
    # Every bin 6.02 dB up; one ear only: the per-ear values 6.02 and 0 are averaged.
    assert log_spectral_distance_db(2 * ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        20 * np.log10(2), rel=1e-9)
    one_ear = ref * np.array([[2.0], [1.0]])
    assert log_spectral_distance_db(one_ear, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        10 * np.log10(2), rel=1e-9)
    assert log_spectral_distance_db(ref, ref, SAMPLE_RATE_HZ, CFG) == 0.0
    silence = np.zeros_like(ref)
    assert log_spectral_distance_db(silence, silence, SAMPLE_RATE_HZ, CFG) == 0.0


def test_log_spectral_distance_is_one_rms_over_all_frames() -> None:
    # The first half 6.02 dB up, the second equal: the RMS over all bins is 6.02 / sqrt(2)
    # (the frame-wise variant would give 6.02 / 2); the frames across the step blur it.
    ref = _noise()
    pred = ref.copy()
    pred[:, : SAMPLE_RATE_HZ // 2] *= 2.0
    assert log_spectral_distance_db(pred, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        20 * np.log10(2) / np.sqrt(2), rel=0.03)
