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
    (microphone at the head centre, left ear, right ear).

    The coherence [[1, a, a], [a, 1, b], [a, b, 1]] is factored in closed form, not by
    LAPACK, whose eigenvectors change in their last bits with the BLAS kernel (a seeded
    dataset came out other bytes under OPENBLAS_CORETYPE=Zen): (0, 1, -1)/sqrt(2) with
    eigenvalue 1 - b, and the block [[1, s], [s, 1 + b]] (s = sqrt(2) a) on (1, 0, 0) and
    (0, 1, 1)/sqrt(2).
    """
    k = 2 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / SPEED_OF_SOUND_M_S
    a = np.sinc(k * HEAD_RADIUS_M / np.pi)  # np.sinc(x) = sin(pi x) / (pi x)
    b = np.sinc(2 * k * HEAD_RADIUS_M / np.pi)
    s = np.sqrt(2.0) * a
    r = np.hypot(0.5 * b, s)
    mixing = np.zeros((k.size, 3, 3))
    for col, shift in enumerate((0.5 * b + r, 0.5 * b - r)):  # eigenvalues 1 + shift
        # Two expressions of the block's eigenvector; the longer one is well conditioned.
        first = np.stack([s, shift])
        second = np.stack([shift - b, s])
        u = np.where(np.hypot(*first) >= np.hypot(*second), first, second)
        norm = np.hypot(*u)
        fallback = np.eye(2)[:, col : col + 1]  # the block is the identity (a = b = 0)
        u = np.where(norm > 0, u / np.where(norm > 0, norm, 1.0), fallback)
        gain = np.sqrt(np.clip(1.0 + shift, 0.0, None))
        mixing[:, 0, col] = gain * u[0]
        mixing[:, 1, col] = mixing[:, 2, col] = gain * u[1] / np.sqrt(2.0)
    gain = np.sqrt(np.clip(1.0 - b, 0.0, None) / 2.0)
    mixing[:, 1, 2], mixing[:, 2, 2] = gain, -gain
    return mixing
