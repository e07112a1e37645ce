"""Band-smoothed interaural cues and their errors against a reference (DESIGN.md section 5,
last paragraph): the cues as auditory filters resolve them.

In a room the per-bin cues of binaural.eval.cues stop discriminating: a diffuse tail has a
random ILD and IPD in every STFT bin, so the mono copy (ILD 0 everywhere) scores well on the
per-bin TF-ILD. Summed over a third-octave band and ~40 ms, the tail's random per-bin cues
average out (its band ILD is near 0 and its interaural coherence low), while a direct sound's
lateral cues stay. Cells:

    band:   fractional-octave bands centred at 1 kHz x 2^(k / cfg.bands_per_octave), from
            cfg.band_low_hz to cfg.band_high_hz (third octaves 100 Hz-16 kHz: 23 bands); a
            bin belongs to the band whose edges centre x 2^(+-1 / (2 bands_per_octave))
            hold it (lower edge included)
    frame:  cfg.band_frame_ms of consecutive frames of the Richard STFT (48 kHz, 40 ms
            window, 10 ms hop: four frames per 40 ms cell), edges zero-padded as the
            per-bin cue errors do

Per cell, from P_L = sum |L|^2, P_R = sum |R|^2, C = sum L conj(R) over its bins and frames:
ILD = 10 log10(P_L / P_R) (dB, + left louder), IPD = angle(C) (rad, + left leads), interaural
coherence IC = |C| / sqrt(P_L P_R) in [0, 1] (at zero lag: a lateral source's ITD turns the
phase across a wide upper band and lowers its IC too). Ear powers are floored cfg.band_floor_rel_db
below the signal's mean cell power (a silent ear gives a finite ILD, and a silent cell IC 0).

Errors, each a mean over the cells weighted by the reference's cell energy P_L + P_R, scoring
only the cells within cfg.band_dynamic_range_db of the reference's loudest cell (what is
heard): ILD error over the bands centred at or above cfg.band_split_hz, IPD error (wrapped,
in [0, pi]) below it, coherence error |IC_pred - IC_ref| over all bands. NaN for a silent
reference. Conventions as in metrics.py: (2, N) signals, ear 0 left.

The coherence of one cell is estimated from few degrees of freedom in the lowest bands (one
or two bins over four overlapping frames): there, independent noises still read ~0.5. Both
signals are estimated alike, so the error compares like with like; the energy weighting
leans on the wide upper bands, where the estimate is tight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binaural.constants import LEFT, RIGHT
from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import CUE_PAD_MODE
from binaural.eval.direction import check_binaural
from binaural.eval.distances import resample
from binaural.eval.spectral import richard_pair, richard_stft

BAND_REFERENCE_HZ = 1000.0  # fractional-octave band centres: 1 kHz x 2^(k / n)


def band_edges_hz(cfg: EvaluateConfig) -> np.ndarray:
    """(K, 3) lower edge, centre and upper edge (Hz) of each band, lowest first."""
    n = cfg.bands_per_octave
    first = round(n * np.log2(cfg.band_low_hz / BAND_REFERENCE_HZ))
    last = round(n * np.log2(cfg.band_high_hz / BAND_REFERENCE_HZ))
    centres = BAND_REFERENCE_HZ * 2.0 ** (np.arange(first, last + 1) / n)
    half = 2.0 ** (1.0 / (2 * n))
    return np.stack([centres / half, centres, centres * half], axis=1)


@dataclass(frozen=True)
class BandCues:
    """Band-frame sums of a binaural signal.

    Attributes:
        centres_hz: Band centres (Hz), shape (K,).
        power: Per ear summed power |.|^2, shape (2, C, K) for C frames.
        cross: Summed cross-spectrum L conj(R), complex, shape (C, K).
        floor: The ear-power floor used by the cues (band_floor_rel_db below the mean cell
            power of both ears).
    """

    centres_hz: np.ndarray
    power: np.ndarray
    cross: np.ndarray
    floor: float

    @property
    def energy(self) -> np.ndarray:
        """P_L + P_R per cell, shape (C, K)."""
        return self.power[LEFT] + self.power[RIGHT]

    def _floored(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.maximum(self.power[LEFT], self.floor),
                np.maximum(self.power[RIGHT], self.floor))

    def ild_db(self) -> np.ndarray:
        """10 log10(P_L / P_R) per cell (dB, + left louder), shape (C, K)."""
        left, right = self._floored()
        return 10.0 * np.log10(left / right)

    def ipd_rad(self) -> np.ndarray:
        """angle(sum L conj R) per cell (rad, + left leads), shape (C, K)."""
        return np.angle(self.cross)

    def coherence(self) -> np.ndarray:
        """|sum L conj R| / sqrt(P_L P_R) per cell, in [0, 1], shape (C, K)."""
        left, right = self._floored()
        return np.minimum(np.abs(self.cross) / (np.sqrt(left) * np.sqrt(right)), 1.0)


def _membership(freqs_hz: np.ndarray, edges: np.ndarray, nyquist_hz: float) -> np.ndarray:
    """(F, K) 0/1 matrix: bin f lies in band k (below Nyquist)."""
    inside = (freqs_hz[:, None] >= edges[None, :, 0]) & (freqs_hz[:, None] < edges[None, :, 2])
    return (inside & (freqs_hz[:, None] < nyquist_hz)).astype(np.float64)


def band_cues(binaural: np.ndarray, sample_rate: int, cfg: EvaluateConfig) -> BandCues:
    """The band-frame sums of a (2, N) signal (resampled to cfg.richard_sample_rate)."""
    signal = resample(check_binaural(binaural), sample_rate, cfg.richard_sample_rate)
    return _band_cues_at_rate(signal, cfg)


def _band_cues_at_rate(signal: np.ndarray, cfg: EvaluateConfig) -> BandCues:
    rate = cfg.richard_sample_rate
    spectrum, freqs_hz = richard_stft(signal, rate, cfg, CUE_PAD_MODE)  # (2, T, F)
    edges = band_edges_hz(cfg)
    bins = _membership(freqs_hz, edges, rate / 2.0)  # (F, K)
    per_cell = max(1, round(cfg.band_frame_ms / cfg.richard_hop_ms))
    starts = np.arange(0, spectrum.shape[1], per_cell)
    power = np.add.reduceat(np.abs(spectrum) ** 2, starts, axis=1) @ bins  # (2, C, K)
    cross = np.add.reduceat(spectrum[LEFT] * np.conj(spectrum[RIGHT]), starts, axis=0) @ bins
    mean = float(power.mean()) if power.size else 0.0
    floor = mean * 10.0 ** (cfg.band_floor_rel_db / 10.0) if mean > 0.0 else np.finfo(float).tiny
    return BandCues(edges[:, 1], power, cross, floor)


def _pair(pred: np.ndarray, ref: np.ndarray, sample_rate: int, cfg: EvaluateConfig
          ) -> tuple[BandCues, BandCues, np.ndarray]:
    """Both signals' band cues and the reference's cell weights (0 outside the scored
    dynamic range), shape (C, K)."""
    pred, ref = richard_pair(pred, ref, sample_rate, cfg)
    cues_pred, cues_ref = _band_cues_at_rate(pred, cfg), _band_cues_at_rate(ref, cfg)
    weight = cues_ref.energy
    loudest = float(weight.max()) if weight.size else 0.0
    heard = weight >= loudest * 10.0 ** (-cfg.band_dynamic_range_db / 10.0)
    return cues_pred, cues_ref, np.where(heard & (loudest > 0.0), weight, 0.0)


def _weighted_mean(values: np.ndarray, weight: np.ndarray) -> float:
    total = float(weight.sum())
    return float((values * weight).sum() / total) if total > 0.0 else float("nan")


def _ild_error(pred: BandCues, ref: BandCues, weight: np.ndarray, cfg: EvaluateConfig
               ) -> float:
    high = ref.centres_hz >= cfg.band_split_hz
    error = np.abs(pred.ild_db() - ref.ild_db())
    return _weighted_mean(error[:, high], weight[:, high])


def _ipd_error(pred: BandCues, ref: BandCues, weight: np.ndarray, cfg: EvaluateConfig
               ) -> float:
    low = ref.centres_hz < cfg.band_split_hz
    # angle(a conj b) is the wrapped difference of the two IPDs.
    error = np.abs(np.angle(pred.cross * np.conj(ref.cross)))
    return _weighted_mean(error[:, low], weight[:, low])


def _coherence_error(pred: BandCues, ref: BandCues, weight: np.ndarray,
                     cfg: EvaluateConfig) -> float:
    return _weighted_mean(np.abs(pred.coherence() - ref.coherence()), weight)


def band_ild_error_db(pred: np.ndarray, ref: np.ndarray, sample_rate: int,
                      cfg: EvaluateConfig) -> float:
    """Band ILD error (dB): weighted mean |ILD_pred - ILD_ref| over the scored cells of the
    bands centred at or above cfg.band_split_hz."""
    return _ild_error(*_pair(pred, ref, sample_rate, cfg), cfg)


def band_ipd_error_rad(pred: np.ndarray, ref: np.ndarray, sample_rate: int,
                       cfg: EvaluateConfig) -> float:
    """Band IPD error (rad): weighted mean wrapped |IPD_pred - IPD_ref| in [0, pi] over the
    scored cells of the bands centred below cfg.band_split_hz; a cell where either
    cross-spectrum is zero (a silent ear) has IPD 0."""
    return _ipd_error(*_pair(pred, ref, sample_rate, cfg), cfg)


def band_coherence_error(pred: np.ndarray, ref: np.ndarray, sample_rate: int,
                         cfg: EvaluateConfig) -> float:
    """Interaural coherence error: weighted mean |IC_pred - IC_ref| over the scored cells of
    all bands (0 to 1; a mono copy of a diffuse reference errs by about 1 - IC_ref)."""
    return _coherence_error(*_pair(pred, ref, sample_rate, cfg), cfg)


def band_cue_errors(pred: np.ndarray, ref: np.ndarray, sample_rate: int,
                    cfg: EvaluateConfig) -> dict[str, float]:
    """The three band cue errors above from one pass over both signals (a report's)."""
    cues = _pair(pred, ref, sample_rate, cfg)
    return {"band_ild_error_db": _ild_error(*cues, cfg),
            "band_ipd_error_rad": _ipd_error(*cues, cfg),
            "band_coherence_error": _coherence_error(*cues, cfg)}
