"""Interaural cue errors against a reference, and direction tables measured from a head.

Time-frequency cue errors (DESIGN.md section 5): per STFT bin of the Richard et al. STFT at
48 kHz (binaural.eval.spectral.richard_stft; 2048 bins of 23.4 Hz, 40 ms window, 10 ms hop; edges
zero-padded), chosen
over the 16 kHz FAIR-Play STFT because it resolves the IPD band (100-1500 Hz: 60 bins, not
45) and covers the head shadow up to 24 kHz, not 8 kHz. Each bin is weighted by the
reference's energy |L_ref|^2 + |R_ref|^2, so the errors are those of what is heard.

Measured tables: the ITD and band-weighted ILD that this project's estimators (metrics.
gcc_phat_itd, metrics.band_weighted_ild_db) read off noise rendered with an HRTF set's
horizontal-plane HRIRs, per azimuth 0..90 deg, and their inverses (cue -> azimuth).

Conventions as in metrics.py: (2, N) signals, ear 0 left; + azimuth = left; + ILD = left
louder; + IPD / ITD = left leads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from binaural.constants import LEFT, RIGHT
from binaural.eval.config import EvaluateConfig
from binaural.eval.direction import (
    DirectionTrack,
    band_weighted_ild_db,
    direction_error_deg,
    gcc_phat_itd,
)
from binaural.eval.spectral import floored_power, richard_pair, richard_stft
from binaural.spatial.hrtf import HRTFSet

# Per-bin ear powers are floored this far below the signal's own mean bin power in the
# analysed band (per signal, so the errors do not depend on the prediction's overall gain).
CUE_FLOOR_REL_DB = -60.0
# The edge frames are zero-padded: mirroring (torch's default) reverses time in the padding,
# which flips the sign of every interaural phase difference there.
CUE_PAD_MODE = "constant"
# The tables: azimuths measured (deg) and the noise that probes the head.
TABLE_AZIMUTHS_DEG: tuple[float, ...] = tuple(float(a) for a in range(0, 91, 10))
PROBE_SEED = 0
PROBE_S = 0.25  # one direction_track window: the estimators see what they see in use


def _band_spectra(
    pred: np.ndarray, ref: np.ndarray, sample_rate: int, cfg: EvaluateConfig,
    low_hz: float, high_hz: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both signals' STFTs (2, T, F_band) restricted to low_hz <= f <= high_hz (below
    Nyquist), and the reference's energy per bin (T, F_band)."""
    pred, ref = richard_pair(pred, ref, sample_rate, cfg)
    spec_pred, freqs_hz = richard_stft(pred, cfg.richard_sample_rate, cfg, CUE_PAD_MODE)
    spec_ref, _ = richard_stft(ref, cfg.richard_sample_rate, cfg, CUE_PAD_MODE)
    band = (freqs_hz >= low_hz) & (freqs_hz <= high_hz) & (freqs_hz < freqs_hz[-1])
    spec_pred, spec_ref = spec_pred[..., band], spec_ref[..., band]
    weight = np.abs(spec_ref[LEFT]) ** 2 + np.abs(spec_ref[RIGHT]) ** 2
    return spec_pred, spec_ref, weight


def _weighted_mean(values: np.ndarray, weight: np.ndarray) -> float:
    total = float(weight.sum())
    return float((values * weight).sum() / total) if total > 0.0 else float("nan")


def tf_ild_db(spectrum: np.ndarray) -> np.ndarray:
    """Per-bin ILD 10 log10(|L|^2 / |R|^2) (dB) of a (2, T, F) spectrum, both ears floored
    CUE_FLOOR_REL_DB below the spectrum's mean bin power (a bin silent in both ears: 0 dB)."""
    power = floored_power(spectrum, CUE_FLOOR_REL_DB)
    return 10.0 * np.log10(power[LEFT] / power[RIGHT])


def tf_ild_error_db(
    pred: np.ndarray, ref: np.ndarray, sample_rate: int, cfg: EvaluateConfig
) -> float:
    """TF-ILD error (dB): mean of |ILD_pred - ILD_ref| over the bins at or above
    cfg.tf_ild_min_hz, each bin weighted by the reference's energy; NaN for a silent
    reference. The reference itself scores 0; a mono copy scores the reference's mean |ILD|.
    """
    spec_pred, spec_ref, weight = _band_spectra(
        pred, ref, sample_rate, cfg, cfg.tf_ild_min_hz, np.inf
    )
    return _weighted_mean(np.abs(tf_ild_db(spec_pred) - tf_ild_db(spec_ref)), weight)


def tf_ipd_error_rad(
    pred: np.ndarray, ref: np.ndarray, sample_rate: int, cfg: EvaluateConfig
) -> float:
    """TF-IPD error (rad): mean of the wrapped |IPD_pred - IPD_ref| in [0, pi] over the bins
    in cfg.tf_ipd_band_hz, each weighted by the reference's energy; NaN for a silent
    reference. IPD = angle(L conj R); a bin with an ear exactly zero (or a mono copy) has
    IPD 0.
    """
    low_hz, high_hz = cfg.tf_ipd_band_hz
    spec_pred, spec_ref, weight = _band_spectra(pred, ref, sample_rate, cfg, low_hz, high_hz)
    cross_pred = spec_pred[LEFT] * np.conj(spec_pred[RIGHT])
    cross_ref = spec_ref[LEFT] * np.conj(spec_ref[RIGHT])
    # angle(a conj b) is the wrapped difference of the two IPDs.
    return _weighted_mean(np.abs(np.angle(cross_pred * np.conj(cross_ref))), weight)


# ---------------------------------------------------------------- measured tables


@dataclass(frozen=True)
class AzimuthTable:
    """A lateral cue (ITD in s or ILD in dB) measured per azimuth 0..90 deg, and its inverse.

    Attributes:
        azimuth_deg: Measured azimuths (deg), increasing from 0, shape (K,).
        cue: The cue at each azimuth (left side positive), shape (K,); antisymmetrised,
            (cue(+a) - cue(-a)) / 2, so a head louder or earlier in one ear at the front
            maps to 0 deg at 0 cue.
        unit: "s" or "dB".
    """

    azimuth_deg: np.ndarray
    cue: np.ndarray
    unit: str

    def to_azimuth_deg(self, cue: np.ndarray | float) -> np.ndarray:
        """Azimuth (deg, +left) of a cue value, by linear interpolation in the table.

        Only the rising part of the table up to its largest cue is invertible: beyond it
        (an ILD that falls again towards 90 deg, or a cue larger than any measured) the
        azimuth is clamped to the azimuth of the largest cue.
        """
        peak = int(np.argmax(self.cue))
        cues, azimuths = [self.cue[0]], [self.azimuth_deg[0]]
        for value, azimuth in zip(self.cue[1 : peak + 1], self.azimuth_deg[1 : peak + 1]):
            if value > cues[-1]:  # np.interp needs strictly increasing abscissae
                cues.append(value)
                azimuths.append(azimuth)
        values = np.asarray(cue, dtype=np.float64)
        return np.sign(values) * np.interp(np.abs(values), cues, azimuths)


def _probe_ears(hrtf: HRTFSet, azimuth_deg: float, noise: np.ndarray) -> np.ndarray:
    """Noise filtered by the measured HRIR nearest (azimuth_deg, 0 deg), steady part only."""
    ir = hrtf.ir[hrtf.nearest(azimuth_deg, 0.0)].astype(np.float64)  # (2, taps)
    ears = np.stack([fftconvolve(noise, ir[ear]) for ear in (LEFT, RIGHT)])
    return ears[:, hrtf.taps : noise.size]  # drop the filter's onset and tail


def _measure(hrtf: HRTFSet, measure_one, unit: str, azimuths_deg) -> AzimuthTable:
    rng = np.random.default_rng(PROBE_SEED)
    noise = rng.standard_normal(int(round(PROBE_S * hrtf.sample_rate)) + hrtf.taps)
    cues = []
    for azimuth in azimuths_deg:
        left_side = measure_one(_probe_ears(hrtf, azimuth, noise))
        right_side = measure_one(_probe_ears(hrtf, -azimuth, noise))
        cues.append(0.5 * (left_side - right_side))
    return AzimuthTable(np.asarray(azimuths_deg, dtype=np.float64), np.asarray(cues), unit)


def measure_itd_table(
    hrtf: HRTFSet, cfg: EvaluateConfig, azimuths_deg: tuple[float, ...] = TABLE_AZIMUTHS_DEG
) -> AzimuthTable:
    """Low-band ITD (s) per azimuth, read by metrics.gcc_phat_itd (cfg's band, PHAT beta and
    search range) off PROBE_S of white noise filtered by the set's horizontal-plane HRIRs
    (the measured direction nearest each azimuth at 0 deg elevation)."""

    def itd(ears: np.ndarray) -> float:
        return gcc_phat_itd(ears[LEFT], ears[RIGHT], hrtf.sample_rate, band_hz=cfg.itd_band_hz,
                            beta=cfg.phat_beta, max_itd_s=cfg.max_itd_s)[0]

    return _measure(hrtf, itd, "s", azimuths_deg)


def measure_ild_table(
    hrtf: HRTFSet, azimuths_deg: tuple[float, ...] = TABLE_AZIMUTHS_DEG
) -> AzimuthTable:
    """Band-weighted ILD (dB) per azimuth, read by metrics.band_weighted_ild_db (the ILD of
    direction_track) off white noise filtered by the set's horizontal-plane HRIRs.

    The ILD of a real source depends on its spectrum (the weights of the bands); the table
    is the white-noise one."""

    def ild(ears: np.ndarray) -> float:
        return band_weighted_ild_db(ears[LEFT], ears[RIGHT], hrtf.sample_rate)

    return _measure(hrtf, ild, "dB", azimuths_deg)


def ild_direction_track(track: DirectionTrack, ild_table: AzimuthTable) -> DirectionTrack:
    """The same windows with the azimuth read from their band-weighted ILD instead of the ITD."""
    return dataclasses.replace(track, azimuth_deg=ild_table.to_azimuth_deg(track.ild_db))


def itd_ild_mismatch_deg(track: DirectionTrack, ild_table: AzimuthTable) -> float | None:
    """Median |azimuth from the ITD - azimuth from the ILD| (deg) over the track's valid
    windows, the ILD read through ild_table: how far an output's two lateral cues disagree
    (a per-band blend of two directions is heard as a smeared image). Reference-free; None
    when no window is valid."""
    valid = np.asarray(track.valid, bool)
    by_ild = ild_table.to_azimuth_deg(track.ild_db)
    errors = np.abs(track.azimuth_deg - by_ild)[valid]
    return float(np.median(errors)) if errors.size else None


def median_direction_error_deg(
    track: DirectionTrack, reference_azimuth_deg: np.ndarray
) -> float | None:
    """Median |azimuth heard - azimuth seen| (deg) over the track's valid windows.

    Args:
        track: Direction track of a binaural signal.
        reference_azimuth_deg: The seen azimuth at each window centre, shape (W,); NaN
            where there is none (no visible source): those windows are not scored.

    Returns:
        The median error (the reference folded onto the lateral angle, as an ITD or ILD
        cannot tell front from back), or None when no window qualifies.
    """
    reference = np.asarray(reference_azimuth_deg, dtype=np.float64)
    if reference.shape != track.times_s.shape:
        raise ValueError(f"one reference azimuth per window expected: {reference.shape}")
    known = ~np.isnan(reference)
    masked = dataclasses.replace(track, valid=np.asarray(track.valid, bool) & known)
    errors = direction_error_deg(masked, track.times_s, np.where(known, reference, 0.0))
    return float(np.median(errors)) if errors.size else None
