"""The generator as systems of `binaural evaluate` (binaural.eval.systems' registry).

    model          the generator at the detected positions (what a remaster does)
    model-oracle   the generator along the true tracks
    dsp-separate   the separated-source oracle: each source's own true-mono stem
                   (truth/<id>.stems.wav, written by scripts/make_generator_data.py)
                   rendered along its true track with the renderer's head, summed; in
                   rooms (synthesis v2) the per-source binaural stems already rendered
                   through the true room with the renderer's head (truth/<id>.separate.wav)

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


def separate_path(record: Record) -> Path | None:
    """truth/<id>.separate.wav beside the record's truth, if there is one."""
    if record.truth is None:
        return None
    path = record.truth.with_name(f"{record.id}.separate.wav")
    return path if path.is_file() else None


def room_separated(path: Path, record: Record, context: EvalContext) -> np.ndarray:
    """The sum of the per-source binaural stems of a v2 scene (its true room, rendered with
    the head the truth names, which must be the evaluation's renderer head)."""
    clip = context.clip(record)
    head = (clip.truth or {}).get("separate", {})
    if head.get("hrtf_digest") != context.hrtf.digest:
        raise ValueError(f"{path}: rendered with {head.get('hrtf')!r}, not the renderer's "
                         f"head {context.hrtf.name!r}; regenerate the set or set render.hrtf")
    stems, rate = read_wav(path)
    if rate != context.sample_rate or stems.shape[0] % 2:
        raise ValueError(f"{path}: {stems.shape[0]} channels at {rate} Hz")
    n = clip.mono.shape[0]
    out = stems.reshape(-1, 2, stems.shape[-1]).sum(axis=0)[:, :n]
    return np.pad(out, ((0, 0), (0, n - out.shape[1]))).astype(np.float32)


def separated_oracle(record: Record, context: EvalContext) -> np.ndarray:
    """Every stem along its own true track with the renderer's HRTF set, summed (in rooms:
    the per-source stems through the true room, room_separated).

    Raises:
        FileNotFoundError: the record has no stems (only generated test sets have them).
    """
    room = separate_path(record)
    if room is not None:
        return room_separated(room, record, context)
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
