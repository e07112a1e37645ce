"""Measured HRTF sets (SOFA): loading, level normalisation and interpolation."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from binaural.constants import LEFT, RIGHT
from binaural.io.outputs import file_sha256
from binaural.spatial.hrtf_neighbours import nearest_indices

SOFA_CONVENTION = "SimpleFreeFieldHRIR"  # head-related impulse responses, free field


@dataclass(frozen=True)
class HRTFSet:
    """Head-related impulse responses at measured directions.

    Attributes:
        ir: (M, 2, N) float32 impulse responses, ear 0 left, 1 right.
        azimuth_deg, elevation_deg: (M,) measured directions (SOFA convention).
        sample_rate: rate of `ir`.
        name: file stem, for reports.
        digest: content hash of the source file, for provenance.
    """

    ir: np.ndarray
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    sample_rate: int
    name: str
    digest: str

    @property
    def taps(self) -> int:
        return self.ir.shape[-1]

    @property
    def unit_vectors(self) -> np.ndarray:
        return direction_vectors(self.azimuth_deg, self.elevation_deg)

    def nearest(self, azimuth_deg: float, elevation_deg: float) -> int:
        """Index of the measured direction closest to the given one (ties: see
        binaural.hrtf_neighbours)."""
        target = direction_vectors(np.atleast_1d(azimuth_deg), np.atleast_1d(elevation_deg))
        return int(self._nearest(target[:1], 1)[0, 0])

    def _nearest(self, targets: np.ndarray, count: int) -> np.ndarray:
        return nearest_indices(targets, self.unit_vectors, self.azimuth_deg,
                               self.elevation_deg, count)

    def interpolation_weights(
        self, azimuth_deg: np.ndarray, elevation_deg: np.ndarray, neighbours: int = 3
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inverse-angular-distance weights over the `neighbours` nearest measurements.

        Returns (indices, weights), each (D, neighbours); weights sum to 1. A direction
        that coincides with a measurement gets that measurement alone. The neighbours are
        chosen without floating-point ties (binaural.hrtf_neighbours): a direction and its
        mirror image get mirrored neighbours on every CPU.
        """
        target = direction_vectors(np.atleast_1d(azimuth_deg), np.atleast_1d(elevation_deg))
        cosines = np.clip(target @ self.unit_vectors.T, -1.0, 1.0)  # (D, M)
        idx = self._nearest(target, neighbours)
        angles = np.arccos(np.take_along_axis(cosines, idx, axis=1))
        exact = angles < 1e-6
        w = 1.0 / np.maximum(angles, 1e-6)
        w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), w)
        w /= w.sum(axis=1, keepdims=True)
        return idx, w

    def interpolate(
        self, azimuth_deg: np.ndarray, elevation_deg: np.ndarray, neighbours: int = 3
    ) -> np.ndarray:
        """HRIRs (D, 2, N) at arbitrary directions."""
        idx, w = self.interpolation_weights(azimuth_deg, elevation_deg, neighbours)
        return np.einsum("dk,dkcn->dcn", w, self.ir[idx]).astype(np.float32)


def direction_vectors(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """Unit vectors (D, 3) as (forward, left, up) for SOFA angles."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def normalise_frontal(ir: np.ndarray, azimuth_deg: np.ndarray, elevation_deg: np.ndarray):
    """Scale a set so that the frontal HRIR energy, averaged over both ears, is 1.

    The shipped sets differ by more than 12 dB; without this the renderer's level
    would depend on which head it uses.
    """
    vectors = direction_vectors(azimuth_deg, elevation_deg)
    front = int(np.argmax(vectors[:, 0]))
    energy = 0.5 * (np.sum(ir[front, LEFT] ** 2) + np.sum(ir[front, RIGHT] ** 2))
    if energy <= 0:
        raise ValueError("frontal HRIR is silent; cannot normalise")
    return ir / np.sqrt(energy)


def load_sofa(path: str | Path, sample_rate: int) -> HRTFSet:
    """Read a SOFA file (SimpleFreeFieldHRIR), resample and normalise it.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: one line naming the file and the problem (check_sofa's).
    """
    from scipy.signal import resample_poly  # ~1 s of imports: not for check_sofa's callers

    path = Path(path)
    ir, azimuth, elevation, source_rate = _read_sofa(path)
    if source_rate != sample_rate:
        g = gcd(sample_rate, source_rate)
        ir = resample_poly(ir, sample_rate // g, source_rate // g, axis=-1)
    ir = normalise_frontal(ir, azimuth, elevation)
    azimuth = (azimuth + 180.0) % 360.0 - 180.0
    return HRTFSet(
        ir=ir.astype(np.float32),
        azimuth_deg=azimuth,
        elevation_deg=elevation,
        sample_rate=sample_rate,
        name=path.stem,
        digest=file_sha256(path)[:16],
    )


def check_sofa(path: str | Path) -> None:
    """Raise what load_sofa would for a file that is no usable HRIR set, without
    resampling it (a driver checks a head before any worker loads it).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: one line naming the file and the problem: not a SOFA file, another
            convention than SimpleFreeFieldHRIR, not an HRIR set with two receivers, or
            a silent frontal response.
    """
    ir, azimuth, elevation, _ = _read_sofa(Path(path))
    normalise_frontal(ir, azimuth, elevation)


def _read_sofa(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(M, 2, N) impulse responses, azimuth and elevation (deg) and sampling rate of a
    SOFA file, checked (check_sofa)."""
    import sofar  # heavy import kept local: only loading needs it

    if not path.is_file():
        raise FileNotFoundError(f"{path}: HRTF file not found")
    try:
        sofa = sofar.read_sofa(str(path), verify=False, verbose=False)
    except Exception as exc:  # noqa: BLE001 - netCDF/HDF5 errors of any kind: not SOFA
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path}: not a readable SOFA file ({reason})") from exc
    convention = str(getattr(sofa, "GLOBAL_SOFAConventions", "") or "none")
    if convention != SOFA_CONVENTION:
        raise ValueError(f"{path}: SOFA convention {convention}; an HRIR set in the "
                         f"{SOFA_CONVENTION} convention is needed")
    ir = np.asarray(sofa.Data_IR, dtype=np.float64)
    if ir.ndim != 3 or ir.shape[1] != 2:
        raise ValueError(f"{path}: expected Data.IR of shape (M, 2, N), got {ir.shape}")
    positions = np.asarray(sofa.SourcePosition, dtype=np.float64)
    position_type = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
    if position_type.startswith("cartesian"):
        x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
        azimuth = np.degrees(np.arctan2(y, x))
        elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
    else:
        azimuth, elevation = positions[:, 0], positions[:, 1]
    return ir, azimuth, elevation, int(round(float(np.squeeze(sofa.Data_SamplingRate))))

