"""Tests of binaural/eval/direction.py: direction cues and collapse score."""

from __future__ import annotations

import numpy as np
import pytest
from signal_support import signal

from binaural.eval.config import EvaluateConfig
from binaural.eval.direction import (
    ITD_TABLE_US,
    DirectionTrack,
    azimuth_to_itd_s,
    collapse_score_db,
    direction_error_deg,
    direction_track,
    gcc_phat_itd,
    ild_over_time,
    itd_to_azimuth_deg,
)

SAMPLE_RATE_HZ = 48000
CFG = EvaluateConfig()


def _delayed(signal: np.ndarray, delay_s: float, sample_rate: int) -> np.ndarray:
    """Exact fractional delay by a frequency-domain phase shift (circular)."""
    freqs_hz = np.fft.rfftfreq(signal.size, 1.0 / sample_rate)
    spectrum = np.fft.rfft(signal) * np.exp(-2j * np.pi * freqs_hz * delay_s)
    return np.fft.irfft(spectrum, signal.size)


def _left_source_binaural(
    kind: str, duration_s: float, itd_s: float, gain_right: float, sample_rate: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Left ear = source, right ear = source delayed by itd_s and scaled: a left source."""
    n_samples = int(duration_s * sample_rate)
    margin = sample_rate // 10  # crop away the circular wrap of the delay
    source = signal(kind, n_samples + 2 * margin, sample_rate)
    right = gain_right * _delayed(source, itd_s, sample_rate)
    return np.stack([source, right])[:, margin : margin + n_samples]


# ---------------------------------------------------------------- GCC-PHAT


@pytest.mark.parametrize("kind", ["noise", "tone", "speech"])
@pytest.mark.parametrize("delay_us", [300.0, -300.0, 137.3, -611.7, 52.1])
def test_gcc_phat_recovers_fractional_delay(kind: str, delay_us: float) -> None:
    pair = _left_source_binaural(kind, 0.25, delay_us * 1e-6, 1.0)
    itd_s, strength = gcc_phat_itd(pair[0], pair[1], SAMPLE_RATE_HZ)
    assert itd_s * 1e6 == pytest.approx(delay_us, abs=20.0)
    assert strength > 0.9


@pytest.mark.parametrize("delay_us", [300.0, -137.3])
def test_gcc_phat_interpolates_between_lag_steps(delay_us: float) -> None:
    # The zero-padded lag grid is 1 / (4 x 48 kHz) = 5.2 us; the parabola refines it.
    pair = _left_source_binaural("noise", 0.25, delay_us * 1e-6, 1.0)
    itd_s, _ = gcc_phat_itd(pair[0], pair[1], SAMPLE_RATE_HZ)
    assert itd_s * 1e6 == pytest.approx(delay_us, abs=0.5)


@pytest.mark.parametrize("kind", ["noise", "tone", "speech"])
def test_gcc_phat_zero_delay_gives_zero(kind: str) -> None:
    source = signal(kind, 12000, SAMPLE_RATE_HZ)
    itd_s, strength = gcc_phat_itd(source, 0.3 * source, SAMPLE_RATE_HZ)
    assert abs(itd_s) < 2e-6
    assert strength == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("beta", [0.75, 1.0])
def test_gcc_phat_tone_over_common_noise_floor(beta: float) -> None:
    # A -50 dB noise floor common to both ears (zero lag) fills the empty bins between the
    # harmonics; without masking them PHAT is pulled towards zero lag.
    pair = _left_source_binaural("tone", 0.25, 300e-6, 1.0)
    pair = pair + 3e-3 * np.random.default_rng(9).standard_normal(pair.shape[1])
    itd_s, _ = gcc_phat_itd(pair[0], pair[1], SAMPLE_RATE_HZ, beta=beta)
    assert itd_s == pytest.approx(300e-6, abs=5e-6)


def test_gcc_phat_right_leading_is_negative_and_respects_search_range() -> None:
    source = signal("noise", 12000, SAMPLE_RATE_HZ)
    # The left ear lags by 400 us: the right ear leads.
    itd_s, _ = gcc_phat_itd(_delayed(source, 400e-6, SAMPLE_RATE_HZ), source, SAMPLE_RATE_HZ)
    assert itd_s == pytest.approx(-400e-6, abs=5e-6)
    # A 2 ms delay is outside +-1 ms: the answer stays inside the searched range.
    far_s, _ = gcc_phat_itd(source, _delayed(source, 2e-3, SAMPLE_RATE_HZ), SAMPLE_RATE_HZ)
    assert abs(far_s) <= 1e-3 + 1e-9


def test_gcc_phat_silence_and_incoherent_noise_have_low_strength() -> None:
    zeros = np.zeros(4800)
    assert gcc_phat_itd(zeros, zeros, SAMPLE_RATE_HZ) == (0.0, 0.0)
    rng = np.random.default_rng(3)
    _, strength = gcc_phat_itd(
        rng.standard_normal(12000), rng.standard_normal(12000), SAMPLE_RATE_HZ
    )
    assert strength < 0.3


def test_gcc_phat_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        gcc_phat_itd(np.zeros(10), np.zeros(11), SAMPLE_RATE_HZ)


# ---------------------------------------------------------------- ITD <-> azimuth


@pytest.mark.parametrize("index", range(len(ITD_TABLE_US)))
def test_itd_table_points_map_exactly(index: int) -> None:
    itd_s = ITD_TABLE_US[index] * 1e-6
    assert float(itd_to_azimuth_deg(itd_s)) == pytest.approx(10.0 * index, abs=1e-9)
    assert float(itd_to_azimuth_deg(-itd_s)) == pytest.approx(-10.0 * index, abs=1e-9)
    assert float(azimuth_to_itd_s(10.0 * index)) == pytest.approx(itd_s, abs=1e-12)


def test_itd_to_azimuth_known_values_monotonic_and_clamped() -> None:
    assert float(itd_to_azimuth_deg(273e-6)) == pytest.approx(30.0)
    assert float(itd_to_azimuth_deg(-273e-6)) == pytest.approx(-30.0)
    # Half-way between 273 and 373 us is half-way between 30 and 40 deg.
    assert float(itd_to_azimuth_deg(323e-6)) == pytest.approx(35.0)
    itds_s = np.linspace(-711e-6, 711e-6, 1001)
    assert np.all(np.diff(itd_to_azimuth_deg(itds_s)) > 0.0)
    np.testing.assert_allclose(
        itd_to_azimuth_deg(np.array([0.8e-3, 5e-3, -2e-3])), [90.0, 90.0, -90.0]
    )


def test_azimuth_itd_round_trip_and_rear_fold() -> None:
    azimuths_deg = np.linspace(-90.0, 90.0, 181)
    np.testing.assert_allclose(
        itd_to_azimuth_deg(azimuth_to_itd_s(azimuths_deg)), azimuths_deg, atol=1e-9
    )
    itds_s = np.linspace(-700e-6, 700e-6, 57)
    np.testing.assert_allclose(azimuth_to_itd_s(itd_to_azimuth_deg(itds_s)), itds_s, atol=1e-12)
    # A source behind at 150 deg has the lateral angle, hence the ITD, of 30 deg.
    assert float(azimuth_to_itd_s(150.0)) == pytest.approx(273e-6)
    assert float(azimuth_to_itd_s(-150.0)) == pytest.approx(-273e-6)


# ---------------------------------------------------------------- direction track


@pytest.fixture(scope="module")
def left_30_deg() -> np.ndarray:
    """Speech-like source at +30 deg (left leads by 273 us, right -6 dB), silent 1.0-1.5 s."""
    binaural = _left_source_binaural("speech", 2.0, 273e-6, 0.5)
    binaural[:, int(1.0 * SAMPLE_RATE_HZ) : int(1.5 * SAMPLE_RATE_HZ)] = 0.0
    return binaural


@pytest.mark.parametrize("mirrored", [False, True])
def test_direction_track_finds_left_source_and_its_mirror(
    left_30_deg: np.ndarray, mirrored: bool
) -> None:
    binaural = left_30_deg[::-1] if mirrored else left_30_deg
    sign = -1.0 if mirrored else 1.0
    track = direction_track(binaural, SAMPLE_RATE_HZ, CFG)
    assert float(np.median(track.azimuth_deg[track.valid])) == pytest.approx(30.0 * sign, abs=3.0)
    assert float(np.median(track.itd_s[track.valid])) == pytest.approx(273e-6 * sign, abs=20e-6)
    assert np.all(track.ild_db[track.valid] * sign > 3.0)
    assert float(np.median(track.ild_db[track.valid])) == pytest.approx(6.02 * sign, abs=0.5)


def test_direction_track_windows_and_silence(left_30_deg: np.ndarray) -> None:
    track = direction_track(left_30_deg, SAMPLE_RATE_HZ, CFG)
    n_windows = 1 + int((2.0 - CFG.window_s) / CFG.hop_s)
    assert track.times_s.shape == track.azimuth_deg.shape == track.valid.shape == (n_windows,)
    np.testing.assert_allclose(track.times_s, CFG.window_s / 2 + CFG.hop_s * np.arange(n_windows))
    assert track.valid.dtype == bool
    inside_silence = (track.times_s - CFG.window_s / 2 >= 1.0) & (
        track.times_s + CFG.window_s / 2 <= 1.5
    )
    assert inside_silence.sum() == 3
    assert not track.valid[inside_silence].any()
    assert track.valid[~inside_silence].all()


@pytest.mark.parametrize(
    ("low_gain", "high_gain", "expected_db"), [(1.0, 0.25, 12.04), (0.25, 1.0, 0.0)]
)
def test_direction_track_ild_uses_bands_above_1500_hz(
    low_gain: float, high_gain: float, expected_db: float
) -> None:
    # The right ear is attenuated only below or only above 1.5 kHz: the head shadow cue lives
    # above it, so only the high-band attenuation shows in the ILD.
    source = signal("noise", SAMPLE_RATE_HZ, SAMPLE_RATE_HZ)
    spectrum = np.fft.rfft(source)
    freqs_hz = np.fft.rfftfreq(source.size, 1.0 / SAMPLE_RATE_HZ)
    right = np.fft.irfft(spectrum * np.where(freqs_hz < 1500.0, low_gain, high_gain), source.size)
    track = direction_track(np.stack([source, right]), SAMPLE_RATE_HZ, CFG)
    np.testing.assert_allclose(track.ild_db, expected_db, atol=0.3)


def test_direction_track_incoherent_stretch_is_invalid() -> None:
    # One second of a source at +30 deg, then one second of independent noise in each ear.
    rng = np.random.default_rng(11)
    coherent = _left_source_binaural("noise", 1.0, 273e-6, 1.0)
    binaural = np.concatenate([coherent, rng.standard_normal((2, SAMPLE_RATE_HZ))], axis=1)
    track = direction_track(binaural, SAMPLE_RATE_HZ, CFG)
    before = track.times_s + CFG.window_s / 2 <= 1.0
    after = track.times_s - CFG.window_s / 2 >= 1.0
    assert track.valid[before].all()
    assert not track.valid[after].any()


def test_direction_track_all_silent_is_invalid() -> None:
    track = direction_track(np.zeros((2, SAMPLE_RATE_HZ)), SAMPLE_RATE_HZ, CFG)
    assert track.valid.size > 0
    assert not track.valid.any()


def test_direction_error_uses_valid_windows_and_interpolates_reference() -> None:
    track = DirectionTrack(
        times_s=np.array([0.5, 1.0, 1.5, 2.0]),
        azimuth_deg=np.array([10.0, 25.0, -5.0, 40.0]),
        itd_s=np.zeros(4),
        ild_db=np.zeros(4),
        valid=np.array([True, True, False, True]),
    )
    # Reference sweeps 0 -> 40 deg over 0..2 s: 10, 20, (30), 40 at the window times.
    errors = direction_error_deg(track, np.array([0.0, 2.0]), np.array([0.0, 40.0]))
    np.testing.assert_allclose(errors, [0.0, 5.0, 0.0])
    # A reference behind the head (160 deg) is compared by its lateral angle (20 deg).
    behind = direction_error_deg(track, np.array([0.0, 2.0]), np.array([160.0, 160.0]))
    np.testing.assert_allclose(behind, [10.0, 5.0, 20.0])


def test_direction_error_of_estimated_track(left_30_deg: np.ndarray) -> None:
    track = direction_track(left_30_deg, SAMPLE_RATE_HZ, CFG)
    errors = direction_error_deg(track, np.array([0.0, 2.0]), np.array([30.0, 30.0]))
    assert errors.size == int(track.valid.sum())
    assert float(np.median(errors)) < 3.0
    wrong = direction_error_deg(track, np.array([0.0, 2.0]), np.array([-30.0, -30.0]))
    assert float(np.median(wrong)) > 55.0


# ---------------------------------------------------------------- collapse, ILD


def test_collapse_score() -> None:
    source = signal("speech", 4800, SAMPLE_RATE_HZ)
    assert collapse_score_db(np.stack([source, source])) < -100.0
    assert collapse_score_db(np.stack([source, -source])) > 100.0
    # L = 2s, R = s: side s, mid 3s.
    assert collapse_score_db(np.stack([2 * source, source])) == pytest.approx(10 * np.log10(1 / 9))
    # One ear only: side and mid are equal.
    assert collapse_score_db(np.stack([source, np.zeros_like(source)])) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        collapse_score_db(np.stack([source, source, source]))


def test_ild_over_time() -> None:
    source = signal("noise", SAMPLE_RATE_HZ, SAMPLE_RATE_HZ)
    times_s, ild_db = ild_over_time(np.stack([source, 0.5 * source]), SAMPLE_RATE_HZ, 0.2, 0.1)
    np.testing.assert_allclose(times_s, 0.1 + 0.1 * np.arange(9))
    np.testing.assert_allclose(ild_db, 20 * np.log10(2.0))
    _, mirrored_db = ild_over_time(np.stack([0.5 * source, source]), SAMPLE_RATE_HZ, 0.2, 0.1)
    np.testing.assert_allclose(mirrored_db, -20 * np.log10(2.0))


# ---------------------------------------------------------------- FAIR-Play distances
