"""What every generator of both ear signals is, and the DSP renderer as one of them.

    Generator.generate(mono_chunks, tracks, sample_rate, frame_size) -> iterator of (2, n)
        float32 chunks whose lengths add up to the input's (streamed: memory is bounded by
        the generator's window, not the video's length)
    Generator.report(tracks) -> the report's `generator` entry, one schema for all:
        name, version, hrtf, fallback (why it fell back to the renderer, or None), visual
        (how the visual condition was used), then the generator's own settings and what
        its last generate() call found

The diffusion generator (models.generator) implements the same protocol; remaster,
evaluation and the fallback where no source is found all go through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import Spatializer, drain
from binaural.spatial.scene_render import build_spatializer, renderer_version
from binaural.spatial.tracks import SourceTrack

DEFAULT_FRAME_SIZE = (640, 360)  # frame (width, height) box sizes are relative to


class Generator(Protocol):
    name: str
    version: str

    def describe(self) -> dict:
        """Identity and settings: name, version, hrtf, then the generator's own."""
        ...

    def fallback_reason(self, tracks: Sequence[SourceTrack]) -> str | None: ...

    def visual_use(self, tracks: Sequence[SourceTrack]) -> tuple[str, bool]:
        """How the visual condition is used, and whether some source goes without it."""
        ...

    def last_run(self) -> dict:
        """What the last generate() call found (e.g. the room's T60); {} before any."""
        ...

    def generate(self, mono_chunks: Iterable[np.ndarray], tracks: Sequence[SourceTrack],
                 sample_rate: int, frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE
                 ) -> Iterator[np.ndarray]: ...


def generator_report(generator: Generator, tracks: Sequence[SourceTrack]) -> dict:
    """The report's `generator` entry (see the module docstring); after generate()."""
    visual, _ = generator.visual_use(tracks)
    return (generator.describe() | {"fallback": generator.fallback_reason(tracks),
                                    "visual": visual} | generator.last_run())


def generate_array(generator: Generator, mono: np.ndarray, tracks: Sequence[SourceTrack],
                   sample_rate: int, frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
                   chunk: int = 1 << 16) -> np.ndarray:
    """A whole signal through a generator: (N,) -> (2, N) float32."""
    pieces = (mono[i:i + chunk] for i in range(0, len(mono), chunk))
    out = list(generator.generate(pieces, tracks, sample_rate, frame_size))
    return np.concatenate(out, axis=1) if out else np.zeros((2, 0), np.float32)


def room_found(render: RenderConfig, spatializer: Spatializer) -> dict:
    """What a renderer's analysers found of the room (a plain Spatializer: none)."""
    return {"reverberant": bool(render.reverb and getattr(spatializer, "reverberant", False)),
            "t60_s": round(float(getattr(spatializer, "last_t60_s", 0.0)), 3)}


class DSPGenerator:
    """The DSP renderer (binaural.spatial.scene_render: room-aware and activity-gated as
    `render` says) along the tracks; straight ahead where there are none."""

    name = "dsp"

    def __init__(self, hrtf: HRTFSet, render: RenderConfig):
        self.hrtf, self.render = hrtf, render
        self.version = renderer_version(hrtf, render)
        self._last: Spatializer | None = None

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "hrtf": self.hrtf.name,
                "block": self.render.block, "reverb": self.render.reverb,
                "activity_model": self.render.activity_model}

    def fallback_reason(self, tracks: Sequence[SourceTrack]) -> str | None:
        return None

    def visual_use(self, tracks: Sequence[SourceTrack]) -> tuple[str, bool]:
        return "none (the renderer takes no visual condition)", False

    def last_run(self) -> dict:
        return {} if self._last is None else room_found(self.render, self._last)

    def generate(self, mono_chunks, tracks, sample_rate, frame_size=DEFAULT_FRAME_SIZE):
        self._last = build_spatializer(self.hrtf, list(tracks), self.render, sample_rate)
        yield from drain(self._last, mono_chunks)
