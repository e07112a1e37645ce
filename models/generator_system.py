"""The generator as systems of `binaural evaluate` (binaural.eval.systems' registry).

    model          the generator at the detected positions (what a remaster does)
    model-oracle   the generator along the true tracks
    dsp-separate   the separated-source oracle: each source's own true-mono stem
                   (truth/<id>.stems.wav, written by scripts/make_generator_data.py)
                   rendered along its true track with the renderer's head, summed

The generator is loaded on first use, once per registration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from binaural.eval.datasets import Record
from binaural.eval.systems import EvalContext, register_system
from binaural.io.audio import read_wav
from binaural.spatial.generator import Generator, generate_array
from binaural.spatial.render import direction_filter, spatialize
from models.builders import build_generator
from models.config import GeneratorConfig


def stems_path(record: Record) -> Path | None:
    """truth/<id>.stems.wav beside the record's truth, if there is one."""
    if record.truth is None:
        return None
    path = record.truth.with_name(f"{record.id}.stems.wav")
    return path if path.is_file() else None


def register_generator_systems(spec: str, generator: GeneratorConfig, name: str = "model",
                               label: str | None = None) -> None:
    """Register `name`, `name`-oracle and dsp-separate for the generator `spec` ("dsp" or
    a local checkpoint; `label`: the registry version it was resolved from)."""
    loaded: dict[str, Generator] = {}

    def get(context: EvalContext) -> Generator:
        if "g" not in loaded:
            loaded["g"] = build_generator(spec, context.hrtf, context.render, generator, label)
        return loaded["g"]

    @register_system(name, f"generator {spec} ({generator.steps} steps) at the detected "
                     "positions", needs_detector=True)
    def model_detected(record: Record, context: EvalContext) -> np.ndarray:
        clip, loc = context.clip(record), context.localization(record)
        return generate_array(get(context), clip.mono, loc.tracks, context.sample_rate,
                              loc.info.display_size)

    @register_system(f"{name}-oracle", f"generator {spec} along the true tracks",
                     needs_truth=True)
    def model_oracle(record: Record, context: EvalContext) -> np.ndarray:
        clip = context.clip(record)
        size = (int(clip.truth.get("width", 640)), int(clip.truth.get("height", 360)))
        return generate_array(get(context), clip.mono, clip.truth_tracks, context.sample_rate,
                              size)

    register_system("dsp-separate", "each source's own stem rendered at its true place "
                    "(the separated-source oracle)", needs_truth=True)(separated_oracle)


def separated_oracle(record: Record, context: EvalContext) -> np.ndarray:
    """Every stem along its own true track with the renderer's HRTF set, summed.

    Raises:
        FileNotFoundError: the record has no stems (only generated test sets have them).
    """
    path = stems_path(record)
    if path is None:
        raise FileNotFoundError(f"{record.id}: no truth/{record.id}.stems.wav")
    clip = context.clip(record)
    stems, rate = read_wav(path)
    if rate != context.sample_rate or stems.shape[0] != len(clip.truth_tracks):
        raise ValueError(f"{path}: {stems.shape[0]} stems at {rate} Hz for "
                         f"{len(clip.truth_tracks)} sources at {context.sample_rate}")
    n = clip.mono.shape[0]
    out = np.zeros((2, n), np.float32)
    for stem, track in zip(stems, clip.truth_tracks):
        filt = direction_filter(context.hrtf, track.times_s, track.azimuth_deg,
                                track.elevation_deg, context.render.neighbours)
        rendered = spatialize(stem[:n], filt, context.hrtf.taps, context.sample_rate,
                              context.render.block)
        out[:, : rendered.shape[1]] += rendered
    return out
