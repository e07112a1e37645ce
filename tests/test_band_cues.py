"""Tests of binaural/eval/bands.py (band-smoothed interaural cues and their errors) and of the
ITD/ILD mismatch of binaural/eval/cues.py, on hand-made signals."""

from __future__ import annotations

import numpy as np
import pytest

from binaural.eval.bands import (
    band_coherence_error,
    band_cue_errors,
    band_cues,
    band_edges_hz,
    band_ild_error_db,
    band_ipd_error_rad,
)
from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import (
    itd_ild_mismatch_deg,
    measure_ild_table,
    tf_ild_db,
    tf_ild_error_db,
)
from binaural.eval.direction import direction_track
from binaural.eval.metrics import REFERENCE_METRIC_FNS, RunningEvaluation, reference_free_metrics
from binaural.eval.spectral import richard_stft
from binaural.eval.suite import LEADING_METRICS
from binaural.spatial.render import direction_filter, spatialize

SAMPLE_RATE_HZ = 48000
CFG = EvaluateConfig()
ILD_6_DB = 10 * np.log10(4.0)  # right ear at half the amplitude
DELAY_SAMPLES = 10  # 208 us: the right ear lags


def _noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE_HZ))


def _delayed_quieter_right(source: np.ndarray) -> np.ndarray:
    """Left = source, right = source delayed by DELAY_SAMPLES (circularly) at half amplitude."""
    return np.stack([source, 0.5 * np.roll(source, DELAY_SAMPLES)])


def _weighted(values: np.ndarray, weight: np.ndarray) -> float:
    return float((values * weight).sum() / weight.sum())


def _render(hrtf, source: np.ndarray, azimuth_deg: float) -> np.ndarray:
    filt = direction_filter(hrtf, np.array([0.0, 10.0]), np.array([azimuth_deg] * 2),
                            np.zeros(2))
    return spatialize(source, filt, hrtf.taps, SAMPLE_RATE_HZ)


# ---------------------------------------------------------------- the bands


def test_third_octave_bands_from_100_hz_to_16_khz() -> None:
    edges = band_edges_hz(CFG)
    assert edges.shape == (23, 3)
    assert edges[0, 1] == pytest.approx(99.21, abs=0.01)  # nominal 100 Hz
    assert edges[-1, 1] == pytest.approx(16000.0)
    np.testing.assert_allclose(edges[1:, 0], edges[:-1, 2])  # contiguous
    np.testing.assert_allclose(edges[:, 2] / edges[:, 0], 2.0 ** (1 / 3))
    # Every band holds at least one bin of the 48 kHz STFT (23.4 Hz apart).
    _, freqs_hz = richard_stft(np.zeros((2, 4800)), SAMPLE_RATE_HZ, CFG)
    for low, _, high in edges:
        assert np.any((freqs_hz >= low) & (freqs_hz < high))


def test_cells_are_40_ms_frames() -> None:
    cues = band_cues(np.stack([_noise(1.0)] * 2), SAMPLE_RATE_HZ, CFG)
    # 101 STFT frames of 10 ms hop (centred, one more than 1 s / 10 ms), four per cell.
    assert cues.power.shape == (2, 26, 23) and cues.cross.shape == (26, 23)


# ---------------------------------------------------------------- known cues


def test_a_delay_and_level_difference_give_the_known_band_ild_and_ipd() -> None:
    cues = band_cues(_delayed_quieter_right(_noise()), SAMPLE_RATE_HZ, CFG)
    ild = cues.ild_db()  # the right ear 6.02 dB down in every band and frame
    # (within 0.2 dB: in the one-bin lowest bands the window cuts the delayed ear differently)
    np.testing.assert_allclose(ild[1:-1], ILD_6_DB, atol=0.2)
    # IPD = 2 pi f d (left leads: positive) at the band's centre, in the bands below 1.5 kHz.
    low = cues.centres_hz < CFG.band_split_hz
    expected = 2 * np.pi * cues.centres_hz[low] * DELAY_SAMPLES / SAMPLE_RATE_HZ
    np.testing.assert_allclose(np.median(cues.ipd_rad()[:, low], axis=0), expected, atol=0.05)
    # A delayed copy stays coherent where the delay turns the phase little across the band.
    assert np.all(np.median(cues.coherence()[:, low], axis=0) > 0.98)


def test_swapping_the_ears_negates_the_cues() -> None:
    ref = _delayed_quieter_right(_noise())
    cues, swapped = band_cues(ref, SAMPLE_RATE_HZ, CFG), band_cues(ref[::-1], SAMPLE_RATE_HZ, CFG)
    np.testing.assert_allclose(swapped.ild_db(), -cues.ild_db(), atol=1e-9)
    np.testing.assert_allclose(swapped.ipd_rad(), -cues.ipd_rad(), atol=1e-9)
    np.testing.assert_allclose(swapped.coherence(), cues.coherence(), atol=1e-9)
    mono = np.stack([ref[0]] * 2)
    mono_ild = band_ild_error_db(mono, ref, SAMPLE_RATE_HZ, CFG)
    assert mono_ild == pytest.approx(ILD_6_DB, abs=0.05)
    assert band_ild_error_db(ref[::-1], ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(2 * mono_ild)
    # Each low cell's IPD error of the mirror is twice its IPD, wrapped into [0, pi] (the
    # 1.25 kHz band's 1.6 rad wraps): more than the mono copy's, its IPD once.
    low = cues.centres_hz < CFG.band_split_hz
    ipd, weight = cues.ipd_rad()[:, low], cues.energy[:, low]
    # (rel 1e-4: a few faint edge cells fall outside the scored 40 dB)
    assert band_ipd_error_rad(mono, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(
        _weighted(np.abs(ipd), weight), rel=1e-4)
    mirror = band_ipd_error_rad(ref[::-1], ref, SAMPLE_RATE_HZ, CFG)
    assert mirror == pytest.approx(_weighted(np.abs(np.angle(np.exp(2j * ipd))), weight),
                                   rel=1e-4)
    assert mirror > 1.5 * band_ipd_error_rad(mono, ref, SAMPLE_RATE_HZ, CFG)


def test_identical_signals_have_no_error_and_coherence_one() -> None:
    ref = _delayed_quieter_right(_noise())
    for fn in (band_ild_error_db, band_ipd_error_rad, band_coherence_error):
        assert fn(ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-12)
    same = band_cues(np.stack([_noise()] * 2), SAMPLE_RATE_HZ, CFG)
    np.testing.assert_allclose(same.coherence(), 1.0)
    np.testing.assert_allclose(same.ild_db(), 0.0)
    # A louder copy has the same cues: no error.
    assert band_ild_error_db(3.0 * ref, ref, SAMPLE_RATE_HZ, CFG) == pytest.approx(0.0, abs=1e-9)


def test_independent_noises_are_incoherent() -> None:
    diffuse = np.stack([_noise(seed=1), _noise(seed=2)])
    cues = band_cues(diffuse, SAMPLE_RATE_HZ, CFG)
    coherence = cues.coherence()
    assert _weighted(coherence, cues.energy) < 0.15  # the wide upper bands weigh most
    assert np.median(coherence[:, -1]) < 0.1  # the 16 kHz band: ~160 bins x 4 frames
    mono = np.stack([diffuse[0]] * 2)
    assert band_coherence_error(mono, diffuse, SAMPLE_RATE_HZ, CFG) > 0.8


def test_a_diffuse_tail_has_a_small_band_ild_but_large_per_bin_ilds() -> None:
    # The point of band smoothing: a diffuse tail's per-bin ILDs are random (several dB),
    # its band ILD near 0, so the mono copy is judged right on band ILD and a tail panned
    # to the side wrong, while per bin the two differ far less.
    tail = np.stack([_noise(seed=3), _noise(seed=4)])
    spectrum, freqs_hz = richard_stft(tail, SAMPLE_RATE_HZ, CFG, "constant")
    per_bin = np.abs(tf_ild_db(spectrum[..., freqs_hz >= CFG.band_split_hz]))
    cues = band_cues(tail, SAMPLE_RATE_HZ, CFG)
    high = cues.centres_hz >= CFG.band_split_hz
    band = np.abs(cues.ild_db()[:, high])
    assert np.mean(per_bin) > 4.0 and _weighted(band, cues.energy[:, high]) < 0.7
    mono = np.stack([tail.mean(axis=0)] * 2)
    assert tf_ild_error_db(mono, tail, SAMPLE_RATE_HZ, CFG) > 4.0
    assert band_ild_error_db(mono, tail, SAMPLE_RATE_HZ, CFG) < 0.7
    lateral = np.stack([mono[0], 0.5 * mono[1]])  # the whole tail 6 dB to the left
    assert band_ild_error_db(lateral, tail, SAMPLE_RATE_HZ, CFG) > 5.0
    assert (band_ild_error_db(lateral, tail, SAMPLE_RATE_HZ, CFG)
            > 5 * band_ild_error_db(mono, tail, SAMPLE_RATE_HZ, CFG))
    # one pass for the three (a report's): the same figures as one by one
    together = band_cue_errors(lateral, tail, SAMPLE_RATE_HZ, CFG)
    assert together == {
        "band_ild_error_db": band_ild_error_db(lateral, tail, SAMPLE_RATE_HZ, CFG),
        "band_ipd_error_rad": band_ipd_error_rad(lateral, tail, SAMPLE_RATE_HZ, CFG),
        "band_coherence_error": band_coherence_error(lateral, tail, SAMPLE_RATE_HZ, CFG)}


@pytest.mark.parametrize(("quiet_db", "scored"), [(-50.0, False), (-30.0, True)])
def test_cells_40_db_below_the_loudest_are_not_scored(quiet_db: float, scored: bool) -> None:
    # 1 s of loud noise equal in both ears, 0.3 s of silence, then 1 s of noise with a 10 dB
    # ILD quiet_db down. The mono copy errs only in the quiet part.
    loud, quiet = _noise(1.0, seed=5), _noise(1.0, seed=6) * 10 ** (quiet_db / 20)
    gap = np.zeros(int(0.3 * SAMPLE_RATE_HZ))
    ref = np.stack([np.concatenate([loud, gap, quiet]),
                    np.concatenate([loud, gap, quiet * 10 ** (-10 / 20)])])
    mono = np.stack([ref[0]] * 2)
    error = band_ild_error_db(mono, ref, SAMPLE_RATE_HZ, CFG)
    if scored:
        assert error > 1e-3
    else:
        assert error == pytest.approx(0.0, abs=1e-9)
    everything = EvaluateConfig(band_dynamic_range_db=200.0)
    assert band_ild_error_db(mono, ref, SAMPLE_RATE_HZ, everything) > error


def test_bad_shapes_and_a_silent_reference() -> None:
    ref = _delayed_quieter_right(_noise(0.5))
    with pytest.raises(ValueError):
        band_ild_error_db(ref[:, :-1], ref, SAMPLE_RATE_HZ, CFG)
    for fn in (band_ild_error_db, band_ipd_error_rad, band_coherence_error):
        assert np.isnan(fn(ref, np.zeros_like(ref), SAMPLE_RATE_HZ, CFG))
    # The same signals at 16 kHz: only the bands below 8 kHz carry energy; same ILD.
    from binaural.eval.distances import resample

    at_16k = band_ild_error_db(resample(np.stack([ref[0]] * 2), SAMPLE_RATE_HZ, 16000),
                               resample(ref, SAMPLE_RATE_HZ, 16000), 16000, CFG)
    assert at_16k == pytest.approx(ILD_6_DB, abs=0.1)


# ---------------------------------------------------------------- ITD/ILD mismatch


def test_itd_ild_mismatch_of_one_direction_and_of_a_blend(kemar) -> None:
    table = measure_ild_table(kemar)
    source = 0.1 * _noise()
    one = _render(kemar, source, 30.0)
    track = direction_track(one, SAMPLE_RATE_HZ, CFG)
    assert itd_ild_mismatch_deg(track, table) < 4.0
    # Low band from +50 deg, high band from -20 deg: the ITD says left, the ILD right.
    spectra = [np.fft.rfft(_render(kemar, source, az)) for az in (50.0, -20.0)]
    freqs_hz = np.fft.rfftfreq(one.shape[1], 1.0 / SAMPLE_RATE_HZ)
    blend = np.fft.irfft(np.where(freqs_hz < CFG.band_split_hz, spectra[0], spectra[1]),
                         one.shape[1])
    blend_track = direction_track(blend, SAMPLE_RATE_HZ, CFG)
    assert blend_track.valid.sum() >= 5
    assert itd_ild_mismatch_deg(blend_track, table) > 40.0
    free, _ = reference_free_metrics(blend, SAMPLE_RATE_HZ, CFG, table, [])
    assert free["itd_ild_mismatch_deg"] == itd_ild_mismatch_deg(blend_track, table)
    # streamed (a remaster's report): the same figure as the whole signal's
    running = RunningEvaluation(SAMPLE_RATE_HZ, CFG)
    running.add(blend)
    streamed, _ = running.result([], ild_table=table)
    assert streamed["itd_ild_mismatch_deg"] == pytest.approx(free["itd_ild_mismatch_deg"])
    assert "itd_ild_mismatch_deg" not in running.result([])[0]
    silent = direction_track(np.zeros((2, SAMPLE_RATE_HZ)), SAMPLE_RATE_HZ, CFG)
    assert itd_ild_mismatch_deg(silent, table) is None


def test_the_band_metrics_lead_the_evaluation_tables() -> None:
    keys = [spec.key for spec in LEADING_METRICS]
    assert keys[:3] == ["band_ild_error_db", "band_ipd_error_rad", "band_coherence_error"]
    assert "itd_ild_mismatch_deg" in keys and "tf_ild_error_db" in keys
    assert {"band_ild_error_db", "band_ipd_error_rad", "band_coherence_error"} <= set(
        REFERENCE_METRIC_FNS)
