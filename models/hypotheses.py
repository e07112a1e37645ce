"""The generator's geometric prior: the DSP renderer's binaural hypotheses of the mono.

Version 2, S = K + 1 slots: the mono rendered along each of the first K source tracks alone
(render.direction_filter), then the mixture render of all tracks (render.mixture_filter,
what the anechoic `dsp` system outputs; with render.separation_model and two or more
tracks, shared out per cell as the renderer's is: scene_render.SceneSpatializer without
its room split).

Version 3 (rooms), S = K + 2 slots: per source the mono along its track alone with the
renderer's direct/diffuse split (scene_render.build_spatializer: the direct part through
the HRTF, the late part diffuse), then the whole mono as a diffuse field
(scene_render.DiffuseSpatializer), then the renderer's gated mixture (activity x the
tracks' sounding probability, room-aware: what `dsp` outputs).

Slots without a source are silent. Streams chunk by chunk with the renderer's own
spatializers, so memory is bounded by the chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import FilterFn, Spatializer, direction_filter, mixture_filter
from binaural.spatial.scene_render import (
    DiffuseSpatializer,
    SceneSpatializer,
    UnitBuffer,
    analysis_unit,
    association_weights,
    build_spatializer,
    separation_options,
)
from binaural.spatial.tracks import SourceTrack


def hypothesis_filters(tracks: Sequence[SourceTrack], hrtf: HRTFSet, max_sources: int,
                       neighbours: int, render: RenderConfig | None = None
                       ) -> list[FilterFn | None]:
    """K per-source filters (None for an empty slot), then the mixture's; with `render`,
    the mixture's shares are gated by the tracks' sounding probability where they carry
    one (the association, as the renderer's are)."""
    filters: list[FilterFn | None] = [
        direction_filter(hrtf, t.times_s, t.azimuth_deg, t.elevation_deg, neighbours)
        for t in list(tracks)[:max_sources]
    ]
    filters += [None] * (max_sources - len(filters))
    gate = None if render is None else association_weights(
        list(tracks), render.association_floor, render.association_sharpness)
    filters.append(mixture_filter(hrtf, [t.as_tuple() for t in tracks], neighbours, gate))
    return filters


def room_spatializers(tracks: Sequence[SourceTrack], hrtf: HRTFSet, max_sources: int,
                      sample_rate: int, render: RenderConfig) -> list[Spatializer | None]:
    """Version 3's K + 2 spatializers (module docstring); None for an empty slot."""
    tracks = list(tracks)
    single = [build_spatializer(hrtf, [t], render, sample_rate, use_activity=False,
                                in_units=False) for t in tracks[:max_sources]]
    single += [None] * (max_sources - len(single))
    diffuse = DiffuseSpatializer(mixture_filter(hrtf, [], render.neighbours), hrtf,
                                 sample_rate, render.block)
    return single + [diffuse, build_spatializer(hrtf, tracks, render, sample_rate,
                                                in_units=False)]


class HypothesisStream:
    """Streams (S, 2, n) hypotheses of mono chunks; every slot emits the same lengths.
    Version 3 needs the renderer's settings (`render`)."""

    def __init__(self, tracks: Sequence[SourceTrack], hrtf: HRTFSet, max_sources: int,
                 sample_rate: int, block: int, neighbours: int,
                 render: RenderConfig | None = None, version: int = 2):
        if version == 3:
            if render is None:
                raise ValueError("version 3 hypotheses need the renderer's settings")
            self.spatializers = room_spatializers(tracks, hrtf, max_sources, sample_rate,
                                                  render)
            self._units = UnitBuffer(analysis_unit(render, sample_rate))  # all in step
            return
        self._units = None
        filters = hypothesis_filters(tracks, hrtf, max_sources, neighbours, render)
        separation = {} if render is None else separation_options(render, tracks, sample_rate)
        self.spatializers = [
            None if f is None else Spatializer(f, hrtf.taps, sample_rate, block)
            for f in filters[:-1]
        ]
        if separation:  # the analyser sees whole units: chunking changes nothing
            self.spatializers.append(SceneSpatializer(filters[-1], hrtf, sample_rate, block,
                                                      **separation))
            self._units = UnitBuffer(analysis_unit(render, sample_rate))
        else:
            self.spatializers.append(Spatializer(filters[-1], hrtf.taps, sample_rate, block))

    def _stack(self, pieces: list[np.ndarray | None]) -> np.ndarray:
        n = next(p.shape[1] for p in pieces if p is not None)
        return np.stack([np.zeros((2, n), np.float32) if p is None else p.astype(np.float32)
                         for p in pieces])

    def _push(self, chunk: np.ndarray) -> np.ndarray:
        return self._stack([None if s is None else s.push(chunk) for s in self.spatializers])

    def _nothing(self) -> np.ndarray:
        return np.zeros((len(self.spatializers), 2, 0), np.float32)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        if self._units is None:
            return self._push(chunk)
        return self._units.feed(chunk, self._push, self._nothing())

    def flush(self) -> np.ndarray:
        held = (self._nothing() if self._units is None
                else self._units.drain(self._push, self._nothing()))
        return np.concatenate([held, self._stack([None if s is None else s.flush()
                                                  for s in self.spatializers])], axis=2)


def render_hypotheses(mono: np.ndarray, tracks: Sequence[SourceTrack], hrtf: HRTFSet,
                      max_sources: int, sample_rate: int, block: int, neighbours: int,
                      render: RenderConfig | None = None, version: int = 2) -> np.ndarray:
    """Whole-signal hypotheses: (N,) -> (S, 2, N) float32."""
    stream = HypothesisStream(tracks, hrtf, max_sources, sample_rate, block, neighbours,
                              render, version)
    return np.concatenate([stream.push(mono), stream.flush()], axis=2)
