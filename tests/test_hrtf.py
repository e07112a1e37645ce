"""HRTF sets: frontal normalisation, interpolation weights and nearest directions."""

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from binaural.constants import LEFT, RIGHT
from binaural.spatial.hrtf import HRTFSet, normalise_frontal

# Below this, the ITD-driven phase difference between 5-deg neighbours is small, so a
# linear blend of their HRIRs keeps the energy between theirs (to within ENERGY_TOL_DB).
LOW_BAND_HZ = 1500.0
ENERGY_TOL_DB = 0.05


def _energy(ir: np.ndarray) -> np.ndarray:
    return np.sum(np.asarray(ir, dtype=np.float64) ** 2, axis=-1)


def _index(hrtf: HRTFSet, azimuth: float, elevation: float) -> int:
    hits = np.flatnonzero(
        np.isclose(hrtf.azimuth_deg, azimuth) & np.isclose(hrtf.elevation_deg, elevation)
    )
    assert hits.size == 1, f"({azimuth}, {elevation}) is not a single measured direction"
    return int(hits[0])


def test_normalise_frontal_makes_frontal_energy_one() -> None:
    rng = np.random.default_rng(0)
    ir = rng.standard_normal((4, 2, 64)) * 7.0
    azimuth = np.array([90.0, 0.0, -45.0, 180.0])
    elevation = np.array([0.0, 0.0, 10.0, 0.0])
    out = normalise_frontal(ir, azimuth, elevation)
    front = _energy(out[1])
    assert 0.5 * (front[LEFT] + front[RIGHT]) == pytest.approx(1.0)
    # One scale for the whole set: ratios between directions and ears are kept.
    np.testing.assert_allclose(_energy(out) / _energy(ir), _energy(out[1, 0]) / _energy(ir[1, 0]))


def test_normalise_frontal_refuses_a_silent_front() -> None:
    ir = np.ones((2, 2, 8))
    ir[0] = 0.0
    with pytest.raises(ValueError, match="silent"):
        normalise_frontal(ir, np.array([0.0, 90.0]), np.array([0.0, 0.0]))


def test_loaded_set_is_frontally_normalised(kemar: HRTFSet, sample_rate: int) -> None:
    assert kemar.sample_rate == sample_rate
    assert kemar.ir.shape == (kemar.azimuth_deg.size, 2, kemar.taps)
    front = _energy(kemar.ir[_index(kemar, 0.0, 0.0)])
    assert 0.5 * (front[LEFT] + front[RIGHT]) == pytest.approx(1.0, rel=1e-5)
    assert np.all((kemar.azimuth_deg >= -180.0) & (kemar.azimuth_deg < 180.0))


@pytest.mark.parametrize(("azimuth", "elevation"), [(0.0, 0.0), (40.0, 0.0), (-90.0, 0.0),
                                                    (-175.0, 0.0), (30.0, 20.0), (0.0, 90.0)])
@pytest.mark.parametrize("neighbours", [1, 3, 6])
def test_interpolation_at_a_measured_direction_is_exact(
    kemar: HRTFSet, azimuth: float, elevation: float, neighbours: int
) -> None:
    i = _index(kemar, azimuth, elevation)
    out = kemar.interpolate(np.array([azimuth]), np.array([elevation]), neighbours)
    np.testing.assert_array_equal(out[0], kemar.ir[i])


@pytest.mark.parametrize("neighbours", [1, 2, 3, 5])
def test_interpolation_weights_sum_to_one(kemar: HRTFSet, neighbours: int) -> None:
    rng = np.random.default_rng(1)
    azimuth = rng.uniform(-180.0, 180.0, 50)
    elevation = rng.uniform(-40.0, 90.0, 50)
    idx, w = kemar.interpolation_weights(azimuth, elevation, neighbours)
    assert idx.shape == w.shape == (50, neighbours)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert np.all(w > 0)
    # Nearer measurements weigh more.
    assert np.all(np.diff(w, axis=1) <= 1e-12)


def test_interpolation_blends_the_two_neighbours(kemar: HRTFSet) -> None:
    a, b = _index(kemar, 40.0, 0.0), _index(kemar, 45.0, 0.0)
    idx, w = kemar.interpolation_weights(np.array([41.0]), np.array([0.0]), neighbours=2)
    assert set(idx[0]) == {a, b}
    np.testing.assert_allclose(w[0][list(idx[0]).index(a)], 0.8)
    out = kemar.interpolate(np.array([41.0]), np.array([0.0]), neighbours=2)[0]
    np.testing.assert_allclose(out, 0.8 * kemar.ir[a] + 0.2 * kemar.ir[b], atol=1e-6)


@pytest.mark.parametrize(("pair", "fraction"), [
    ((40.0, 45.0), 0.2), ((40.0, 45.0), 0.5), ((40.0, 45.0), 0.8),
    ((0.0, 5.0), 0.5), ((85.0, 90.0), 0.3), ((-25.0, -20.0), 0.6),
])
def test_interpolated_energy_lies_between_neighbours(
    kemar: HRTFSet, pair: tuple[float, float], fraction: float
) -> None:
    sos = butter(4, LOW_BAND_HZ, fs=kemar.sample_rate, output="sos")

    def low_energy(ir: np.ndarray) -> np.ndarray:
        return _energy(sosfilt(sos, np.asarray(ir, dtype=np.float64), axis=-1))

    a, b = _index(kemar, pair[0], 0.0), _index(kemar, pair[1], 0.0)
    azimuth = pair[0] + fraction * (pair[1] - pair[0])
    out = kemar.interpolate(np.array([azimuth]), np.array([0.0]), neighbours=2)[0]
    e, ea, eb = low_energy(out), low_energy(kemar.ir[a]), low_energy(kemar.ir[b])
    tol = 10 ** (ENERGY_TOL_DB / 10)
    for ear in (LEFT, RIGHT):
        assert min(ea[ear], eb[ear]) / tol <= e[ear] <= max(ea[ear], eb[ear]) * tol
    assert not np.allclose(e, ea) and not np.allclose(e, eb)  # a blend, not a pick


@pytest.mark.xfail(strict=True, reason=(
    "known limitation: a linear time-domain blend of HRIRs whose onsets differ comb-filters "
    "the high band; broadband energy dips below both neighbours (about 0.2 dB at 40/45 deg, "
    "up to 1.5 dB at elevation 50)"))
def test_interpolated_broadband_energy_lies_between_neighbours(kemar: HRTFSet) -> None:
    a, b = _index(kemar, 40.0, 0.0), _index(kemar, 45.0, 0.0)
    out = kemar.interpolate(np.array([42.5]), np.array([0.0]), neighbours=2)[0]
    e, ea, eb = _energy(out), _energy(kemar.ir[a]), _energy(kemar.ir[b])
    assert np.all((np.minimum(ea, eb) <= e) & (e <= np.maximum(ea, eb)))


@pytest.mark.parametrize(("query", "expected"), [
    ((41.0, 1.0), (40.0, 0.0)),
    ((-43.0, -1.0), (-45.0, 0.0)),
    ((0.0, 88.0), (0.0, 90.0)),
    ((179.0, 0.0), (180.0, 0.0)),
    ((-179.0, 0.0), (180.0, 0.0)),  # across the +-180 seam
    ((92.0, 12.0), (90.0, 10.0)),
])
def test_nearest_picks_the_closest_measurement(
    kemar: HRTFSet, query: tuple[float, float], expected: tuple[float, float]
) -> None:
    i = kemar.nearest(*query)
    got = (kemar.azimuth_deg[i], kemar.elevation_deg[i])
    assert np.isclose(np.cos(np.radians(got[0] - expected[0])), 1.0)
    assert got[1] == pytest.approx(expected[1])
