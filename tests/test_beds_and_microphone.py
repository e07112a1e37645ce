"""Synthesis v2's diffuse beds and microphone colouration, unit by unit: what the mono and
the ears get, measured on the signals (not only through whole scenes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import welch

from binaural.synth.ambience import (
    AMBIENCE_SWELL_DEPTH,
    ambience_bed,
    coloured_noise,
    diffuse_bed,
    noise_bed,
    swell,
)
from binaural.synth.config import SynthConfig
from binaural.synth.microphone import MicColour, colour, draw_mic

SR = 48000


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = welch(x, SR, nperseg=4096)
    return 10 * np.log10(p[(f >= lo) & (f < hi)].mean())


@pytest.mark.parametrize("slope", [-6.0, -3.0, 0.0])
def test_coloured_noise_has_its_slope_band_and_unit_rms(slope):
    x = coloured_noise(SR * 4, SR, np.random.default_rng(0), slope, (100.0, 8000.0))
    assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-6)
    octave = _band_db(x, 1000.0, 1100.0) - _band_db(x, 500.0, 550.0)
    assert octave == pytest.approx(slope, abs=1.0)
    assert _band_db(x, 12000.0, 16000.0) < _band_db(x, 1000.0, 2000.0) - 60  # band-limited


def test_a_plane_wave_from_the_left_is_louder_and_earlier_at_the_left_ear(kemar):
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((1, SR))
    mono, ears = diffuse_bed(signal, np.array([60.0]), np.array([0.0]), kemar)
    assert np.sqrt(np.mean(mono ** 2)) == pytest.approx(1.0, rel=1e-6)
    assert np.mean(ears[0] ** 2) > 2 * np.mean(ears[1] ** 2)
    lag = np.argmax(np.correlate(ears[0], ears[1], "full")) - (SR - 1)
    assert lag < 0  # the right ear's copy comes later


def test_beds_are_diffuse_at_unit_mono_level(kemar):
    rng = np.random.default_rng(2)
    mono, ears = noise_bed(SR * 2, SR, rng, kemar)
    assert np.sqrt(np.mean(mono ** 2)) == pytest.approx(1.0, rel=1e-6)
    # a field from all around: ears about equally loud, weakly correlated at high frequencies
    assert abs(10 * np.log10(np.mean(ears[0] ** 2) / np.mean(ears[1] ** 2))) < 1.5
    from scipy.signal import butter, sosfilt
    hp = butter(4, 3000, "highpass", fs=SR, output="sos")
    hl, hr = sosfilt(hp, ears[0]), sosfilt(hp, ears[1])
    assert abs(np.corrcoef(hl, hr)[0, 1]) < 0.5

    mono_a, ears_a = ambience_bed(SR * 2, SR, np.random.default_rng(3), kemar, 60.0)
    assert np.sqrt(np.mean(mono_a ** 2)) == pytest.approx(1.0, rel=1e-6)
    assert ears_a.shape == (2, SR * 2) and np.isfinite(ears_a).all()


def test_an_ambience_swell_is_slow_positive_and_of_bounded_depth():
    for seed in range(5):
        curve = swell(SR * 10, SR, np.random.default_rng(seed))
        assert curve.min() >= 0.05 and abs(curve.mean() - 1.0) < 0.5
        assert curve.max() - curve.min() <= 2 * max(AMBIENCE_SWELL_DEPTH) + 1e-9
        # slow: no more than a few per cent change within 10 ms
        assert np.abs(np.diff(curve[:: SR // 100])).max() < 0.05


def test_the_microphone_colours_the_mono_as_drawn():
    cfg = SynthConfig()
    mic = draw_mic(cfg, np.random.default_rng(4))
    for name in ("highpass_hz", "lowpass_hz", "peak_hz", "peak_db", "noise_db"):
        lo, hi = getattr(cfg, name.replace("highpass_hz", "mic_highpass_hz").replace(
            "lowpass_hz", "mic_lowpass_hz").replace("peak_hz", "mic_peak_hz").replace(
            "peak_db", "mic_peak_db").replace("noise_db", "mic_noise_db"))
        assert lo <= getattr(mic, name) <= hi
    white = np.random.default_rng(5).standard_normal(SR * 4)
    fixed = MicColour(highpass_hz=200.0, lowpass_hz=4000.0, peak_hz=1000.0, peak_db=6.0,
                      peak_q=1.0, noise_db=-80.0)
    out = colour(white, SR, fixed, np.random.default_rng(6))
    mid = _band_db(out, 1800.0, 2200.0)
    assert _band_db(out, 40.0, 60.0) < mid - 15  # rumble filtered
    assert _band_db(out, 12000.0, 14000.0) < mid - 15  # low-passed
    assert _band_db(out, 950.0, 1050.0) > mid + 3  # the peaking band
    noisy = colour(white, SR, replace(fixed, noise_db=-20.0), np.random.default_rng(6))
    residual = noisy - out
    ratio_db = 10 * np.log10(np.mean(residual ** 2) / np.mean(out ** 2))
    assert ratio_db == pytest.approx(-20.0, abs=0.5)  # self-noise at its level
