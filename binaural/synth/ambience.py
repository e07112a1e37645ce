"""Diffuse beds: an off-screen ambience and a stationary background noise.

A bed is a set of plane waves from directions spread around the listener, each carrying
its own noise: the omni microphone at the camera hears their sum, the ears hear each
through the HRIR of its direction. The ambience comes only from directions outside the
camera's view (what is heard is not always what is seen); it is coloured noise with slow
swells, like distant traffic or a crowd. The background noise comes from all around and
is steady (air conditioning, room tone). Both are returned at unit mono RMS.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy.signal import oaconvolve

from binaural.spatial.hrtf import HRTFSet

BED_DIRECTIONS = 8
OFF_SCREEN_MARGIN_DEG = 10.0  # ambience directions keep this far outside the view
BED_ELEVATION_DEG = (-20.0, 40.0)
AMBIENCE_SLOPE_DB_PER_OCTAVE = (-6.0, -2.0)
AMBIENCE_BAND_HZ = ((60.0, 250.0), (3000.0, 12000.0))  # ranges of the low and high edges
AMBIENCE_SWELL_HZ = (0.1, 0.8)
AMBIENCE_SWELL_DEPTH = (0.2, 0.8)
NOISE_SLOPE_DB_PER_OCTAVE = (-4.5, -3.0)  # between pink and brown
NOISE_BAND_HZ = (30.0, 16000.0)


def coloured_noise(
    n: int, sample_rate: int, rng: np.random.Generator, slope_db_per_octave: float,
    band_hz: tuple[float, float],
) -> np.ndarray:
    """Gaussian noise with a spectral slope, band-limited, unit RMS."""
    spectrum = sfft.rfft(rng.standard_normal(n))
    freqs = sfft.rfftfreq(n, 1.0 / sample_rate)
    octaves = np.log2(np.maximum(freqs, band_hz[0]) / band_hz[0])
    shape = 10 ** (slope_db_per_octave * octaves / 20)
    shape[(freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    noise = sfft.irfft(spectrum * shape, n)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def swell(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A slow positive gain curve (mean about 1): low-passed noise as amplitude."""
    rate = float(rng.uniform(*AMBIENCE_SWELL_HZ))
    depth = float(rng.uniform(*AMBIENCE_SWELL_DEPTH))
    knots = max(2, int(np.ceil(n / sample_rate * rate)) + 2)
    values = rng.standard_normal(knots)
    curve = np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values)
    return np.clip(1.0 + depth * curve / max(np.abs(values).max(), 1e-12), 0.05, None)


def diffuse_bed(signals: np.ndarray, azimuth_deg: np.ndarray, elevation_deg: np.ndarray,
                hrtf: HRTFSet) -> tuple[np.ndarray, np.ndarray]:
    """Plane waves (D, N) from fixed directions: (mono (N,), binaural (2, N)), scaled to
    unit mono RMS (the same factor on both)."""
    n = signals.shape[1]
    hrirs = hrtf.interpolate(azimuth_deg, elevation_deg).astype(np.float64)  # (D, 2, taps)
    mono = signals.sum(axis=0)
    binaural = np.zeros((2, n))
    for signal, hrir in zip(signals, hrirs):
        binaural += oaconvolve(signal[None, :], hrir, axes=-1)[:, :n]
    scale = 1.0 / max(float(np.sqrt(np.mean(mono**2))), 1e-12)
    return mono * scale, binaural * scale


def _directions(rng: np.random.Generator, lo_deg: float, span_deg: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """BED_DIRECTIONS azimuths evenly spread over [lo, lo + span) with a random offset."""
    step = span_deg / BED_DIRECTIONS
    azimuth = lo_deg + step * (np.arange(BED_DIRECTIONS) + rng.uniform(0.0, 1.0))
    elevation = rng.uniform(*BED_ELEVATION_DEG, size=BED_DIRECTIONS)
    return (azimuth + 180.0) % 360.0 - 180.0, elevation


def ambience_bed(n: int, sample_rate: int, rng: np.random.Generator, hrtf: HRTFSet,
                 fov_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The off-screen ambience: (mono, binaural) at unit mono RMS."""
    hidden = fov_deg / 2 + OFF_SCREEN_MARGIN_DEG
    azimuth, elevation = _directions(rng, hidden, 360.0 - 2 * hidden)
    slope = float(rng.uniform(*AMBIENCE_SLOPE_DB_PER_OCTAVE))
    band = (float(rng.uniform(*AMBIENCE_BAND_HZ[0])), float(rng.uniform(*AMBIENCE_BAND_HZ[1])))
    signals = np.stack([coloured_noise(n, sample_rate, rng, slope, band)
                        * swell(n, sample_rate, rng) for _ in azimuth])
    return diffuse_bed(signals, azimuth, elevation, hrtf)


def noise_bed(n: int, sample_rate: int, rng: np.random.Generator, hrtf: HRTFSet
              ) -> tuple[np.ndarray, np.ndarray]:
    """The steady background noise from all around: (mono, binaural) at unit mono RMS."""
    azimuth, elevation = _directions(rng, -180.0, 360.0)
    slope = float(rng.uniform(*NOISE_SLOPE_DB_PER_OCTAVE))
    signals = np.stack([coloured_noise(n, sample_rate, rng, slope, NOISE_BAND_HZ)
                        for _ in azimuth])
    return diffuse_bed(signals, azimuth, elevation, hrtf)
