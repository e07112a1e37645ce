"""Neighbour selection: exact ties (a direction half-way between measurements) are decided by
an explicit key, so a direction and its mirror image get mirrored neighbours on every CPU."""

from dataclasses import replace

import numpy as np
import pytest

from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet, direction_vectors
from binaural.spatial.hrtf_neighbours import nearest_indices, squared_chords

SONICOM_1 = "pkg:spatialaudiometrics/example_sofa_1.sofa"


@pytest.fixture(scope="module")
def sonicom(sample_rate: int) -> HRTFSet:
    return load_heads([SONICOM_1], sample_rate)[0]


def _mirror_index(hrtf: HRTFSet) -> np.ndarray:
    """Index of each measurement's mirror image (azimuth -> -azimuth), -1 where none."""
    az, el = hrtf.azimuth_deg, hrtf.elevation_deg
    out = np.full(az.size, -1)
    for i in range(az.size):
        gap = np.abs((az + az[i] + 180.0) % 360.0 - 180.0) + np.abs(el - el[i])
        j = int(np.argmin(gap))
        out[i] = j if gap[j] < 1e-9 else -1
    return out


def _ties(hrtf: HRTFSet) -> tuple[np.ndarray, np.ndarray]:
    """Directions exactly between measured ones, off the median plane and the poles:
    half-way along each ring, half-way between rings, and the centre of each cell."""
    az, el = [], []
    rings = np.unique(hrtf.elevation_deg)
    for lower, upper in zip(rings[:-1], rings[1:]):
        ring = np.sort(hrtf.azimuth_deg[hrtf.elevation_deg == lower])
        mids = 0.5 * (ring[:-1] + ring[1:])
        for a, e in [(mids, lower), (ring, 0.5 * (lower + upper)), (mids, 0.5 * (lower + upper))]:
            az.append(a)
            el.append(np.full(a.size, e))
    az, el = np.concatenate(az), np.concatenate(el)
    keep = (np.abs(np.abs(az) % 180.0) > 1e-9) & (np.abs(el) < 85.0)
    return az[keep], el[keep]


@pytest.mark.parametrize("head", ["kemar", "sonicom"])
def test_the_measured_grids_are_mirror_symmetric(head: str, request) -> None:
    """What the mirror tests assume: every measurement has its mirror image in the set."""
    assert np.all(_mirror_index(request.getfixturevalue(head)) >= 0)


def test_squared_chords_are_exact_under_mirroring(kemar: HRTFSet) -> None:
    rng = np.random.default_rng(0)
    targets = direction_vectors(rng.uniform(-180, 180, 300), rng.uniform(-40, 90, 300))
    flip = np.array([1.0, -1.0, 1.0])
    grid = kemar.unit_vectors
    np.testing.assert_array_equal(squared_chords(targets * flip, grid * flip),
                                  squared_chords(targets, grid))


@pytest.mark.parametrize("head", ["kemar", "sonicom"])
@pytest.mark.parametrize("neighbours", [1, 2, 3, 4])
def test_mirrored_ties_pick_mirrored_neighbours_with_mirrored_weights(
    head: str, neighbours: int, request
) -> None:
    hrtf = request.getfixturevalue(head)
    mirror = _mirror_index(hrtf)
    az, el = _ties(hrtf)
    assert az.size > 100
    idx, w = hrtf.interpolation_weights(az, el, neighbours)
    idx_m, w_m = hrtf.interpolation_weights(-az, el, neighbours)
    np.testing.assert_array_equal(mirror[idx], idx_m)
    np.testing.assert_allclose(w_m, w, rtol=0, atol=1e-9)


def test_a_tie_goes_to_the_smaller_absolute_azimuth_then_the_lower_ring(kemar: HRTFSet) -> None:
    """(50, -5) is equally far from (50, -10) and (50, 0), and from 45 and 55 on a ring."""
    for sign in (1.0, -1.0):
        idx, w = kemar.interpolation_weights(np.array([sign * 50.0]), np.array([-5.0]), 3)
        picked = [(float(kemar.azimuth_deg[i]), float(kemar.elevation_deg[i])) for i in idx[0]]
        assert picked == [(sign * 50.0, -10.0), (sign * 50.0, 0.0), (sign * 45.0, -10.0)]
        assert w[0, 0] == pytest.approx(w[0, 1], rel=1e-12)


def test_the_pick_does_not_depend_on_the_order_of_the_measurements(kemar: HRTFSet) -> None:
    """A tie broken by position in the file (or by sort order) fails here."""
    perm = np.random.default_rng(3).permutation(kemar.azimuth_deg.size)
    shuffled = replace(kemar, ir=kemar.ir[perm], azimuth_deg=kemar.azimuth_deg[perm],
                       elevation_deg=kemar.elevation_deg[perm])
    az, el = _ties(kemar)
    idx, _ = kemar.interpolation_weights(az, el, 3)
    idx_s, _ = shuffled.interpolation_weights(az, el, 3)
    np.testing.assert_array_equal(perm[idx_s], idx)
    assert all(kemar.nearest(a, e) == perm[shuffled.nearest(a, e)] for a, e in zip(az, el))


def test_a_direction_gets_the_same_neighbours_alone_or_in_a_batch(kemar: HRTFSet) -> None:
    """Matrix products change their last bit with the batch's size (BLAS kernels and
    threads); the selection must not."""
    az, el = _ties(kemar)
    batch, _ = kemar.interpolation_weights(az, el, 3)
    for i in range(0, az.size, 37):
        alone, _ = kemar.interpolation_weights(az[i : i + 1], el[i : i + 1], 3)
        np.testing.assert_array_equal(alone[0], batch[i])


def test_nearest_indices_refuses_an_impossible_count(kemar: HRTFSet) -> None:
    grid = kemar.unit_vectors
    for count in (0, grid.shape[0] + 1):
        with pytest.raises(ValueError, match="count"):
            nearest_indices(grid[:1], grid, kemar.azimuth_deg, kemar.elevation_deg, count)


def test_a_tie_wider_than_the_first_candidates_is_still_decided_by_the_key() -> None:
    """The pole of a ring: all of a ring's measurements are equally far (more of them than
    the first candidates looked at); the smallest |azimuth| wins, the same for -azimuth."""
    ring = np.arange(-180.0, 180.0, 15.0)
    az = np.concatenate([ring, [0.0]])
    el = np.concatenate([np.full(ring.size, 60.0), [90.0]])
    grid = direction_vectors(az, el)
    below = direction_vectors(np.array([0.0]), np.array([-90.0]))  # equidistant from the ring
    idx = nearest_indices(below, grid, az, el, 3)[0]
    assert [az[i] for i in idx] == [0.0, -15.0, 15.0]
