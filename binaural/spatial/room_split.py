"""The renderer's room-aware split applied to a binaural estimate of the mono.

A generator that decides where each time-frequency cell comes from, from anechoic
hypotheses (the diffusion generator v2: per-band blends of the mono rendered along each
track), says nothing about the room. RoomSplit gives its output the room the renderer
estimates from the mono (binaural.spatial.scene_render: blind T60, Lebart's late part per
bin, the reverberation detector's verdict), frame by frame on the renderer's own framing:
with Y_c the estimate's spectra, S the mono's and G the direct fraction,

    coherent:      |Y_c|^2 -> G |Y_c|^2 + (1 - G) |S|^2 M_c^2, the cross-spectrum
                   G Y_L Y_R* + (1 - G) |S|^2 gamma M_L M_R, each ear's mean phase kept
    decorrelated:  Y_c -> sqrt(G) Y_c + sqrt(1 - G) S D_c

exactly what the renderer does with Y_c = S H_c (its own direct render). Where the mono
is judged anechoic (G = 1), or render.reverb is off, the estimate passes unchanged; below
`min_hz` (default 0: every bin) it passes unchanged too (G = 1 there): the generator keeps
the direct sound's ITD, the cue the low bands carry.

Streaming: the mono is tapped as the generator reads it and pushed on only as far as the
estimate has arrived, so the two stay in step however the generator chunks its output;
the analysers take the mono in units of render.analysis_s (the renderer's
chunk-independence), so memory is bounded by a unit, not by the video.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from scipy import fft as sfft

from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.scene_render import SceneSpatializer, build_spatializer


class _EstimateSpatializer(SceneSpatializer):
    """SceneSpatializer whose direct render is a given binaural estimate, framed as the
    mono is (`feed` it at least as far as the mono pushed)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._estimate = np.zeros((2, self.block))  # the mono's `block` zeros in front
        # The transform stays the renderer's (frame + HRIR length): the split is a filter
        # too (the diffuse-field magnitudes), and a frame-long transform wraps it around
        # (LSD +0.4 dB on the held-out scenes).
        self._y: np.ndarray | None = None

    def _filter_spectra(self, times: np.ndarray) -> None:
        return None  # the estimate is the direct render

    def feed(self, estimate: np.ndarray) -> None:
        self._estimate = np.concatenate([self._estimate, np.asarray(estimate, np.float64)],
                                        axis=1)

    def _run_frames(self, count: int) -> np.ndarray:
        b = self.block
        short = (count + 1) * b - self._estimate.shape[1]
        if short > 0:  # flush: zeros past the end, as the mono is padded
            self._estimate = np.pad(self._estimate, ((0, 0), (0, short)))
        frames = np.lib.stride_tricks.sliding_window_view(self._estimate, 2 * b, axis=1)
        frames = frames[:, ::b][:, :count].transpose(1, 0, 2)  # (count, 2, 2b)
        self._y = sfft.rfft(frames * self.window, self.nfft, axis=-1)
        out = super()._run_frames(count)
        self._estimate = self._estimate[:, count * b:]
        return out

    def _spectra(self, spec: np.ndarray, h_spec: None) -> np.ndarray:
        return self._split(spec, self._y)


class RoomSplit:
    """The room split of a streamed estimate (module docstring): `tap` the mono chunks the
    generator reads, `push` each piece it emits (in order; returns what is final), then
    `flush` (render.drain does both). The output's length is the mono's."""

    def __init__(self, hrtf: HRTFSet, render: RenderConfig, sample_rate: int,
                 min_hz: float = 0.0):
        self._sp: _EstimateSpatializer = build_spatializer(
            hrtf, [], render, sample_rate, use_activity=False,
            spatializer_cls=_EstimateSpatializer)
        self._sp.keep_direct_below(min_hz)
        self._mono: list[np.ndarray] = []  # tapped, not yet pushed
        self._mono_n = 0

    @property
    def spatializer(self) -> SceneSpatializer:
        """The renderer whose analysers judge the room (reverberant, last_t60_s)."""
        return self._sp

    def tap(self, mono_chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The chunks unchanged, each kept for the split as it passes."""
        for chunk in mono_chunks:
            chunk = np.asarray(chunk, np.float32).reshape(-1)
            self._mono.append(chunk)
            self._mono_n += chunk.size
            yield chunk

    def push(self, estimate: np.ndarray) -> np.ndarray:
        """The next (2, n) of the estimate -> the split output that is final, (2, m)."""
        n = estimate.shape[1]
        if n > self._mono_n:
            raise ValueError(f"estimate ahead of the mono: {n} samples, {self._mono_n} read")
        mono = np.concatenate(self._mono) if self._mono else np.zeros(0, np.float32)
        self._mono, self._mono_n = [mono[n:]], mono.size - n
        self._sp.feed(estimate)
        return self._sp.push(mono[:n])

    def flush(self) -> np.ndarray:
        return self._sp.flush()


def room_split(mono: np.ndarray, estimate: np.ndarray, hrtf: HRTFSet, render: RenderConfig,
               sample_rate: int, min_hz: float = 0.0) -> np.ndarray:
    """Whole-signal convenience wrapper: mono (N,), estimate (2, N) -> (2, N) float32."""
    split = RoomSplit(hrtf, render, sample_rate, min_hz)
    list(split.tap([mono]))
    return np.concatenate([split.push(estimate), split.flush()], axis=1)
