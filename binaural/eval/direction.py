"""Reference-free direction cues of binaural outputs (shared/research/ANCHORS.md):
GCC-PHAT-beta ITD turned into an azimuth through a measured table, band-weighted ILD,
collapse score. The distances against a reference are in binaural.eval.distances.

Binaural signals are arrays of shape (2, N): index 0 the left ear, 1 the right ear. Azimuth
follows SOFA: 0 deg ahead, +90 deg to the listener's left. A positive ITD means the left ear
leads; a positive ILD means the left ear is louder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import get_window

from binaural.constants import LEFT, RIGHT
from binaural.eval.config import EvaluateConfig

# Measured low-band ITD (150-1500 Hz) at azimuth 0..90 deg in 10 deg steps; three heads agree
# within ~20 us (DESIGN.md section 5). Woodworth's formula overstates side angles in this band.
ITD_TABLE_US: tuple[float, ...] = (
    0.0,
    84.0,
    179.0,
    273.0,
    373.0,
    492.0,
    607.0,
    668.0,
    700.0,
    711.0,
)
_TABLE_AZIMUTH_DEG = np.arange(len(ITD_TABLE_US), dtype=np.float64) * 10.0
_TABLE_ITD_S = np.asarray(ITD_TABLE_US, dtype=np.float64) * 1e-6

# GCC-PHAT: zero-padding factor of the correlation (lag step 1 / (factor * sample_rate)) and
# the level, relative to the band's strongest cross-spectrum bin, below which a bin is empty.
GCC_UPSAMPLE = 4
GCC_EMPTY_BIN_REL = 1e-3
# A window whose normalised GCC peak is below this is not trusted for direction. Measured on
# KEMAR renders: one source 0.95-1.0, two equal sources ~0.4, independent ear noise 0.1-0.15.
MIN_PEAK_STRENGTH = 0.3
# ILD bands (Hz) of ANCHORS.md at and above 1.5 kHz, where the head shadow carries the cue;
# the per-band ILDs are averaged with the band energies (L + R) as weights.
ILD_BANDS_HZ: tuple[tuple[float, float], ...] = (
    (1500.0, 3000.0),
    (3000.0, 6000.0),
    (6000.0, 11000.0),
)
# Keeps logarithms of silent signals finite; far below any real signal energy.
_ENERGY_EPS = 1e-20


@dataclass(frozen=True)
class DirectionTrack:
    """Per-window direction cues of a binaural signal.

    Attributes:
        times_s: Window centres (s), shape (W,).
        azimuth_deg: Azimuth from the ITD (deg, +left), shape (W,).
        itd_s: ITD (s, + when the left ear leads), shape (W,).
        ild_db: Band-weighted ILD (dB, + when the left ear is louder), shape (W,).
        valid: Windows loud and coherent enough to trust, bool, shape (W,).
    """

    times_s: np.ndarray
    azimuth_deg: np.ndarray
    itd_s: np.ndarray
    ild_db: np.ndarray
    valid: np.ndarray


def _fold_to_front_deg(azimuth_deg: np.ndarray) -> np.ndarray:
    """Map azimuths onto the lateral angle in [-90, 90]: ITD cannot tell front from back."""
    wrapped = (np.asarray(azimuth_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
    return np.where(
        wrapped > 90.0, 180.0 - wrapped, np.where(wrapped < -90.0, -180.0 - wrapped, wrapped)
    )


def itd_to_azimuth_deg(itd_s: np.ndarray | float) -> np.ndarray:
    """Azimuth (deg, +left) from an ITD (s, +left leads) through ITD_TABLE_US.

    Beyond the table's last point (711 us) the azimuth is clamped to +-90 deg.
    """
    itd = np.asarray(itd_s, dtype=np.float64)
    return np.sign(itd) * np.interp(np.abs(itd), _TABLE_ITD_S, _TABLE_AZIMUTH_DEG)


def azimuth_to_itd_s(azimuth_deg: np.ndarray | float) -> np.ndarray:
    """ITD (s, +left leads) of an azimuth (deg, +left); rear azimuths fold onto the front."""
    lateral = _fold_to_front_deg(azimuth_deg)
    return np.sign(lateral) * np.interp(np.abs(lateral), _TABLE_AZIMUTH_DEG, _TABLE_ITD_S)


def gcc_phat_itd(
    left: np.ndarray,
    right: np.ndarray,
    sample_rate: int,
    band_hz: tuple[float, float] = (150.0, 1500.0),
    beta: float = 0.75,
    max_itd_s: float = 0.001,
) -> tuple[float, float]:
    """Interaural time difference by GCC-PHAT-beta.

    The Hann-windowed cross spectrum X_L conj(X_R) is divided by |X_L X_R|^beta, kept only in
    band_hz and where it is not empty (>= GCC_EMPTY_BIN_REL of the band's maximum: between the
    harmonics of a tonal source, a noise floor or leakage common to both ears would pull plain
    PHAT towards zero lag), zero-padded for resolution, and its peak searched within
    +-max_itd_s with parabolic interpolation.

    Args:
        left: Left-ear samples, shape (N,).
        right: Right-ear samples, shape (N,).
        sample_rate: Sample rate (Hz).
        band_hz: Frequency band (Hz) used for the correlation.
        beta: PHAT exponent (1 = plain PHAT, 0 = plain cross-correlation).
        max_itd_s: Largest |ITD| searched (s).

    Returns:
        (itd_s, peak_strength): itd_s > 0 when the left channel leads; peak_strength is the
        correlation peak normalised so that a perfectly coherent delayed pair gives 1.
        A silent pair gives (0.0, 0.0).
    """
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    if left.shape != right.shape or left.ndim != 1 or left.size == 0:
        raise ValueError(
            f"left and right must be equal non-empty 1-D arrays, got {left.shape} and {right.shape}"
        )
    n_fft = 1 << int(np.ceil(np.log2(2 * left.size)))  # linear, not circular, correlation
    window = get_window("hann", left.size, fftbins=False) if left.size > 1 else np.ones(1)
    spec_left = np.fft.rfft(left * window, n_fft)
    spec_right = np.fft.rfft(right * window, n_fft)
    cross = spec_left * np.conj(spec_right)  # (n_fft // 2 + 1,)
    freqs_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    in_band = (freqs_hz >= band_hz[0]) & (freqs_hz <= band_hz[1]) & (freqs_hz > 0.0)
    in_band &= freqs_hz < sample_rate / 2.0  # DC and Nyquist would break the normalisation
    magnitude = np.abs(cross)
    band_max = float(magnitude[in_band].max()) if in_band.any() else 0.0
    if band_max <= 0.0:
        return 0.0, 0.0
    keep = in_band & (magnitude >= GCC_EMPTY_BIN_REL * band_max)
    weighted = np.where(keep, cross / np.maximum(magnitude, np.finfo(float).tiny) ** beta, 0.0)

    n_corr = GCC_UPSAMPLE * n_fft
    # irfft gives (2 / n) Re sum_k W_k e^{j w_k lag} without DC/Nyquist; scale so that all bins
    # in phase give 1.
    corr = np.fft.irfft(weighted, n_corr) * n_corr / (2.0 * np.abs(weighted).sum())
    max_lag = max(1, min(int(np.ceil(max_itd_s * sample_rate * GCC_UPSAMPLE)), n_corr // 2 - 1))
    lags_corr = np.concatenate([corr[-max_lag:], corr[: max_lag + 1]])  # lags -max_lag..max_lag
    peak = int(np.argmax(lags_corr))
    offset, value = 0.0, float(lags_corr[peak])
    if 0 < peak < lags_corr.size - 1:
        before, after = float(lags_corr[peak - 1]), float(lags_corr[peak + 1])
        curvature = before - 2.0 * value + after
        if curvature < 0.0:
            offset = 0.5 * (before - after) / curvature
            value -= 0.25 * (before - after) * offset
    lag_s = (peak - max_lag + offset) / (GCC_UPSAMPLE * sample_rate)
    # X_L conj(X_R) peaks at lag -d when the right ear lags the left by d.
    return float(-lag_s), value


def check_binaural(binaural: np.ndarray) -> np.ndarray:
    """Return the signal as float64 (2, N), or raise ValueError."""
    signal = np.asarray(binaural, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != 2:
        raise ValueError(f"binaural signal must have shape (2, N), got {signal.shape}")
    return signal


def _window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples of the analysis windows; one short window when the signal is shorter."""
    if n_samples <= window:
        return np.zeros(1 if n_samples > 0 else 0, dtype=np.int64)
    return np.arange(0, n_samples - window + 1, hop, dtype=np.int64)


def _ild_db(left_energy: np.ndarray, right_energy: np.ndarray) -> np.ndarray:
    """10 log10(E_L / E_R) with silent-signal protection."""
    return 10.0 * np.log10((left_energy + _ENERGY_EPS) / (right_energy + _ENERGY_EPS))


def band_weighted_ild_db(left: np.ndarray, right: np.ndarray, sample_rate: int) -> float:
    """ILD (dB, + left louder) of one window: the per-band ILDs over ILD_BANDS_HZ averaged
    with the band energies (L + R) as weights; 0 when silent. The estimator of
    direction_track, public so that ILD-to-azimuth tables are measured with it."""
    return _band_weighted_ild_db(np.asarray(left, np.float64), np.asarray(right, np.float64),
                                 sample_rate)


def _band_weighted_ild_db(left: np.ndarray, right: np.ndarray, sample_rate: int) -> float:
    """Energy-weighted mean over ILD_BANDS_HZ of the per-band ILD (dB); 0 when silent."""
    window = get_window("hann", left.size, fftbins=False) if left.size > 1 else np.ones(1)
    power_left = np.abs(np.fft.rfft(left * window)) ** 2
    power_right = np.abs(np.fft.rfft(right * window)) ** 2
    freqs_hz = np.fft.rfftfreq(left.size, 1.0 / sample_rate)
    ilds, weights = [], []
    for low_hz, high_hz in ILD_BANDS_HZ:
        in_band = (freqs_hz >= low_hz) & (freqs_hz < high_hz)
        energy_left, energy_right = power_left[in_band].sum(), power_right[in_band].sum()
        ilds.append(float(_ild_db(energy_left, energy_right)))
        weights.append(energy_left + energy_right)
    total = float(np.sum(weights))
    return float(np.dot(ilds, weights) / total) if total > 0.0 else 0.0


def direction_track(binaural: np.ndarray, sample_rate: int, cfg: EvaluateConfig) -> DirectionTrack:
    """Per-window ITD, azimuth and ILD of a binaural signal.

    Windows are cfg.window_s long every cfg.hop_s; a window is valid when its energy is within
    cfg.energy_floor_db of the loudest window and its GCC peak strength is at least
    MIN_PEAK_STRENGTH.

    Args:
        binaural: Signal, shape (2, N).
        sample_rate: Sample rate (Hz).
        cfg: Evaluation settings (window, ITD band, PHAT beta, max ITD, energy floor).

    Returns:
        The DirectionTrack, one entry per window (times are window centres).
    """
    signal = check_binaural(binaural)
    window = max(1, round(cfg.window_s * sample_rate))
    hop = max(1, round(cfg.hop_s * sample_rate))
    starts = _window_starts(signal.shape[1], window, hop)
    itds, strengths, ilds, energies, centres = [], [], [], [], []
    for start in starts:
        segment = signal[:, start : start + window]
        itd, strength = gcc_phat_itd(
            segment[LEFT],
            segment[RIGHT],
            sample_rate,
            band_hz=cfg.itd_band_hz,
            beta=cfg.phat_beta,
            max_itd_s=cfg.max_itd_s,
        )
        itds.append(itd)
        strengths.append(strength)
        ilds.append(_band_weighted_ild_db(segment[LEFT], segment[RIGHT], sample_rate))
        energies.append(float(np.sum(segment**2)))
        centres.append((start + segment.shape[1] / 2.0) / sample_rate)
    energy = np.asarray(energies, dtype=np.float64)
    loudest = float(energy.max()) if energy.size else 0.0
    if loudest > 0.0:
        loud = 10.0 * np.log10(np.maximum(energy, _ENERGY_EPS) / loudest) >= cfg.energy_floor_db
    else:
        loud = np.zeros(energy.shape, dtype=bool)
    itd_s = np.asarray(itds, dtype=np.float64)
    return DirectionTrack(
        times_s=np.asarray(centres, dtype=np.float64),
        azimuth_deg=itd_to_azimuth_deg(itd_s),
        itd_s=itd_s,
        ild_db=np.asarray(ilds, dtype=np.float64),
        valid=loud & (np.asarray(strengths, dtype=np.float64) >= MIN_PEAK_STRENGTH),
    )


def direction_error_deg(
    track: DirectionTrack, times_s: np.ndarray, azimuth_deg: np.ndarray
) -> np.ndarray:
    """Absolute azimuth error (deg) of the valid windows against a reference trajectory.

    The reference is interpolated at the window centres and folded onto the lateral angle in
    [-90, 90] deg, since an ITD cannot tell front from back.

    Args:
        track: Estimated direction track.
        times_s: Reference times (s), increasing, shape (M,).
        azimuth_deg: Reference azimuths (deg, +left), shape (M,).

    Returns:
        Errors of the valid windows, shape (V,); callers usually take the median.
    """
    reference = np.interp(
        track.times_s,
        np.asarray(times_s, dtype=np.float64),
        np.asarray(azimuth_deg, dtype=np.float64),
    )
    error = np.abs(track.azimuth_deg - _fold_to_front_deg(reference))
    return error[np.asarray(track.valid, dtype=bool)]


def collapse_score_db(binaural: np.ndarray) -> float:
    """Side-to-mid energy ratio 10 log10(sum (L-R)^2 / sum (L+R)^2) in dB.

    A mono copy (L == R) gives a very low value (below -100 dB for any audible signal).
    """
    signal = check_binaural(binaural)
    side = float(np.sum((signal[LEFT] - signal[RIGHT]) ** 2))
    mid = float(np.sum((signal[LEFT] + signal[RIGHT]) ** 2))
    return float(10.0 * np.log10((side + _ENERGY_EPS) / (mid + _ENERGY_EPS)))


def ild_over_time(
    binaural: np.ndarray, sample_rate: int, window_s: float, hop_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Broadband ILD (dB, + left louder) per window.

    Returns:
        (times_s, ild_db): window centres (s) and ILDs, both shape (W,).
    """
    signal = check_binaural(binaural)
    window = max(1, round(window_s * sample_rate))
    hop = max(1, round(hop_s * sample_rate))
    starts = _window_starts(signal.shape[1], window, hop)
    lengths = np.minimum(window, signal.shape[1] - starts)
    cumulative = np.concatenate([np.zeros((2, 1)), np.cumsum(signal**2, axis=1)], axis=1)
    energy = cumulative[:, starts + lengths] - cumulative[:, starts]  # (2, W)
    times_s = (starts + lengths / 2.0) / sample_rate
    return times_s.astype(np.float64), _ild_db(energy[LEFT], energy[RIGHT])
