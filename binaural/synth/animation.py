"""Sprites that move with their own audio (synthesis, `synth.animate`).

    own_envelope:    a source's dry signal -> its loudness per video frame in [0, 1]
    random_envelope: a syllable-like envelope unrelated to any audio (silent objects move
                     too, so motion alone is no evidence of sound)
    silent_envelope: a silent object's motion: with a given share the own envelope of an
                     unheard signal of its class (with its own gaps: it moves like a
                     sounding one of its class, unrelated to what is heard), else random
    sway:            a small slow sway (pixels) of a sprite, for everyone

The envelope poses what moves with the sound (binaural.synth.sprites._moving: a person's
mouth, a strumming or bowing hand, piano keys, a trumpet's bell).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from binaural.synth.config import SynthConfig
from binaural.synth.silences import draw_gaps, gate
from binaural.synth.source_audio import render_source

ENVELOPE_PERCENTILE = 95.0  # the envelope's full scale: this percentile of its frames
SYLLABLE_ON_S = (0.08, 0.35)
SYLLABLE_OFF_S = (0.05, 0.4)
PAUSE_PROB = 0.15  # a syllable followed by a longer pause
PAUSE_S = (0.4, 1.2)
SMOOTH_S = 0.04
SWAY_HZ = (0.15, 0.6)


def own_envelope(dry: np.ndarray, sample_rate: int, fps: float, n_frames: int,
                 gain: float = 1.0) -> np.ndarray:
    """RMS of `dry` over each video frame's interval [i / fps, (i + 1) / fps), over its
    ENVELOPE_PERCENTILE among sounding frames, times `gain`, in [0, 1] (n_frames,)."""
    hop = sample_rate / fps
    out = np.zeros(n_frames)
    for i in range(n_frames):
        piece = dry[int(round(i * hop)):int(round((i + 1) * hop))]
        out[i] = np.sqrt(np.mean(np.square(piece, dtype=np.float64))) if piece.size else 0.0
    loud = out[out > 1e-3 * max(out.max(), 1e-12)]
    scale = np.percentile(loud, ENVELOPE_PERCENTILE) if loud.size else 1.0
    return np.clip(gain * out / max(scale, 1e-12), 0.0, 1.0)


def random_envelope(rng: np.random.Generator, fps: float, n_frames: int) -> np.ndarray:
    """Syllables of random length and level with random pauses, smoothed, in [0, 1]."""
    duration = n_frames / fps
    fine = 200.0  # Hz: drawn finely, then read at the frame times
    env = np.zeros(int(np.ceil(duration * fine)) + 1)
    t = float(rng.uniform(0.0, 0.3))
    while t < duration:
        on = float(rng.uniform(*SYLLABLE_ON_S))
        a, b = int(t * fine), int((t + on) * fine)
        bump = rng.uniform(0.3, 1.0) * np.sin(np.linspace(0, np.pi, max(b - a, 1)))
        env[a:b] = bump[:env[a:b].size]
        t += on + float(rng.uniform(*(PAUSE_S if rng.random() < PAUSE_PROB else SYLLABLE_OFF_S)))
    env = uniform_filter1d(env, max(1, int(SMOOTH_S * fine)))
    return np.clip(env[(np.arange(n_frames) / fps * fine).astype(int)] / max(env.max(), 1e-9),
                   0.0, 1.0)


def silent_envelope(cfg: SynthConfig, source_class: str, rng: np.random.Generator, n_frames: int,
                    own_class: np.random.Generator) -> np.ndarray:
    """A silent object's motion level per frame: with `cfg.silent_motion_own_class` (drawn
    from `own_class`, which also seeds the signal and its gaps) the own_envelope of an
    unheard render of `source_class` gated by gaps drawn as a sounding source's are, else
    random_envelope(rng). Share 0 leaves `rng`'s draws as before."""
    if own_class.random() >= cfg.silent_motion_own_class:
        return random_envelope(rng, cfg.video_fps, n_frames)
    sr, duration = cfg.sample_rate, cfg.duration_s
    signal = render_source(source_class, duration, sr, int(own_class.integers(1 << 30)),
                           cfg.soundfont)
    gaps = draw_gaps(own_class, duration, cfg.silence_gap_prob, cfg.silence_gap_s,
                     cfg.max_silence_gaps)
    if gaps:
        signal = signal * gate(signal.size, sr, gaps)
    return own_envelope(signal, sr, cfg.video_fps, n_frames, cfg.animate_gain)


def sway(rng: np.random.Generator, times_s: np.ndarray, amplitude: float) -> np.ndarray:
    """A slow sway (T, 2) in units of the sprite's height (x, y), two random sines."""
    f = rng.uniform(*SWAY_HZ, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    return amplitude * np.stack([np.sin(2 * np.pi * f[0] * times_s + phase[0]),
                                 0.4 * np.sin(2 * np.pi * f[1] * times_s + phase[1])], axis=1)
