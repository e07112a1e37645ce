"""Which measured directions of an HRTF set are nearest to a direction, the same on every CPU.

Ties are common, not rare: trajectories start on round angles and the measured grids are
regular, so a direction half-way between two rings (or two azimuths) is equally far from
both. Deciding such a tie by the last bit of a dot product picks, for a direction and its
mirror image, neighbours that are not mirror images of each other, and picks differently
on another CPU: the BLAS kernel and its split over threads change that bit.

So distances are computed elementwise, in a form that is exact under azimuth -> -azimuth
(the left coordinate enters squared, after an exact negation), distances within
TIE_TOLERANCE of each other count as equal, and ties go by an explicit key that a mirror
image keeps: smaller |azimuth| first, then lower elevation, then azimuth (which decides
only between a measurement and its own mirror image, for a direction on the median plane,
whose mirror image is itself).
"""

from __future__ import annotations

import numpy as np

# Squared chord on the unit sphere under which two distances are one: about 1e-11 rad of
# angle at 5 deg apart, far above rounding (~1e-16) and far below any grid spacing.
TIE_TOLERANCE = 1e-12


def squared_chords(targets: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """|t - g|^2 (D, M) between unit vectors targets (D, 3) and grid (M, 3), as
    (forward, left, up); summed in a fixed order, so mirror images give equal values."""
    d2 = np.square(np.subtract.outer(targets[:, 0], grid[:, 0]))
    term = np.square(np.subtract.outer(targets[:, 2], grid[:, 2]))
    d2 += term
    np.square(np.subtract.outer(targets[:, 1], grid[:, 1], out=term), out=term)
    d2 += term
    return d2


def nearest_indices(
    targets: np.ndarray,
    grid: np.ndarray,
    azimuth_deg: np.ndarray,
    elevation_deg: np.ndarray,
    count: int,
    tolerance: float = TIE_TOLERANCE,
) -> np.ndarray:
    """Indices (D, count) of the `count` grid directions nearest to each target, nearest first.

    Args:
        targets: (D, 3) unit vectors of the wanted directions.
        grid: (M, 3) unit vectors of the measured directions.
        azimuth_deg, elevation_deg: (M,) the measured directions, for the tie-break key.
        count: neighbours per target, 1 <= count <= M.
        tolerance: squared chords closer than this are a tie.
    """
    m = grid.shape[0]
    if not 1 <= count <= m:
        raise ValueError(f"count must be in 1..{m}, got {count}")
    d2 = squared_chords(np.asarray(targets, dtype=np.float64), np.asarray(grid, dtype=np.float64))
    width = min(m, count + 4)
    while True:
        # The `width` nearest (in no particular order), then sorted by distance.
        cand = (np.argpartition(d2, width - 1, axis=1)[:, :width] if width < m
                else np.broadcast_to(np.arange(m), d2.shape))
        dist = np.take_along_axis(d2, cand, axis=1)
        by_distance = np.argsort(dist, axis=1, kind="stable")
        cand = np.take_along_axis(cand, by_distance, axis=1)
        dist = np.take_along_axis(dist, by_distance, axis=1)
        # Distance class: a new one starts after a gap above tolerance.
        klass = np.concatenate([np.zeros((d2.shape[0], 1), dtype=np.int64),
                                np.cumsum(np.diff(dist, axis=1) > tolerance, axis=1)], axis=1)
        # Every class up to the count-th entry's must lie wholly among the candidates.
        if width == m or np.all(klass[:, -1] > klass[:, count - 1]):
            break
        width = min(m, 2 * width)
    azimuth = np.asarray(azimuth_deg, dtype=np.float64)[cand]
    elevation = np.asarray(elevation_deg, dtype=np.float64)[cand]
    # Keys, last one first; the index only orders duplicated measurements.
    order = np.lexsort((cand, azimuth, elevation, np.abs(azimuth), klass), axis=-1)
    return np.take_along_axis(cand, order[:, :count], axis=1)
