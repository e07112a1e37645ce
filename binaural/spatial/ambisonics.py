"""First-order ambisonics (AmbiX: ACN channel order, SN3D normalisation) from the scene.

    sn3d_gains:           real spherical harmonics up to order 1 at given directions,
                          from scipy.special.sph_harm_y (complex, orthonormal, with the
                          Condon-Shortley phase) made real and SN3D-normalised
    EncoderDirections:    the "filters per direction" of the encoder: gains as 1-tap
                          filters, so binaural.render.mixture_filter builds the same
                          per-source shares (1/r^2 times the activity gate) for FOA
    FOASpatializer:       SceneSpatializer with four outputs; its diffuse part goes to four
                          mutually decorrelated filters at the power a diffuse field has in
                          SN3D (W 1, X Y Z 1/3 each), so it carries no direction
    build_foa_spatializer: RenderConfig + tracks -> the streaming encoder
    decode_binaural:      a virtual-loudspeaker decoder (basic sampling decoder on a
                          spherical 5-design) through an HRTF set: for checking a FOA
                          render by ear

Per frame k and bin f, with G the renderer's direct fraction (binaural.spatial.reverb) and Y the
SN3D gains at the mixture's directions:   B = S (sqrt(G) Y + sqrt(1 - G) D).

spaudiopy (the spherical-harmonics library the issue names) is not used: version 0.2.0
imports resampy at package import (numba + llvmlite, far larger than this feature) and
runs `git describe` at import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as sfft
from scipy.special import sph_harm_y

from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.scene_render import DIFFUSE_SEED, SceneSpatializer, build_spatializer
from binaural.spatial.tracks import SourceTrack

FOA_CHANNELS = 4  # ACN 0..3: W, Y, Z, X
FOA_ORDER = 1


def sn3d_gains(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """(D, 4) real SN3D spherical harmonics in ACN order at SOFA angles (azimuth to the
    left, elevation up): W = 1, Y = sin az cos el, Z = sin el, X = cos az cos el."""
    az = np.radians(np.atleast_1d(np.asarray(azimuth_deg, dtype=np.float64)))
    colat = np.pi / 2 - np.radians(np.atleast_1d(np.asarray(elevation_deg, np.float64)))
    out = []
    for n in range(FOA_ORDER + 1):
        for m in range(-n, n + 1):  # ACN = n^2 + n + m
            y = sph_harm_y(n, abs(m), colat, az)
            if m < 0:
                real = np.sqrt(2) * (-1) ** m * y.imag
            elif m > 0:
                real = np.sqrt(2) * (-1) ** m * y.real
            else:
                real = y.real
            out.append(real * np.sqrt(4 * np.pi / (2 * n + 1)))  # orthonormal -> SN3D
    return np.stack(out, axis=-1)


class EncoderDirections:
    """Ambisonic gains shaped like HRIRs (D, 4, 1), for binaural.render.mixture_filter."""

    taps = 1

    def interpolate(self, azimuth_deg: np.ndarray, elevation_deg: np.ndarray,
                    neighbours: int = 3) -> np.ndarray:
        return sn3d_gains(azimuth_deg, elevation_deg)[:, :, None].astype(np.float32)


def diffuse_foa_filters(taps: int, nfft: int, seed: int = DIFFUSE_SEED) -> np.ndarray:
    """Four mutually independent random-phase FIRs (faded over `taps`) as spectra
    (4, nfft // 2 + 1), scaled to the SN3D diffuse-field powers (W 1, others 1/3)."""
    rng = np.random.default_rng(seed + 1)
    bins = taps // 2 + 1
    phases = np.exp(2j * np.pi * rng.random((FOA_CHANNELS, bins)))
    phases[:, 0] = 1.0
    irs = sfft.irfft(phases, taps, axis=-1) * np.hanning(2 * taps)[taps:]
    spectra = sfft.rfft(irs, nfft, axis=-1)
    power = np.array([1.0, 1 / 3, 1 / 3, 1 / 3])
    return spectra * np.sqrt(power / np.mean(np.abs(spectra) ** 2, axis=-1))[:, None]


class FOASpatializer(SceneSpatializer):
    """The scene renderer with AmbiX outputs (module docstring). Always the decorrelated
    diffuse split: a coherent (averaged-cue) diffuse part exists only between two ears."""

    channels = FOA_CHANNELS

    def __init__(self, filter_at, hrtf: HRTFSet, sample_rate: int, block: int = 512,
                 late=None, t60=None, activity=None, diffuse_mode: str = "decorrelated",
                 diffuse_taps: int = 1024, reverb_gate=None, reverb_threshold: float = 0.5,
                 fallback_t60_s: float = 0.0, unit: int | None = None, **separation):
        super().__init__(filter_at, hrtf, sample_rate, block, None, t60, activity,
                         "decorrelated", diffuse_taps, reverb_gate, reverb_threshold,
                         fallback_t60_s, unit, **separation)
        self.late = late  # set after the base class, which would build binaural filters
        self._decorrelation = diffuse_foa_filters(diffuse_taps, self.nfft)

    def _spectra(self, spec: np.ndarray, h_spec: np.ndarray) -> np.ndarray:
        if self.late is None:
            return spec[:, None, :] * h_spec
        g = self.late.direct_fraction(spec, self.last_t60_s)  # (F, bins)
        filt = (np.sqrt(g)[:, None, :] * h_spec
                + np.sqrt(1 - g)[:, None, :] * self._decorrelation)
        return spec[:, None, :] * filt


def build_foa_spatializer(hrtf: HRTFSet, tracks: Sequence[SourceTrack], render: RenderConfig,
                          sample_rate: int) -> FOASpatializer:
    """The streaming FOA encoder along `tracks`, with the binaural renderer's shares,
    activity gate, T60 and direct/diffuse split (`hrtf` only sizes the diffuse filters)."""
    return build_spatializer(hrtf, tracks, render, sample_rate,
                             directions=EncoderDirections(), spatializer_cls=FOASpatializer)


def intensity_direction(foa: np.ndarray) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of the mean active intensity (W X, W Y, W Z)."""
    w, y, z, x = np.asarray(foa, dtype=np.float64)
    ix, iy, iz = np.mean(w * x), np.mean(w * y), np.mean(w * z)
    return (float(np.degrees(np.arctan2(iy, ix))),
            float(np.degrees(np.arctan2(iz, np.hypot(ix, iy)))))


def virtual_speakers() -> np.ndarray:
    """(12, 2) azimuth, elevation (deg) of an icosahedron's vertices: a spherical
    5-design, on which order-1 harmonics are sampled exactly."""
    phi = (1 + np.sqrt(5)) / 2
    v = []
    for a in (-1, 1):
        for b in (-phi, phi):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    v = np.asarray(v, dtype=np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.stack([np.degrees(np.arctan2(v[:, 1], v[:, 0])),
                     np.degrees(np.arcsin(v[:, 2]))], axis=1)


def decode_binaural(foa: np.ndarray, hrtf: HRTFSet) -> np.ndarray:
    """(4, N) AmbiX -> (2, N): basic sampling decoder to the 12 virtual loudspeakers,
    each rendered through the HRTF at its direction (interpolated).

    Basic weights keep the velocity vector (Gerzon's rV = 1), which is what the
    low-frequency ITD, and so binaural.metrics.direction_track, follows; measured on
    KEMAR: sources at 40, -25 and 70 deg are heard at 35, -18 and 42 deg (max-rE weights
    gave 18, -10, 32; a least-squares / MagLS decoder kept the ILD but lost the ITD)."""
    speakers = virtual_speakers()
    y = sn3d_gains(speakers[:, 0], speakers[:, 1])  # (L, 4)
    weights = np.array([1.0, 3.0, 3.0, 3.0])  # (2n + 1): sampling decoder for SN3D
    feeds = (y * weights) @ np.asarray(foa, dtype=np.float64) / len(speakers)  # (L, N)
    hrirs = hrtf.interpolate(speakers[:, 0], speakers[:, 1])  # (L, 2, taps)
    n = feeds.shape[1]
    nfft = sfft.next_fast_len(n + hrtf.taps - 1, real=True)
    spec = sfft.rfft(feeds, nfft, axis=-1)[:, None, :] * sfft.rfft(hrirs, nfft, axis=-1)
    return sfft.irfft(spec.sum(axis=0), nfft, axis=-1)[:, :n].astype(np.float32)
