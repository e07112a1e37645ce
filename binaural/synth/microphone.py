"""The camera microphone's own colouration: what makes a real mono track unlike the sound
at the ears. Applied to the mono only (the binaural truth is what the ears hear).

A colouration is a second-order high-pass (rumble filter, small capsule), a second-order
low-pass (cheap converter or codec), one peaking band (capsule resonance or dip) and
white self-noise at a level relative to the coloured signal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from binaural.synth.config import SynthConfig

PEAK_Q = (0.7, 2.0)
MAX_LOWPASS_OF_NYQUIST = 0.9  # a drawn low-pass above this fraction of Nyquist is skipped


@dataclass(frozen=True)
class MicColour:
    highpass_hz: float
    lowpass_hz: float
    peak_hz: float
    peak_db: float
    peak_q: float
    noise_db: float

    def record(self) -> dict:
        return {k: round(v, 2) for k, v in asdict(self).items()}


def draw_mic(cfg: SynthConfig, rng: np.random.Generator) -> MicColour:
    return MicColour(
        highpass_hz=float(rng.uniform(*cfg.mic_highpass_hz)),
        lowpass_hz=float(rng.uniform(*cfg.mic_lowpass_hz)),
        peak_hz=float(rng.uniform(*cfg.mic_peak_hz)),
        peak_db=float(rng.uniform(*cfg.mic_peak_db)),
        peak_q=float(rng.uniform(*PEAK_Q)),
        noise_db=float(rng.uniform(*cfg.mic_noise_db)),
    )


def _peaking_sos(freq_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one SOS row."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq_hz / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def colour(mono: np.ndarray, sample_rate: int, mic: MicColour, rng: np.random.Generator
           ) -> np.ndarray:
    """The mono as this microphone records it (filters, then self-noise)."""
    nyquist = sample_rate / 2
    sections = [butter(2, mic.highpass_hz, "highpass", fs=sample_rate, output="sos")]
    if mic.lowpass_hz < MAX_LOWPASS_OF_NYQUIST * nyquist:
        sections.append(butter(2, mic.lowpass_hz, "lowpass", fs=sample_rate, output="sos"))
    if mic.peak_hz < MAX_LOWPASS_OF_NYQUIST * nyquist:
        sections.append(_peaking_sos(mic.peak_hz, mic.peak_db, mic.peak_q, sample_rate))
    out = sosfilt(np.concatenate(sections), np.asarray(mono, dtype=np.float64))
    rms = float(np.sqrt(np.mean(out**2)))
    return out + rng.standard_normal(out.shape) * rms * 10 ** (mic.noise_db / 20)
