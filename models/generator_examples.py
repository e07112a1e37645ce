"""The generator's training examples: scenes held in memory and the batches cut from them.

    load_scenes: dataset records -> SceneExamples (mono, binaural target, the DSP
        hypotheses along the tracks, those tracks), held in memory as float16; the tracks
        are the detector's where train.detected_tracks has them (detected_tracks), else
        truth perturbed as a detector's (jitter_tracks), with a noisy sounding
        probability (v3, noisy_sounding) or without some silent objects (v2, drop_silent)
    sample_batch: random crops with their slot conditions (and, with the share prior, the
        source slots' separation shares: models/share_prior.py)

Pure model code, used by models/generator_train.py and flows/retrain.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from binaural.eval.datasets import Record
from binaural.eval.systems import load_clip
from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.scene_render import load_separation_model
from binaural.spatial.separation import SeparationModel
from binaural.spatial.tracks import SourceTrack
from models.config import TrainConfig
from models.generator_config import ModelConfig
from models.generator_features import (
    SlotConditions,
    network_frame_times,
    slot_conditions,
    sounding_present,
)
from models.hypotheses import render_hypotheses
from models.share_prior import TrackLogits, share_fold, slot_shares, track_logits

log = logging.getLogger(__name__)

MIN_CROP_RMS = 1e-4


@dataclass
class SceneExample:
    """One training scene in memory (float16 audio at the model's rate)."""

    id: str
    mono: np.ndarray  # (N,)
    target: np.ndarray  # (2, N)
    hyps: np.ndarray  # (S, 2, N)
    tracks: list[SourceTrack]
    frame_size: tuple[int, int]
    logits: TrackLogits | None = None  # the tracks' separation logits (share prior)
    # v2 models: a slot is present where its track sounds with at least this probability,
    # as at inference (generator.min_sounding; truth tracks carry none: always present)
    min_sounding: float = 0.0

    @property
    def n_sources(self) -> int:
        return len(self.tracks)


def jitter_tracks(tracks: Sequence[SourceTrack], rng: np.random.Generator, azimuth_deg: float,
                  elevation_deg: float, distance: float) -> list[SourceTrack]:
    """Truth tracks perturbed like a detector's: an offset plus a slow wander in azimuth
    and elevation, a log-normal factor on distance and box size, a random confidence."""
    out = []
    for tr in tracks:
        n = len(tr.times_s)
        wander = np.cumsum(rng.normal(0, 1, n)) / np.sqrt(max(n, 1))
        az = tr.azimuth_deg + rng.normal(0, azimuth_deg) + 0.5 * azimuth_deg * wander
        el = tr.elevation_deg + rng.normal(0, elevation_deg)
        factor = float(np.exp(rng.normal(0, distance)))
        boxes = tr.boxes.copy()
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        half_w = (boxes[:, 2] - boxes[:, 0]) / 2 / factor
        half_h = (boxes[:, 3] - boxes[:, 1]) / 2 / factor
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        out.append(dataclasses.replace(
            tr, azimuth_deg=az, elevation_deg=el, distance_m=tr.distance_m * factor,
            boxes=boxes, confidence=float(rng.uniform(0.4, 1.0))))
    return out


def noisy_sounding(truth: dict, tracks: Sequence[SourceTrack], rng: np.random.Generator,
                   tc: TrainConfig) -> list[SourceTrack]:
    """The tracks with a sounding probability made from the truth's per-frame flags, as
    an association would give it: per track a level drawn from U(1 - spread, 1) where it
    sounds and U(0, spread) where not, plus frame noise, clipped to [0, 1]; a track left
    without one (no association ran) with p_unknown_sounding."""
    out = []
    for source, track in zip(truth["sources"], tracks):
        points = source.get("track", [])
        if rng.random() < tc.p_unknown_sounding or len(points) != len(track.times_s):
            out.append(dataclasses.replace(track, sounding=None))
            continue
        flags = np.array([bool(p.get("sounding", not source.get("silent"))) for p in points])
        on, off = rng.uniform(1 - tc.sounding_spread, 1), rng.uniform(0, tc.sounding_spread)
        p = np.where(flags, on, off) + rng.normal(0, tc.sounding_noise, len(flags))
        out.append(dataclasses.replace(track, sounding=np.clip(p, 0.0, 1.0)))
    return out


def drop_silent(truth: dict, tracks: Sequence[SourceTrack], rng: np.random.Generator,
                keep: float) -> list[SourceTrack]:
    """The tracks without the truth's silent objects (`"silent": true`), each kept with
    probability `keep` (what the association leaves a v2 model at inference, mistakes
    included); one draw per silent object."""
    return [tr for src, tr in zip(truth["sources"], tracks)
            if not src.get("silent") or rng.random() < keep]


def detected_tracks(folder: str | Path, scene_id: str
                    ) -> tuple[list[SourceTrack], tuple[int, int]] | None:
    """The detector's tracks of a scene and the frame size they were found in, from
    folder/<id>.json (scripts/localize_dataset.py); None where the folder has no file.

    Raises:
        ValueError: a file that is not such a document (named).
    """
    path = Path(folder) / f"{scene_id}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        tracks = [SourceTrack.from_json(s) for s in data["sources"]]
        width, height = (int(v) for v in data["frame_size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a detected-tracks document ({exc})") from exc
    return [tr for tr in tracks if len(tr.times_s)], (width, height)


def load_scenes(records: Sequence[Record], hrtf: HRTFSet, cfg: ModelConfig, tc: TrainConfig,
                block: int, neighbours: int, seed: int,
                progress: Callable[[int, int, str], None] | None = None,
                render: RenderConfig | None = None, separation_folds: Sequence[str] = (),
                min_sounding: float = 0.0) -> list[SceneExample]:
    """Records with truth -> SceneExamples (records without truth tracks are skipped).
    With tc.detected_tracks a scene that has the detector's tracks trains on them as they
    are (the detector may miss a source or add one: the target stays the truth's); v2
    models then keep a slot present where its track sounds with `min_sounding`, as
    inference does (generator.min_sounding).
    Version 3 needs the renderer's settings (its hypotheses are the room-aware renderer's)
    and gives the tracks a noisy sounding probability (noisy_sounding). The share prior
    (cfg.share_prior) needs them too: its logits come from the renderer's separation model
    over the whole scene (a scene is window-long, as the inference's windows are), or from
    the cross-fitted `separation_folds` (models/share_prior.share_fold: a model that never
    saw the scene)."""
    if cfg.share_prior and render is None:
        raise ValueError("the share prior needs the renderer's settings")
    folds = [SeparationModel.load(p) for p in separation_folds] if cfg.share_prior else []
    separation = (load_separation_model(render.separation_model)
                  if cfg.share_prior and render.separation_model else None)
    rng = np.random.default_rng(seed)
    scenes = []
    used_detected = 0
    for i, record in enumerate(records):
        clip = load_clip(record, cfg.sample_rate, chunk_s=10.0)
        if clip.truth is None or not clip.truth_tracks:
            log.warning("%s: no truth tracks; not used for training", record.id)
            continue
        mono = clip.reference.mean(axis=0) if tc.mono == "downmix" else clip.mono
        size = (int(clip.truth.get("width", 640)), int(clip.truth.get("height", 360)))
        # the truth's draws come first whatever the detector found: a scene's jitter does
        # not depend on which other scenes have detected tracks
        tracks = jitter_tracks(clip.truth_tracks, rng, tc.jitter_azimuth_deg,
                               tc.jitter_elevation_deg, tc.jitter_distance)
        if cfg.version == 3:
            tracks = noisy_sounding(clip.truth, tracks, rng, tc)
        elif tc.p_keep_silent < 1:
            tracks = drop_silent(clip.truth, tracks, rng, tc.p_keep_silent)
        detected = detected_tracks(tc.detected_tracks, record.id) if tc.detected_tracks else None
        if detected is not None:
            tracks, size = detected
            used_detected += 1
            if not tracks:  # nothing found: inference falls back to the renderer
                continue
        hyps = render_hypotheses(mono, tracks, hrtf, cfg.max_sources, cfg.sample_rate,
                                 block, neighbours, render, cfg.version)
        model = folds[share_fold(record.id, len(folds))] if folds else separation
        logits = track_logits(mono, cfg.sample_rate, tracks, model)
        scenes.append(SceneExample(record.id, mono.astype(np.float16),
                                   clip.reference.astype(np.float16), hyps.astype(np.float16),
                                   tracks, size, logits, min_sounding))
        if progress:
            progress(i + 1, len(records), record.id)
    if tc.detected_tracks:
        log.info("%d of %d scenes on the detector's tracks (%s)", used_detected,
                 len(records), tc.detected_tracks)
    return scenes


@dataclass
class Batch:
    mono: torch.Tensor  # (B, n)
    target: torch.Tensor  # (B, 2, n)
    hyps: torch.Tensor  # (B, S, 2, n)
    cond: SlotConditions
    shares: torch.Tensor | None = None  # (B, K, Tn, Bd): the share prior's

    def to(self, device: str) -> Batch:
        return Batch(self.mono.to(device), self.target.to(device), self.hyps.to(device),
                     self.cond.to(device), None if self.shares is None else self.shares.to(device))


def sample_batch(scenes: Sequence[SceneExample], batch: int, crop: int, cfg: ModelConfig,
                 rng: np.random.Generator, render: RenderConfig | None = None) -> Batch:
    """`batch` random crops of `crop` samples (scenes shorter than a crop are padded); the
    share prior (cfg.share_prior) needs the renderer's settings."""
    if cfg.share_prior and render is None:
        raise ValueError("the share prior needs the renderer's settings")
    mono, target, hyps, conds, shares = [], [], [], [], []
    while len(mono) < batch:
        scene = scenes[int(rng.integers(len(scenes)))]
        n = scene.mono.shape[0]
        start = int(rng.integers(0, max(1, n - crop + 1)))
        piece = slice(start, start + crop)
        m = scene.mono[piece].astype(np.float32)
        # a crop where the target is silent (the mono's microphone noise alone) has no
        # cue to learn
        t = scene.target[:, piece].astype(np.float32)
        if np.sqrt(np.mean(m ** 2)) < MIN_CROP_RMS or np.sqrt(np.mean(t ** 2)) < MIN_CROP_RMS:
            continue
        pad = crop - m.shape[0]
        mono.append(np.pad(m, (0, pad)))
        target.append(np.pad(t, ((0, 0), (0, pad))))
        hyps.append(np.pad(scene.hyps[..., piece].astype(np.float32),
                           ((0, 0), (0, 0), (0, pad))))
        times = network_frame_times(crop, cfg, start / cfg.sample_rate)
        cond = slot_conditions(scene.tracks, times, scene.frame_size, cfg)
        if cfg.version < 3 and scene.min_sounding > 0:
            cond.present = sounding_present(scene.tracks, times, cond.present,
                                            scene.min_sounding)
        conds.append(cond)
        if cfg.share_prior:
            shares.append(slot_shares(scene.tracks, times, cfg, render, scene.logits))
    return Batch(torch.from_numpy(np.stack(mono)), torch.from_numpy(np.stack(target)),
                 torch.from_numpy(np.stack(hyps)), SlotConditions.stack(conds),
                 torch.from_numpy(np.stack(shares)) if shares else None)
