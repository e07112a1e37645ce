"""Tests of binaural/eval/cues.py: time-frequency ILD/IPD errors and the measured tables."""

from __future__ import annotations

import numpy as np
import pytest

from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import (
    AzimuthTable,
    ild_direction_track,
    measure_ild_table,
    measure_itd_table,
    median_direction_error_deg,
    tf_ild_error_db,
    tf_ipd_error_rad,
)
from binaural.eval.direction import ITD_TABLE_US, DirectionTrack, direction_track
from binaural.spatial.render import direction_filter, spatialize

SAMPLE_RATE_HZ = 48000
CFG = EvaluateConfig()
ILD_6_DB = 10 * np.log10(4.0)  # right ear at half the amplitude


def _tone(freq_hz: float, phase_rad: float = 0.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return np.cos(2 * np.pi * freq_hz * t - phase_rad)


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE_HZ))


def _render(hrtf, source: np.ndarray, azimuth_deg: float) -> np.ndarray:
    filt = direction_filter(hrtf, np.array([0.0, 10.0]), np.array([azimuth_deg] * 2),
                            np.zeros(2))
    return spatialize(source, filt, hrtf.taps, SAMPLE_RATE_HZ)


# ---------------------------------------------------------------- TF-ILD


def test_tf_ild_error_of_two_tones_by_hand() -> None:
    # 2 kHz with the right ear at half amplitude (ILD 6.02 dB), 6 kHz equal in both ears.
    # A mono copy (ILD 0 in every bin) errs by 6.02 dB in the 2 kHz bins only; each tone's
    # bins carry reference energy in the ratio (1 + 1/4) : (1 + 1), so the weighted mean is
    # 6.02 x 1.25 / 3.25.
    low, high = _tone(2000.0), _tone(6000.0)
    ref = np.stack([low + high, 0.5 * low + high])
    mono = np.stack([low + high, low + high])
    assert tf_ild_error_db(mono, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        ILD_6_DB * 1.25 / 3.25, rel=1e-3)
    assert tf_ild_error_db(ref, ref, SAMPLE_RATE_HZ, CFG) == 0.0


def test_tf_ild_error_ignores_bins_below_1500_hz() -> None:
    # An ILD at 1 kHz only is outside the ILD band: the mono copy makes no ILD error (but
    # for the 1 kHz tone's leakage in the two zero-padded edge frames).
    low, high = _tone(1000.0), _tone(4000.0)
    ref = np.stack([low + high, 0.25 * low + high])
    assert tf_ild_error_db(np.stack([low + high] * 2), ref, SAMPLE_RATE_HZ, CFG) == (
        pytest.approx(0.0, abs=0.01))
    assert tf_ild_error_db(np.stack([low + high] * 2), ref[::-1], SAMPLE_RATE_HZ, CFG) < 0.01


def test_mono_copy_of_a_panned_reference_has_a_large_tf_cue_error(kemar) -> None:
    ref = _render(kemar, _noise(), 40.0)
    mono = np.stack([ref.mean(axis=0)] * 2)
    assert tf_ild_error_db(ref, ref, SAMPLE_RATE_HZ, CFG) == 0.0
    assert tf_ipd_error_rad(ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-12)
    mono_ild = tf_ild_error_db(mono, ref, SAMPLE_RATE_HZ, CFG)
    assert mono_ild > 8.0
    assert tf_ipd_error_rad(mono, ref, SAMPLE_RATE_HZ, CFG) > 0.8
    # Swapping the ears negates every bin's ILD: exactly twice the mono copy's error.
    assert tf_ild_error_db(ref[::-1], ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(2 * mono_ild)
    # The right place rendered with the same head but a louder gain: no ILD error.
    assert tf_ild_error_db(0.1 * ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-5)


def test_tf_ild_error_resamples_and_rejects_bad_shapes() -> None:
    low, high = _tone(2000.0), _tone(6000.0)
    ref = np.stack([low + high, 0.5 * low + high])
    mono = np.stack([low + high] * 2)
    # The same signals given at 16 kHz lose the bins above 8 kHz only (none carry energy).
    from binaural.eval.distances import resample

    at_16k = tf_ild_error_db(resample(mono, SAMPLE_RATE_HZ, 16000),
                             resample(ref, SAMPLE_RATE_HZ, 16000), 16000, CFG)
    assert at_16k == pytest.approx(ILD_6_DB * 1.25 / 3.25, rel=1e-2)
    with pytest.raises(ValueError):
        tf_ild_error_db(mono[:, :-1], ref, SAMPLE_RATE_HZ, CFG)
    assert np.isnan(tf_ild_error_db(mono, np.zeros_like(ref), SAMPLE_RATE_HZ, CFG))


# ---------------------------------------------------------------- TF-IPD


@pytest.mark.parametrize("phase_rad", [0.4, 0.9, 2.5])
def test_tf_ipd_error_of_a_phase_shifted_tone_by_hand(phase_rad: float) -> None:
    # The right ear lags a 1 kHz tone by phase_rad: IPD = +phase_rad in all the tone's bins.
    ref = np.stack([_tone(1000.0), _tone(1000.0, phase_rad)])
    mono = np.stack([_tone(1000.0)] * 2)
    mirrored = ref[::-1]  # IPD -phase_rad: the error 2 x phase_rad, wrapped into [0, pi]
    assert tf_ipd_error_rad(ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-9)
    assert tf_ipd_error_rad(mono, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(phase_rad, abs=1e-3)
    expected = min(2 * phase_rad, 2 * np.pi - 2 * phase_rad)
    assert tf_ipd_error_rad(mirrored, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(expected,
                                                                                abs=2e-3)


def test_tf_ipd_error_uses_the_100_to_1500_hz_band_weighted_by_energy() -> None:
    # 1 kHz (amplitude 1, IPD 0.6) and 3 kHz (amplitude 2, IPD 1.5, outside the band).
    ref = np.stack([_tone(1000.0) + 2 * _tone(3000.0),
                    _tone(1000.0, 0.6) + 2 * _tone(3000.0, 1.5)])
    mono = np.stack([ref[0]] * 2)
    assert tf_ipd_error_rad(mono, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.6, abs=1e-3)
    # A 500 Hz component of amplitude 2 with IPD 0 weighs 4 against 1: error 0.6 / 5.
    ref_two = ref + np.stack([2 * _tone(500.0)] * 2)
    mono_two = np.stack([ref_two[0]] * 2)
    assert tf_ipd_error_rad(mono_two, ref_two, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        0.6 / 5, abs=2e-3)


# ---------------------------------------------------------------- measured tables


def test_kemar_measured_itd_table_agrees_with_the_shipped_table(kemar) -> None:
    table = measure_itd_table(kemar, CFG)
    np.testing.assert_allclose(table.azimuth_deg, np.arange(0, 91, 10))
    assert table.cue[0] == 0.0  # antisymmetrised
    np.testing.assert_allclose(table.cue * 1e6, ITD_TABLE_US, atol=30.0)
    assert np.all(np.diff(table.cue) > 0)


def test_kemar_measured_ild_table_rises_from_zero(kemar) -> None:
    table = measure_ild_table(kemar)
    assert table.unit == "dB" and table.cue[0] == 0.0
    peak = int(np.argmax(table.cue))
    assert peak >= 5 and table.cue[peak] > 12.0  # the head shadow grows to the side
    assert np.all(np.diff(table.cue[: peak + 1]) > 0)


def test_azimuth_table_inversion_by_hand() -> None:
    # Rises to 5 dB at 20 deg, then falls: only 0..20 deg is invertible.
    table = AzimuthTable(np.array([0.0, 10.0, 20.0, 30.0]), np.array([0.0, 2.0, 5.0, 4.0]),
                         "dB")
    np.testing.assert_allclose(table.to_azimuth_deg(np.array([0.0, 1.0, 3.5, 4.0, 6.0, -2.0])),
                               [0.0, 5.0, 15.0, 50.0 / 3.0, 20.0, -10.0])
    # A plateau keeps its first azimuth (10 deg), not to overstate the angle.
    plateau = AzimuthTable(np.array([0.0, 10.0, 20.0, 30.0]), np.array([0.0, 2.0, 2.0, 3.0]),
                           "dB")
    np.testing.assert_allclose(plateau.to_azimuth_deg(np.array([2.0, 2.5])), [10.0, 20.0])


@pytest.mark.parametrize("azimuth_deg", [20.0, -35.0, 50.0])
def test_direction_from_ild_of_rendered_noise(kemar, azimuth_deg: float) -> None:
    binaural = _render(kemar, _noise(), azimuth_deg)
    track = direction_track(binaural, SAMPLE_RATE_HZ, CFG)
    by_ild = ild_direction_track(track, measure_ild_table(kemar))
    assert track.valid.sum() >= 5
    seen = np.full(track.times_s.shape, azimuth_deg)
    assert median_direction_error_deg(by_ild, seen) < 3.0
    assert median_direction_error_deg(track, seen) < 3.0  # and from the ITD


def test_median_direction_error_skips_invalid_and_unseen_windows() -> None:
    track = DirectionTrack(
        times_s=np.array([0.5, 1.0, 1.5, 2.0, 2.5]),
        azimuth_deg=np.array([10.0, 25.0, -5.0, 40.0, 0.0]),
        itd_s=np.zeros(5), ild_db=np.zeros(5),
        valid=np.array([True, True, False, True, True]),
    )
    seen = np.array([12.0, 20.0, 0.0, np.nan, 170.0])  # 170 deg behind: lateral angle 10
    assert median_direction_error_deg(track, seen) == pytest.approx(5.0)  # of 2, 5, 10
    assert median_direction_error_deg(track, np.full(5, np.nan)) is None
    with pytest.raises(ValueError):
        median_direction_error_deg(track, np.zeros(4))
