"""Test signals the metric tests share."""

import numpy as np


def signal(kind: str, n_samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """White noise, a violin-like harmonic tone, or a speech-like modulated harmonic tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    phases = rng.uniform(0.0, 2.0 * np.pi, 16)
    if kind == "noise":
        return rng.standard_normal(n_samples)
    if kind == "tone":
        return sum(np.sin(2 * np.pi * 440.0 * k * t + phases[k]) / k for k in range(1, 9))
    if kind == "speech":
        # 180 Hz voice with vibrato and a 4 Hz syllable envelope.
        f0_hz = 180.0 * (1.0 + 0.03 * np.sin(2 * np.pi * 3.0 * t))
        phase = 2 * np.pi * np.cumsum(f0_hz) / sample_rate
        envelope = 0.5 * (1.0 - np.cos(2 * np.pi * 4.0 * t))
        return envelope * sum(np.sin(k * phase + phases[k]) / k for k in range(1, 15))
    raise ValueError(kind)
