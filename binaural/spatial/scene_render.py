"""The DSP renderer of the remaster pipeline and the evaluation: room-aware and gated.

    gated_mixture_filter: mixture_filter's shares (1/r^2) times each track's class activity
                          and its association probability (which track sounds)
    SceneSpatializer:     Spatializer whose frames are split into a direct/early part,
                          rendered through the HRTF at the sources' directions, and a
                          late/diffuse part rendered binaurally diffuse, energy preserved
    build_spatializer:    RenderConfig + tracks -> the streaming renderer

Per frame k and bin f, with S the mono frame's spectrum, H_c the direction filter of ear c
and G the direct fraction (binaural.spatial.reverb.LateReverbTracker, from the blind T60):

    decorrelated:  Y_c = S (sqrt(G) H_c + sqrt(1 - G) D_c)
                   D_c fixed decorrelation filters, per ear the diffuse-field HRTF magnitude,
                   their interaural coherence that of a diffuse field (binaural.spatial.reverb)
    coherent:      |Y_c|^2 = |S|^2 (G |H_c|^2 + (1 - G) M_c^2), M_c the diffuse-field
                   magnitude, and the interaural phase that of the expected cross-spectrum
                   G H_L H_R* + (1 - G) gamma M_L M_R (gamma the diffuse coherence): the
                   cues a diffuse tail gives on average, without its random per-bin scatter

With G = 1 (no reverberation estimated) both reduce to the anechoic render S H_c, which is
also what mixture_filter + Spatializer give. Neither mixture_filter nor Spatializer change:
the diffusion generator's hypotheses depend on them.

With two or more tracks and a separation model (render.separation_model,
binaural.spatial.separation) the direction filter is chosen per bin: H_c = sum_k sqrt(w_k)
H_k,c with w the cell's shares (the model's dominance of each track's class on top of the
gated per-frame shares), instead of one blend of the tracks' filters per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from binaural.spatial.config import RenderConfig
from binaural.spatial.diffuse import diffuse_coherence, diffuse_field_magnitude
from binaural.spatial.gate import ActivityModel, ActivityTracker
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import (
    FilterFn,
    MixtureFilter,
    Spatializer,
    WeightFn,
    mixture_filter,
)
from binaural.spatial.reverb import LateReverbTracker, T60Tracker
from binaural.spatial.separation import (
    SeparationModel,
    SeparationTracker,
    bin_interpolation,
    cell_shares,
    class_logits,
)
from binaural.spatial.tracks import SourceTrack

log = logging.getLogger(__name__)

DIFFUSE_MODES = ("coherent", "decorrelated")
DIFFUSE_SEED = 20260  # the decorrelation filters are fixed: one draw per renderer build

def gated_mixture_filter(
    hrtf: HRTFSet,
    tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    weights_at: WeightFn,
    neighbours: int = 3,
) -> FilterFn:
    """mixture_filter with each track's share (1/r^2 where present) multiplied by its
    weight at the time; the shares are normalised to sum to one (energy kept). Where no
    track is present, or every present track weighs zero, the mixture is rendered straight
    ahead. weights_at returning ones gives mixture_filter's filters."""
    return mixture_filter(hrtf, tracks, neighbours, weights_at)


def activity_weights(tracker: ActivityTracker, classes: Sequence[str], floor: float,
                     sharpness: float, unknown: float) -> WeightFn:
    """Per track, max(p, floor) ** sharpness with p the estimated activity of its class;
    a class the model does not know weighs `unknown` ** sharpness."""
    index = {c: i for i, c in enumerate(tracker.model.classes)}

    def weights_at(t: np.ndarray) -> np.ndarray:
        probs = tracker.at(t)  # (F, C)
        out = np.empty((len(classes), len(t)))
        for k, cls in enumerate(classes):
            p = probs[:, index[cls]] if cls in index else np.full(len(t), unknown)
            out[k] = np.maximum(p, floor) ** sharpness
        return out

    return weights_at


def association_weights(tracks: Sequence[SourceTrack], floor: float, sharpness: float
                        ) -> WeightFn | None:
    """Per track, max(p, floor) ** sharpness with p its probability of sounding at the
    time (SourceTrack.sounding, binaural.spatial.association); a track without one weighs
    one. None when no track has one."""
    if all(t.sounding is None for t in tracks):
        return None

    def weights_at(t: np.ndarray) -> np.ndarray:
        out = np.ones((len(tracks), len(t)))
        for k, tr in enumerate(tracks):
            if tr.sounding is not None:
                out[k] = np.maximum(np.interp(t, tr.times_s, tr.sounding), floor) ** sharpness
        return out

    return weights_at


def _product(first: WeightFn | None, second: WeightFn | None) -> WeightFn | None:
    if first is None or second is None:
        return first or second
    return lambda t: first(t) * second(t)


def decorrelation_filters(hrtf: HRTFSet, taps: int, nfft: int, seed: int = DIFFUSE_SEED
                          ) -> np.ndarray:
    """Two FIRs (2, taps), returned as spectra (2, nfft // 2 + 1): unit-modulus random
    phases mixed per frequency to the diffuse-field interaural coherence, each ear shaped
    by its diffuse-field HRTF magnitude, faded out over their length, and scaled so each
    ear's mean power gain is its diffuse-field power."""

    rng = np.random.default_rng(seed)
    freqs = sfft.rfftfreq(taps, 1.0 / hrtf.sample_rate)
    z = np.exp(2j * np.pi * rng.random((2, freqs.size)))
    gamma = diffuse_coherence(freqs)
    a, b = np.sqrt((1 + gamma) / 2), np.sqrt(np.clip(1 - gamma, 0.0, None) / 2)
    mixed = np.stack([a * z[0] + b * z[1], a * z[0] - b * z[1]])
    magnitude = diffuse_field_magnitude(hrtf, freqs)
    mixed *= magnitude
    mixed[:, 0] = magnitude[:, 0]  # real DC
    irs = sfft.irfft(mixed, taps, axis=-1) * np.hanning(2 * taps)[taps:]
    spectra = sfft.rfft(irs, nfft, axis=-1)
    grid = sfft.rfftfreq(nfft, 1.0 / hrtf.sample_rate)
    target = np.mean(diffuse_field_magnitude(hrtf, grid) ** 2, axis=-1)
    return spectra * np.sqrt(target / np.mean(np.abs(spectra) ** 2, axis=-1))[:, None]


class UnitBuffer:
    """Regroups a stream of chunks into whole units of `unit` samples (the last, shorter
    one from rest()): what is fed downstream does not depend on the caller's chunking."""

    def __init__(self, unit: int) -> None:
        if unit <= 0:
            raise ValueError(f"unit: positive, not {unit}")
        self.unit = unit
        self._held: list[np.ndarray] = []
        self._held_n = 0

    def take(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The whole units complete after `chunk` (float64), in order; the rest is held."""
        chunk = np.asarray(chunk, dtype=np.float64).reshape(-1)
        self._held.append(chunk)
        self._held_n += chunk.size
        if self._held_n < self.unit:
            return []
        data = np.concatenate(self._held)
        whole = (data.size // self.unit) * self.unit
        self._held, self._held_n = [data[whole:]], data.size - whole
        return [data[i:i + self.unit] for i in range(0, whole, self.unit)]

    def rest(self) -> np.ndarray | None:
        """The held samples (None if none), emptying the buffer."""
        if not self._held_n:
            return None
        data = np.concatenate(self._held)
        self._held, self._held_n = [], 0
        return data

    def feed(self, chunk: np.ndarray, push: Callable[[np.ndarray], np.ndarray],
             empty: np.ndarray) -> np.ndarray:
        """`push` of each whole unit complete after `chunk`, joined on the last axis
        (`empty`, of no samples, when none is)."""
        return np.concatenate([empty] + [push(u) for u in self.take(chunk)], axis=-1)

    def drain(self, push: Callable[[np.ndarray], np.ndarray], empty: np.ndarray
              ) -> np.ndarray:
        """`push` of the held samples, emptying the buffer (`empty` when none are held)."""
        rest = self.rest()
        return empty if rest is None else push(rest)


class SceneSpatializer(Spatializer):
    """Spatializer with the room-aware split of each frame (module docstring) and the
    analysers (T60, class activity) fed each chunk before its frames are rendered.

    `late` None (or a T60 below its minimum) renders exactly as Spatializer does.
    """

    def __init__(self, filter_at: FilterFn, hrtf: HRTFSet, sample_rate: int, block: int = 512,
                 late: LateReverbTracker | None = None, t60: T60Tracker | None = None,
                 activity: ActivityTracker | None = None, diffuse_mode: str = "coherent",
                 diffuse_taps: int = 1024, reverb_gate: ActivityTracker | None = None,
                 reverb_threshold: float = 0.5, fallback_t60_s: float = 0.0,
                 unit: int | None = None, separation: SeparationTracker | None = None,
                 track_classes: Sequence[str] = (), separation_sharpness: float = 1.0):
        if diffuse_mode not in DIFFUSE_MODES:
            raise ValueError(f"diffuse mode {diffuse_mode!r} not in {DIFFUSE_MODES}")
        taps = max(hrtf.taps, diffuse_taps) if diffuse_mode == "decorrelated" else hrtf.taps
        super().__init__(filter_at, taps, sample_rate, block)
        self.hrtf_taps = hrtf.taps
        self.late, self.t60, self.activity = late, t60, activity
        self.diffuse_mode = diffuse_mode

        grid = sfft.rfftfreq(self.nfft, 1.0 / sample_rate)
        self._magnitude = diffuse_field_magnitude(hrtf, grid)  # (2, F)
        self._gamma = diffuse_coherence(grid)
        self._decorrelation = (decorrelation_filters(hrtf, diffuse_taps, self.nfft)
                               if late is not None and diffuse_mode == "decorrelated" else None)
        self._direct_bins: np.ndarray | None = None  # keep_direct_below
        self.reverb_gate, self.reverb_threshold = reverb_gate, reverb_threshold
        self.fallback_t60_s = fallback_t60_s
        self._reverb_evidence = [0.0, 0]  # sum of the detector's frame probabilities, frames
        self.last_t60_s = 0.0
        if unit is not None and unit < block:
            raise ValueError(f"analysis unit {unit} shorter than the block {block}")
        self._units = None if unit is None else UnitBuffer(unit)
        self.separation = None
        if separation is not None:
            if not isinstance(filter_at, MixtureFilter) or len(track_classes) != len(
                    filter_at.tracks):
                raise ValueError("separation needs a MixtureFilter and one class per track")
            self.separation, self.track_classes = separation, tuple(track_classes)
            self.separation_sharpness = separation_sharpness
            self._to_bins = bin_interpolation(grid)  # (bins, M)

    @property
    def reverberant(self) -> bool:
        """The detector's verdict on the audio so far (no detector: True)."""
        if self.reverb_gate is None:
            return True
        total, count = self._reverb_evidence
        return count > 0 and total / count >= self.reverb_threshold

    def _update_t60(self, estimate: float) -> None:
        if not self.reverberant:
            self.last_t60_s = 0.0
        elif self.reverb_gate is not None and self.late is not None and (
                estimate < self.late.min_t60_s):
            self.last_t60_s = self.fallback_t60_s  # reverberant, but no free decay seen
        else:
            self.last_t60_s = estimate

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Feed mono samples; returns the binaural samples that are final, (2, n).

        With a `unit`, the analysers and the renderer see the input in whole units of
        that many samples whatever the caller's chunks (the rest is held until the unit is
        complete or flush): the T60, the reverberation verdict and the activity, and so
        the output, do not depend on how the input was chunked."""
        if self._units is None:
            return self._push_unit(np.asarray(chunk, dtype=np.float64).reshape(-1))
        return self._units.feed(chunk, self._push_unit, self._nothing())

    def _nothing(self) -> np.ndarray:
        return np.zeros((self.channels, 0), dtype=np.float32)

    def _push_unit(self, chunk: np.ndarray) -> np.ndarray:
        if self.reverb_gate is not None:
            self.reverb_gate.update(chunk)
            self._reverb_evidence[0] += float(self.reverb_gate.new_probs[:, 0].sum())
            self._reverb_evidence[1] += self.reverb_gate.new_probs.shape[0]
        if self.t60 is not None:
            self._update_t60(self.t60.update(chunk))
        if self.activity is not None:
            self.activity.update(chunk)
        if self.separation is not None:
            self.separation.update(chunk)
        return super().push(chunk)

    def flush(self, tail: bool = False) -> np.ndarray:
        held = (self._nothing() if self._units is None
                else self._units.drain(self._push_unit, self._nothing()))
        if self.t60 is not None:
            self._update_t60(self.t60.finish())
        return np.concatenate([held, super().flush(tail)], axis=1)

    def keep_direct_below(self, hz: float) -> None:
        """Bins below `hz` stay direct (G = 1) whatever the late estimate says."""
        freqs = sfft.rfftfreq(self.nfft, 1.0 / self.sample_rate)
        self._direct_bins = freqs < hz if hz > 0 else None

    def _filter_spectra(self, times: np.ndarray) -> np.ndarray | None:
        """The filters' spectra (F, 2, bins); with a separation model each bin's filter is
        the tracks' filters mixed by that cell's shares (separation.cell_shares: the
        model's dominance of each track's class times its share of the per-frame mixture),
        sum_k sqrt(w_k) H_k, straight ahead where no track takes a share."""
        if self.separation is None:
            return super()._filter_spectra(times)
        shares, per_track = self.filter_at.parts(times)  # (K, F), K x (F, 2, taps)
        logits = class_logits(self.separation.at(times), self.track_classes,
                              self.separation.model.classes)  # (F, K, M)
        w = cell_shares(logits @ self._to_bins.T, shares, self.separation_sharpness)
        spectra = sfft.rfft(np.stack(per_track, axis=1), self.nfft, axis=-1)  # (F, K, 2, B)
        h = np.einsum("fkb,fkcb->fcb", np.sqrt(w), spectra)
        none = shares.sum(axis=0) <= 0
        if np.any(none):
            h[none] = sfft.rfft(self.filter_at.front, self.nfft, axis=-1)
        return h

    def _spectra(self, spec: np.ndarray, h_spec: np.ndarray) -> np.ndarray:
        """Output spectra (F, 2, bins) of frame spectra (F, bins) and filters (F, 2, bins)."""
        return self._split(spec, spec[:, None, :] * h_spec)

    def _split(self, spec: np.ndarray, direct: np.ndarray) -> np.ndarray:
        """The room-aware split (module docstring) of the frames' direct render `direct`
        (F, 2, bins; the renderer: S H_c, RoomSplit: an estimate's spectra), S = `spec`."""
        if self.late is None:
            return direct
        g = self.late.direct_fraction(spec, self.last_t60_s)  # (F, bins), updates its state
        if self._direct_bins is not None:
            g[:, self._direct_bins] = 1.0
        if np.all(g >= 1.0):
            return direct
        if self.diffuse_mode == "decorrelated":
            return (np.sqrt(g)[:, None, :] * direct
                    + (spec * np.sqrt(1 - g))[:, None, :] * self._decorrelation)
        return self._coherent(spec, direct, g)

    def _coherent(self, spec: np.ndarray, direct: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The coherent split (module docstring) with Y_c = `direct` (F, 2, bins),
        S = `spec` (F, bins) and the direct fractions `g` (F, bins):
        |Y_c|^2 -> g |Y_c|^2 + (1 - g) |S|^2 M_c^2, Y_L Y_R* -> g Y_L Y_R* + (1 - g) |S|^2
        gamma M_L M_R, each ear's mean phase kept."""
        yl, yr = direct[:, 0], direct[:, 1]
        m = self._magnitude
        diffuse = (1 - g) * np.abs(spec) ** 2
        power = g[:, None, :] * np.abs(direct) ** 2 + diffuse[:, None, :] * (m ** 2)[None]
        cross = g * yl * np.conj(yr) + diffuse * (self._gamma * m[0] * m[1])[None]
        mid = np.angle(yr) + 0.5 * np.angle(yl * np.conj(yr))
        half = 0.5 * np.angle(cross)
        return np.sqrt(power) * np.exp(1j * np.stack([mid + half, mid - half], axis=1))


class DiffuseSpatializer(SceneSpatializer):
    """The whole input rendered as a diffuse field (the late part with G = 0 in coherent
    mode): per ear the diffuse-field HRTF magnitude, the interaural phase that of the
    diffuse coherence (0 where it is positive, pi where negative). `filter_at` is unused
    (any filter of the HRTF set's length, e.g. the straight-ahead mixture_filter)."""

    def _spectra(self, spec: np.ndarray, h_spec: np.ndarray) -> np.ndarray:
        half = 0.5 * np.angle(self._gamma.astype(complex))
        filt = np.stack([self._magnitude[0] * np.exp(1j * half),
                         self._magnitude[1] * np.exp(-1j * half)])
        return spec[:, None, :] * filt[None]


@lru_cache(maxsize=4)
def load_activity_model(path: str) -> ActivityModel | None:
    """The activity model (or reverberation detector) at `path`; None, with a warning,
    when the file is missing (the renderer then does without it)."""
    if not Path(path).is_file():
        log.warning("%s: model not found; the renderer does without it", path)
        return None
    return ActivityModel.load(path)


@lru_cache(maxsize=4)
def load_separation_model(path: str) -> SeparationModel | None:
    """The separation model at `path`; None, with a warning, when the file is missing
    (the renderer then shares each frame out as one blend)."""
    if not Path(path).is_file():
        log.warning("%s: separation model not found; the renderer does without it", path)
        return None
    return SeparationModel.load(path)


def renderer_version(hrtf: HRTFSet, render: RenderConfig) -> str:
    """The DSP renderer's identity: the HRTF set, every render setting and the content of
    the activity, reverberation and separation models it loads (a retrained gate is a new
    version)."""
    import dataclasses
    import hashlib
    import json

    from binaural.io.outputs import file_sha256

    def digest(path: str) -> str | None:
        return file_sha256(path)[:12] if path and Path(path).is_file() else None

    settings = dataclasses.asdict(render) | {"hrtf": None, "device": None,
                                             "activity_model": digest(render.activity_model),
                                             "separation_model": digest(
                                                 render.separation_model),
                                             "reverb_model": digest(render.reverb_model)}
    tag = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"dsp-hrtf:{hrtf.name}@{hrtf.digest}+render:{tag}"


def build_spatializer(
    hrtf: HRTFSet, tracks: Sequence[SourceTrack], render: RenderConfig, sample_rate: int,
    use_activity: bool = True, directions=None, spatializer_cls: type | None = None,
    in_units: bool = True,
) -> Spatializer:
    """The streaming DSP renderer along `tracks` as `render` configures it.

    With render.reverb off and no activity gate (render.activity_model empty, the model
    missing, or use_activity False: e.g. tracks already cut to where they sound) this is
    mixture_filter + Spatializer, the renderer the generator's hypotheses use. Tracks
    with a `sounding` probability (the association) are gated by it too (use_activity).

    `directions` (default `hrtf`) gives the filters per direction (`.taps`,
    `.interpolate`), and `spatializer_cls` (a SceneSpatializer) renders with them: the
    ambisonic encoder (binaural.ambisonics) reuses the scene's shares, gates and split.
    The room-aware renderer takes its input in units of render.analysis_s (UnitBuffer);
    `in_units` False leaves that to a caller that feeds several renderers in step."""
    directions = hrtf if directions is None else directions
    as_tuples = [t.as_tuple() for t in tracks]
    model = load_activity_model(render.activity_model) if (
        use_activity and render.activity_model and tracks) else None
    activity = ActivityTracker(model, sample_rate, render.activity_smoothing_s) if model else None
    weights = association_weights(tracks, render.association_floor,
                                  render.association_sharpness) if use_activity else None
    if activity is not None:
        weights = _product(activity_weights(activity, [t.source_class for t in tracks],
                                            render.activity_floor, render.activity_sharpness,
                                            render.activity_unknown), weights)
    if weights is not None:
        filt = gated_mixture_filter(directions, as_tuples, weights, render.neighbours)
    else:
        filt = mixture_filter(directions, as_tuples, render.neighbours)
    separation = separation_options(render, tracks, sample_rate)
    if not render.reverb and activity is None and spatializer_cls is None and not separation:
        return Spatializer(filt, hrtf.taps, sample_rate, render.block)
    late = t60 = None
    if render.reverb:
        late = LateReverbTracker(
            sample_rate, render.block, late_onset_s=render.late_onset_ms / 1e3,
            high_onset_s=render.late_onset_high_ms / 1e3, split_hz=render.late_split_hz,
            late_scale=render.late_scale, direct_floor=render.direct_floor,
            min_t60_s=render.min_t60_s, floor_scale=render.floor_scale)
        t60 = T60Tracker(sample_rate, quantile=render.t60_quantile, scale=render.t60_scale)
    detector = load_activity_model(render.reverb_model) if (
        render.reverb and render.reverb_model) else None
    reverb_gate = ActivityTracker(detector, sample_rate) if detector else None
    return (spatializer_cls or SceneSpatializer)(
        filt, hrtf, sample_rate, render.block, late, t60, activity, render.diffuse_mode,
        render.diffuse_taps, reverb_gate, render.reverb_threshold, render.fallback_t60_s,
        unit=analysis_unit(render, sample_rate) if in_units else None, **separation)


def separation_options(render: RenderConfig, tracks: Sequence[SourceTrack], sample_rate: int
                       ) -> dict:
    """SceneSpatializer's separation arguments for `tracks` (a fresh tracker, the tracks'
    classes, the sharpness); empty when the renderer does not separate them (no model
    configured or found, fewer than two tracks)."""
    model = load_separation_model(render.separation_model) if (
        render.separation_model and len(tracks) >= 2) else None
    if model is None:
        return {}
    return {"separation": SeparationTracker(model, sample_rate),
            "track_classes": [t.source_class for t in tracks],
            "separation_sharpness": render.separation_sharpness}


def analysis_unit(render: RenderConfig, sample_rate: int) -> int:
    """The room-aware renderer's analysis unit in samples (render.analysis_s)."""
    return max(render.block, int(round(render.analysis_s * sample_rate)))


def render_scene(mono: np.ndarray, hrtf: HRTFSet, tracks: Sequence[SourceTrack],
                 render: RenderConfig, sample_rate: int, use_activity: bool = True
                 ) -> np.ndarray:
    """Whole-signal convenience wrapper around build_spatializer: (N,) -> (2, N) float32."""
    sp = build_spatializer(hrtf, tracks, render, sample_rate, use_activity)
    return np.concatenate([sp.push(mono), sp.flush()], axis=1)
