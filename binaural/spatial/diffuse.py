"""A diffuse field at a head: each ear's diffuse-field HRTF magnitude and the coherence
between the receivers (microphone at the head centre, the two ears). Shared by the
renderer's late part (binaural.spatial.scene_render) and the synthesizer's late tail
(binaural.synth.rooms), so both model the same field.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from binaural.constants import HEAD_RADIUS_M, SPEED_OF_SOUND_M_S
from binaural.spatial.hrtf import HRTFSet

DIFFUSE_NFFT = 1024  # resolution of the diffuse-field HRTF magnitude


def diffuse_coherence(freqs_hz: np.ndarray) -> np.ndarray:
    """Interaural coherence of a diffuse field: sinc(k d), d the distance between the ears
    (the spherical-isotropic field; as the synthesizer's late tail, the synthesizer's late tail)."""
    k = 2 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / SPEED_OF_SOUND_M_S
    return np.sinc(2 * k * HEAD_RADIUS_M / np.pi)  # np.sinc(x) = sin(pi x) / (pi x)


def diffuse_field_magnitude(hrtf: HRTFSet, freqs_hz: np.ndarray) -> np.ndarray:
    """Each ear's HRTF magnitude averaged in power over all measured directions, (2, F)."""
    spectrum = np.abs(sfft.rfft(hrtf.ir.astype(np.float64), DIFFUSE_NFFT, axis=-1)) ** 2
    magnitude = np.sqrt(spectrum.mean(axis=0))  # (2, DIFFUSE_NFFT // 2 + 1)
    grid = sfft.rfftfreq(DIFFUSE_NFFT, 1.0 / hrtf.sample_rate)
    return np.stack([np.interp(freqs_hz, grid, m) for m in magnitude])


def diffuse_coherence_mixing(freqs_hz: np.ndarray) -> np.ndarray:
    """Per frequency, M (F, 3, 3) with M M^T the diffuse-field coherence of the receivers
    (microphone at the head centre, left ear, right ear)."""
    k = 2 * np.pi * freqs_hz / SPEED_OF_SOUND_M_S
    to_ear = np.sinc(k * HEAD_RADIUS_M / np.pi)  # np.sinc(x) = sin(pi x) / (pi x)
    between_ears = diffuse_coherence(freqs_hz)
    one = np.ones_like(k)
    coherence = np.stack([
        np.stack([one, to_ear, to_ear], axis=-1),
        np.stack([to_ear, one, between_ears], axis=-1),
        np.stack([to_ear, between_ears, one], axis=-1),
    ], axis=-2)
    values, vectors = np.linalg.eigh(coherence)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]
