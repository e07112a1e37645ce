"""Localization and rendering settings (params.yaml `localize`, `render`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Sound-source classes the product knows, with the typical visible height (m)
# the camera model uses to turn a box height into a distance.
DEFAULT_CLASS_HEIGHTS_M: Mapping[str, float] = {
    "person": 1.7,
    "piano": 1.0,
    "guitar": 1.0,
    "violin": 0.6,
    "trumpet": 0.5,
    "drum": 0.6,
    "dog": 0.6,
    "car": 1.5,
}


# The sound-source classes, in a fixed order (the generator's class embedding indexes it).
SOUND_SOURCE_CLASSES: tuple[str, ...] = tuple(DEFAULT_CLASS_HEIGHTS_M)

# Detector class name -> sound-source class. Covers our own detector and COCO
# names (yolo11n.pt) so published weights work unchanged.
DEFAULT_CLASS_MAP: Mapping[str, str] = {
    "person": "person",
    "piano": "piano",
    "guitar": "guitar",
    "violin": "violin",
    "trumpet": "trumpet",
    "drum": "drum",
    "dog": "dog",
    "cat": "dog",
    "car": "car",
    "truck": "car",
    "bus": "car",
    "motorcycle": "car",
}


@dataclass(frozen=True)
class AssociateConfig:
    """Which visible object is sounding (binaural.spatial.association; params.yaml
    `localize.associate`): `model` (.npz; empty: off) on a second decode pass at `fps`
    (capped at the video's rate), grey frames at most `width` pixels wide, the mono read in
    chunks of `chunk_s`; features over windows of `window_s` (and their central
    `short_window_s`) every `hop_s`, motion lagging the sound by min_lag_s..max_lag_s; the
    part of a track that moves with the sound is chosen over the windows within
    `cell_context_s` either side; the windows' probabilities are decoded over time
    (association.decode: who sounds changes with `switch_prob` per hop, each window's odds
    to the power `evidence_weight`); `activity_model` (empty: none) gives the class
    activity feature. A window has a confident sounding source where its likeliest track
    has a probability >= `confident`."""

    model: str = ""
    fps: float = 25.0
    width: int = 320
    chunk_s: float = 10.0
    window_s: float = 2.0
    short_window_s: float = 1.0
    hop_s: float = 0.25
    min_lag_s: float = -0.08
    max_lag_s: float = 0.2
    cell_context_s: float = 3.0
    switch_prob: float = 0.2
    evidence_weight: float = 0.5
    activity_model: str = ""
    confident: float = 0.7

    def __post_init__(self) -> None:
        if (self.fps <= 0 or self.window_s <= 0 or self.hop_s <= 0 or self.width < 8
                or not 0 < self.short_window_s <= self.window_s):
            raise ValueError("localize.associate: fps, window_s, hop_s positive; width >= 8; "
                             "0 < short_window_s <= window_s")
        if self.min_lag_s > self.max_lag_s:
            raise ValueError("localize.associate: min_lag_s > max_lag_s")
        if (self.cell_context_s < 0 or not 0 < self.switch_prob <= 0.5
                or self.evidence_weight <= 0):
            raise ValueError("localize.associate: cell_context_s >= 0; 0 < switch_prob <= 0.5; "
                             "evidence_weight > 0")


@dataclass(frozen=True)
class LocalizeConfig:
    """Camera model and track post-processing."""

    fov_deg: float = 65.0
    class_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASS_MAP))
    class_heights_m: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CLASS_HEIGHTS_M)
    )
    smoothing_s: float = 0.6
    min_track_s: float = 0.4
    max_sources: int = 4
    # One track per object (binaural.spatial.track_hygiene): ids of one sound class whose
    # boxes overlap by IoU >= duplicate_iou in half their shared frames are merged; an id
    # starting within bridge_gap_s after another ended, where it was heading (within
    # bridge_distance box heights) and of a like size (height ratio <= bridge_size_ratio),
    # continues it.
    duplicate_iou: float = 0.5
    bridge_gap_s: float = 2.0
    bridge_distance: float = 1.0
    bridge_size_ratio: float = 1.5
    # Detections look unreliable (binaural.spatial.reliability; the report warns and the
    # CLI prints no agreement figure) below this mean confidence, above this share of
    # detections off their track's class, or above this share of tracks shorter than
    # short_track_s.
    min_mean_confidence: float = 0.5
    max_label_flicker: float = 0.2
    short_track_s: float = 1.0
    max_short_tracks: float = 0.5
    associate: AssociateConfig = field(default_factory=AssociateConfig)


@dataclass(frozen=True)
class RenderConfig:
    """DSP renderer: HRTF convolution along the tracked directions (binaural.spatial.scene_render).

    Room-aware rendering (`reverb`): a blind T60 from the mono's free decays (its
    `t60_quantile` times `t60_scale`; below `min_t60_s`: anechoic), the late part per bin
    by Lebart's estimator from `late_onset_ms` (from `late_onset_high_ms` in the bins from
    `late_split_hz` up; times `late_scale`, plus `floor_scale` times the stationary
    floor), at least `direct_floor` of each bin kept direct; the late
    part rendered `diffuse_mode` "coherent" (the diffuse field's average cues) or
    "decorrelated" (filters of `diffuse_taps` with the diffuse interaural coherence).
    `reverb_model` (.npz; empty: none) decides whether the mono is reverberant at all (its
    mean frame probability >= `reverb_threshold`): if not, the render is anechoic; if so
    and no free decay gave a T60, `fallback_t60_s` is used.
    Activity gate: `activity_model` (.npz; empty: off) gives each visible source's class
    a probability p of sounding; its 1/r^2 share is scaled by max(p, activity_floor) **
    activity_sharpness (an unknown class: activity_unknown), p smoothed over
    activity_smoothing_s.
    Separation (`separation_model`, .npz; empty: off; binaural.spatial.separation): with two
    or more tracks each frequency bin's filter mixes the tracks' filters by that cell's
    shares, the model's dominance of each track's class (times `separation_sharpness`) on
    top of the per-frame shares above, instead of one blend for the whole frame.
    """

    hrtf: str = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"
    block: int = 512
    neighbours: int = 3
    device: str = "cpu"
    reverb: bool = True
    diffuse_mode: str = "coherent"
    diffuse_taps: int = 1024
    late_onset_ms: float = 50.0
    late_onset_high_ms: float = 50.0
    late_split_hz: float = 1500.0
    late_scale: float = 1.0
    floor_scale: float = 0.0
    direct_floor: float = 0.1
    min_t60_s: float = 0.12
    t60_quantile: float = 0.2
    t60_scale: float = 0.9
    reverb_model: str = "models/weights/reverb.npz"
    reverb_threshold: float = 0.5
    fallback_t60_s: float = 0.3
    activity_model: str = "models/weights/activity.npz"
    activity_floor: float = 0.05
    activity_sharpness: float = 2.0
    activity_smoothing_s: float = 0.3
    activity_unknown: float = 0.5
    # Association (SourceTrack.sounding, where localize.associate made it): each share is
    # also scaled by max(p, association_floor) ** association_sharpness.
    association_floor: float = 0.05
    association_sharpness: float = 2.0
    separation_model: str = ""
    separation_sharpness: float = 1.0
    # The room-aware renderer's analysers (T60, reverberation verdict, activity) take the
    # input in units of this length, whatever the caller's chunks: the output does not
    # depend on the chunking (scene.chunk_s, a streaming client's buffers).
    analysis_s: float = 10.0

    def __post_init__(self) -> None:
        if self.diffuse_mode not in ("coherent", "decorrelated"):
            raise ValueError(f"render.diffuse_mode: {self.diffuse_mode!r} not in "
                             "('coherent', 'decorrelated')")
        if not 0.0 <= self.direct_floor <= 1.0 or not 0.0 <= self.t60_quantile <= 1.0:
            raise ValueError("render.direct_floor and render.t60_quantile: in [0, 1]")
        if self.activity_floor <= 0 or self.activity_sharpness <= 0:
            raise ValueError("render.activity_floor and render.activity_sharpness: positive")
        if self.analysis_s <= 0:
            raise ValueError("render.analysis_s: positive")
        if self.separation_sharpness <= 0:
            raise ValueError("render.separation_sharpness: positive")
        if self.association_floor <= 0 or self.association_sharpness <= 0:
            raise ValueError("render.association_floor and render.association_sharpness: "
                             "positive")
