"""What the synthesis tests share: the small scene config, seeds whose plans suit the
checks, and the correlation measure."""

import numpy as np
from scipy.signal import correlate

from binaural.synth.config import SynthConfig

# 1.6 s at 25 fps is a whole number of frames (40).
CFG = SynthConfig(duration_s=1.6, width=320, height=180, seed=3)
# Seeds whose plans suit the checks: one source on the listener's left all along, and two
# sources far apart (no occlusion), each with an instrument (no speech synthesizer needed).
LEFT_SOURCE_SEED = 9  # a source on the left that moves further left
TWO_SOURCE_SEED = 5
ANGLE_TOL_DEG = 1.0


def max_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Largest normalised cross-correlation over all lags."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    xc = correlate(a, b, mode="full", method="fft")
    return float(xc.max() / np.sqrt(np.sum(a**2) * np.sum(b**2)))
