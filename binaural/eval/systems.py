"""The systems compared by `binaural evaluate`, and the clips they run on.

    SYSTEMS:      name -> SystemSpec(fn(record, context) -> (2, N) float32 at
                  context.sample_rate); `model` plugs in later with @register_system
    EvalContext:  configs, the renderer's HRTF set, the detector (loaded only when a
                  selected system needs it), per-clip caches
    Clip:         a record's mono, reference and truth at one rate, one length

Pure domain code: no Prefect, Ray or MLflow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import AzimuthTable, measure_ild_table
from binaural.eval.datasets import Record
from binaural.eval.distances import resample
from binaural.eval.truth import load_truth
from binaural.io.audio import read_wav
from binaural.io.config import SceneConfig
from binaural.io.video import iter_audio
from binaural.spatial.config import LocalizeConfig, RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.localization import Localization, Tracker, localize_video
from binaural.spatial.scene_render import render_scene
from binaural.spatial.tracks import SourceTrack

# ---------------------------------------------------------------- clips


@dataclass
class Clip:
    """A record's signals, loaded at one rate and trimmed to a common length.

    Attributes:
        mono: The system input, shape (N,): the true mono (the record's mono wav, else the
            video's track when it is mono); otherwise (no audio track, or a stereo one, which
            in FAIR-Play's videos is the binaural recording itself) the reference's downmix
            (L + R) / 2, the mono of FAIR-Play's published protocol.
        reference: The binaural reference, shape (2, N).
        mono_source: "mono wav", "video track" or "reference downmix".
        truth_tracks: The truth's sources (empty without truth).
    """

    record: Record
    sample_rate: int
    mono: np.ndarray
    reference: np.ndarray
    mono_source: str
    truth: dict | None = None
    truth_tracks: list[SourceTrack] = field(default_factory=list)

    @property
    def n_sources(self) -> int | None:
        """Sources that sound (visible silent objects do not count)."""
        if self.truth is None:
            return None
        return sum(1 for s in self.truth["sources"] if not s.get("silent", False))

    @property
    def duration_s(self) -> float:
        return self.mono.shape[0] / self.sample_rate


def _read_at(path: Path, sample_rate: int) -> np.ndarray:
    audio, rate = read_wav(path)
    return resample(audio, rate, sample_rate).astype(np.float32)  # (C, N)


def _video_audio_channels(path: Path) -> int:
    """Channels of the video's first audio stream; 0 when it has none."""
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.channels if container.streams.audio else 0


def load_clip(record: Record, sample_rate: int, chunk_s: float) -> Clip:
    """Read a record's reference, mono and truth at sample_rate (see Clip for the mono)."""
    reference = _read_at(record.binaural, sample_rate)
    if reference.shape[0] != 2:
        raise ValueError(f"{record.binaural}: {reference.shape[0]} channels; binaural needs 2")
    if record.mono is not None:
        mono, source = _read_at(record.mono, sample_rate).mean(axis=0), "mono wav"
    elif _video_audio_channels(record.video) == 1:
        mono = np.concatenate(list(iter_audio(record.video, sample_rate, chunk_s)))
        source = "video track"
    else:
        mono, source = reference.mean(axis=0), "reference downmix"
    n = min(mono.shape[0], reference.shape[1])
    if n == 0:
        raise ValueError(f"{record.id}: empty audio")
    truth, tracks = load_truth(record.truth) if record.truth is not None else (None, [])
    return Clip(record, sample_rate, np.ascontiguousarray(mono[:n], dtype=np.float32),
                np.ascontiguousarray(reference[:, :n]), source, truth, tracks)


def _cut(track: SourceTrack, start_s: float, end_s: float) -> SourceTrack | None:
    """The part of a track within [start_s, end_s] (ends interpolated), or None if empty."""
    start_s, end_s = max(start_s, track.times_s[0]), min(end_s, track.times_s[-1])
    if end_s <= start_s:
        return None
    inner = (track.times_s > start_s) & (track.times_s < end_s)
    times = np.concatenate([[start_s], track.times_s[inner], [end_s]])

    def at(values: np.ndarray) -> np.ndarray:
        return np.interp(times, track.times_s, values)

    azimuth = np.degrees(at(np.unwrap(np.radians(track.azimuth_deg))))
    boxes = np.stack([at(track.boxes[:, j]) for j in range(track.boxes.shape[1])], axis=1)
    return dataclasses.replace(track, times_s=times, azimuth_deg=azimuth,
                               elevation_deg=at(track.elevation_deg),
                               distance_m=at(track.distance_m), boxes=boxes)


def sounding_tracks(truth: dict, tracks: Sequence[SourceTrack]) -> list[SourceTrack]:
    """The truth's tracks cut to the intervals where each source sounds (a source's
    `sounding: [[t0, t1], ...]`); a source without that key sounds all along."""
    pieces = []
    for source, track in zip(truth["sources"], tracks):
        intervals = source.get("sounding")
        if intervals is None:
            pieces.append(track)
            continue
        pieces.extend(p for t0, t1 in intervals if (p := _cut(track, t0, t1)) is not None)
    return pieces


# ---------------------------------------------------------------- systems


@dataclass
class EvalContext:
    """What systems share over a dataset: configs, the renderer's HRTF set, the detector
    (None when no selected system needs it), the ILD-to-azimuth table measured from the
    HRTF set, and per-clip caches (one clip at a time)."""

    scene: SceneConfig
    localize: LocalizeConfig
    render: RenderConfig
    evaluate: EvaluateConfig
    hrtf: HRTFSet
    tracker: Tracker | None = None
    ild_table: AzimuthTable | None = None
    _clips: dict[str, Clip] = field(default_factory=dict, repr=False)
    _localizations: dict[str, Localization] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.hrtf.sample_rate != self.scene.sample_rate:
            raise ValueError(f"HRTF set at {self.hrtf.sample_rate} Hz, scene at "
                             f"{self.scene.sample_rate} Hz")
        if self.ild_table is None:
            self.ild_table = measure_ild_table(self.hrtf)

    @property
    def sample_rate(self) -> int:
        return self.scene.sample_rate

    def clip(self, record: Record) -> Clip:
        """The record's signals (loaded once; the cache holds the current clip only)."""
        if record.id not in self._clips:
            self._clips.clear()
            self._clips[record.id] = load_clip(record, self.sample_rate, self.scene.chunk_s)
        return self._clips[record.id]

    def localization(self, record: Record) -> Localization:
        """The detector's sources in the record's video (run once per clip)."""
        if self.tracker is None:
            raise RuntimeError("no detector loaded: a system that needs one was not declared")
        if record.id not in self._localizations:
            self._localizations.clear()
            localize = self.localize
            truth = self.clip(record).truth
            if truth and truth.get("fov_deg"):
                # The field of view is camera metadata; a synthesized dataset records it.
                localize = dataclasses.replace(localize, fov_deg=float(truth["fov_deg"]))
            self._localizations[record.id] = localize_video(
                record.video, self.tracker, self.scene, localize)
        return self._localizations[record.id]

    def cached_localization(self, record: Record) -> Localization | None:
        return self._localizations.get(record.id)

    def forget(self, record: Record) -> None:
        self._clips.pop(record.id, None)
        self._localizations.pop(record.id, None)


SystemFn = Callable[[Record, EvalContext], np.ndarray]


@dataclass(frozen=True)
class SystemSpec:
    """A registered system: fn(record, context) -> (2, N) float32 at context.sample_rate,
    N the clip's length; what it needs decides what the evaluation loads or skips."""

    name: str
    fn: SystemFn
    description: str
    needs_detector: bool = False
    needs_truth: bool = False


SYSTEMS: dict[str, SystemSpec] = {}


def register_system(
    name: str, description: str, needs_detector: bool = False, needs_truth: bool = False
) -> Callable[[SystemFn], SystemFn]:
    """Decorator adding a system to SYSTEMS (e.g. the diffusion model as `model`)."""

    def add(fn: SystemFn) -> SystemFn:
        SYSTEMS[name] = SystemSpec(name, fn, description, needs_detector, needs_truth)
        return fn

    return add


SAVED_SEPARATOR = "@"  # NAME@DIR: a system whose outputs lie in DIR (saved_system)


def parse_systems(names: str | Iterable[str]) -> list[SystemSpec]:
    """SystemSpecs of "mono,dsp" or ["mono", "dsp"], in order, without repeats.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    if isinstance(names, str):
        names = names.split(",")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in SYSTEMS and SAVED_SEPARATOR not in n]
    if unknown or not wanted:
        raise ValueError(f"unknown systems {unknown or '(none given)'}; "
                         f"registered: {sorted(SYSTEMS)}, or NAME{SAVED_SEPARATOR}DIR "
                         "(outputs saved in DIR)")
    return [saved_system(*n.split(SAVED_SEPARATOR, 1)) if SAVED_SEPARATOR in n else SYSTEMS[n]
            for n in wanted]


def saved_system(name: str, folder: str | Path) -> SystemSpec:
    """A system whose outputs were made before: `NAME@DIR` reads DIR/<clip id>/NAME.wav
    (an evaluation's clips/ folder: rescoring it) or DIR/<clip id>.wav (any method's
    outputs, one binaural WAV per clip), resampled to the evaluation's rate.

    Raises:
        ValueError: an empty name, or DIR is not a folder.
    """
    folder = Path(folder)
    if not name or not folder.is_dir():
        raise ValueError(f"saved system {name!r}@{folder}: needs a name and a folder")

    def read_saved(record: Record, context: EvalContext) -> np.ndarray:
        for path in (folder / record.id / f"{name}.wav", folder / f"{record.id}.wav"):
            if path.is_file():
                audio = _read_at(path, context.sample_rate)
                if audio.shape[0] != 2:
                    raise ValueError(f"{path}: {audio.shape[0]} channels; binaural needs 2")
                return audio
        raise FileNotFoundError(f"{record.id}: no {folder / record.id / (name + '.wav')} "
                                f"nor {folder / (record.id + '.wav')}")

    return SystemSpec(name, read_saved, f"{name}: outputs saved in {folder}")


def render_along(mono: np.ndarray, tracks: Sequence[SourceTrack], context: EvalContext,
                 use_activity: bool = True) -> np.ndarray:
    """The DSP renderer of the remaster pipeline (binaural.spatial.scene_render.build_spatializer:
    shares by 1/r^2 times the class activity gate, straight ahead where none; the room-aware
    direct/diffuse split), block-wise. Returns (2, N) float32."""
    return render_scene(mono, context.hrtf, tracks, context.render, context.sample_rate,
                        use_activity)


@register_system("mono", "mono copy: L = R = the mono")
def mono_copy(record: Record, context: EvalContext) -> np.ndarray:
    mono = context.clip(record).mono
    return np.stack([mono, mono])


@register_system("dsp", "DSP renderer at the detected positions", needs_detector=True)
def dsp_detected(record: Record, context: EvalContext) -> np.ndarray:
    return render_along(context.clip(record).mono, context.localization(record).tracks, context)


@register_system("dsp-oracle", "DSP renderer along the true tracks (oracle geometry)",
                 needs_truth=True)
def dsp_oracle(record: Record, context: EvalContext) -> np.ndarray:
    clip = context.clip(record)
    if clip.truth is None:
        raise ValueError(f"{record.id}: no truth, so no true tracks")
    # The true tracks are already cut to where each source sounds: no activity gate.
    return render_along(clip.mono, sounding_tracks(clip.truth, clip.truth_tracks), context,
                        use_activity=False)
