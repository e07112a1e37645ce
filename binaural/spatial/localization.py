"""Source localization of one video: frames sampled at scene.fps -> a tracker (detector +
tracking) -> tracks placed by the pinhole camera (binaural.spatial.tracks).

Memory is bounded by one frame at a time; only the tracks and a thumbnail are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from binaural.io.config import SceneConfig
from binaural.io.damage import Damage
from binaural.io.video import VideoInfo, damage_warning, iter_frames, probe
from binaural.spatial.association import AssociationModel, associate_video
from binaural.spatial.config import LocalizeConfig
from binaural.spatial.gate import ActivityModel
from binaural.spatial.geometry import Camera
from binaural.spatial.reliability import Reliability, assess_detections
from binaural.spatial.track_hygiene import relink_tracks
from binaural.spatial.tracks import Detection, SourceTrack, build_tracks

THUMBNAIL_WIDTH = 480


class Tracker(Protocol):
    version: str
    embedding_source: str  # what made its detections' embeddings (tracks carry it)

    def track(self, frames) -> list[Detection]: ...


@dataclass
class Localization:
    """What the localization stage hands to generation (small: no frames)."""

    info: VideoInfo
    tracks: list[SourceTrack]
    detector_version: str
    thumbnail: np.ndarray
    fov_deg: float
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lineage: dict = field(default_factory=dict)  # where it ran (set by the task layer)
    damage: dict = field(default_factory=dict)  # {"video": Damage.to_json()} when damaged
    reliability: Reliability | None = None  # of the detections (binaural.spatial.reliability)
    # Which track sounds (binaural.spatial.association.summarize, with its seconds and
    # fps); empty where no association model is configured.
    association: dict = field(default_factory=dict)


def localize_video(
    path: str | Path, tracker: Tracker, scene: SceneConfig, localize: LocalizeConfig,
    source: str | None = None,
) -> Localization:
    """Probe the video, track sources over frames sampled at scene.fps, place them.
    `source` names the video in warnings (an archive key; the local path when None)."""
    start = time.perf_counter()
    label = source or str(path)
    info = probe(path, scene.min_duration_s)
    warnings = []
    if info.audio_channels > 1:
        warnings.append(
            f"{label}: audio has {info.audio_channels} channels; mixed to mono "
            "(the system is made for single-microphone recordings)"
        )
    if info.audio_rate != scene.sample_rate:
        warnings.append(f"{label}: audio at {info.audio_rate} Hz resampled to {scene.sample_rate}")
    thumb: list[np.ndarray] = []
    damage = Damage("video")

    def frames():
        for t, rgb in iter_frames(path, scene.fps, damage):
            if not thumb and t >= min(1.0, info.duration_s / 2):
                step = max(1, rgb.shape[1] // THUMBNAIL_WIDTH)
                thumb.append(np.ascontiguousarray(rgb[::step, ::step]))
            yield t, rgb

    detections = relink_tracks(tracker.track(frames()), localize.class_map,
                               localize.duplicate_iou, localize.bridge_gap_s,
                               localize.bridge_distance, localize.bridge_size_ratio)
    damaged = damage_warning(path, label, damage, info.duration_s, scene.max_lost_fraction)
    if damaged:
        warnings.append(damaged)
    camera = Camera(*info.display_size, localize.fov_deg)  # boxes are on the shown picture
    tracks = build_tracks(
        detections, camera, localize.class_map, localize.class_heights_m,
        localize.smoothing_s, localize.min_track_s, localize.max_sources,
        tracker.embedding_source,
    )
    association = {}
    if localize.associate.model and tracks:
        tracks, association = associate_video(
            path, tracks, info.display_size, info.fps, info.duration_s, scene.sample_rate,
            localize.associate, _association_model(localize.associate.model),
            _activity_model(localize.associate.activity_model))
    reliability = assess_detections(
        detections, localize.class_map, localize.short_track_s, localize.min_mean_confidence,
        localize.max_label_flicker, localize.max_short_tracks)
    if not reliability.reliable:
        warnings.append(f"{label}: detections look unreliable: " + "; ".join(reliability.reasons)
                        + " (the report's agreement with the detection vouches for nothing)")
    return Localization(
        info=info,
        tracks=tracks,
        detector_version=tracker.version,
        thumbnail=thumb[0] if thumb else np.zeros((1, 1, 3), np.uint8),
        fov_deg=localize.fov_deg,
        warnings=warnings,
        seconds=time.perf_counter() - start,
        damage={"video": damage.to_json()} if damage else {},
        reliability=reliability,
        association=association,
    )


@lru_cache(maxsize=2)
def _association_model(path: str) -> AssociationModel:
    return AssociationModel.load(path)


@lru_cache(maxsize=2)
def _activity_model(path: str) -> ActivityModel | None:
    return ActivityModel.load(path) if path and Path(path).is_file() else None
