"""Scenes for the audio-visual association (scripts/train_association.py, scripts/
measure_association.py): animated sprites, truth tracks as a detector would give them,
and per window and track whether it sounds.

    pair:  two objects of one class, one sounding, one silent but moving (its own random
           envelope), the case a class-activity gate cannot tell apart
    turns: two objects of one class speaking or playing in turns (TURN_S each, short
           pauses between), half of them with a third, silent but moving
    mixed: one to `max_sources` objects of the configured classes, maybe a silent one
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.spatial.association import track_series, window_features
from binaural.spatial.config import AssociateConfig
from binaural.spatial.gate import ActivityModel
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.tracks import SourceTrack
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import Scene, pick_head, render_scene, write_scene_video

DETECTOR_FPS = 5.0  # truth tracks are thinned to the detection rate...
BOX_JITTER = 0.03  # ...and their boxes jittered by this share of their height
CLOSEUP_PROB = 0.5  # training: a person's box cut to its head and shoulders this often...
CLOSEUP_SHARE = (0.2, 0.5)  # ...keeping this share of its height from the top
TURN_S = (0.8, 2.5)  # turns: each turn this long...
TURN_PAUSE_S = (0.0, 0.5)  # ...with a pause this long before the next
TURN_SILENT_PROB = 0.5  # turns: a third object of the class, silent but moving
LABEL_HALF_S = 0.25  # a window's label: the track sounds in most of its central 0.5 s


def scene_config(cfg: SynthConfig, kind: str, source_class: str) -> tuple[SynthConfig, int]:
    """The synth settings and source count of one recipe (module docstring)."""
    cfg = replace(cfg, animate=True)
    if kind == "pair":
        return replace(cfg, classes=(source_class,) * 3, silent_object_prob=1.0), 1
    if kind == "turns":
        return replace(cfg, classes=(source_class,) * 3, silent_object_prob=TURN_SILENT_PROB,
                       silence_gap_prob=0.0), 2
    return cfg, cfg.max_sources


def turn_gaps(rng: np.random.Generator, duration_s: float, speakers: int = 2
              ) -> list[tuple[tuple[float, float], ...]]:
    """Per speaker its silences when the others hold the turn: turns of TURN_S in
    rotation from a random one, TURN_PAUSE_S between them (everyone silent)."""
    held: list[list[tuple[float, float]]] = [[] for _ in range(speakers)]
    who, t = int(rng.integers(speakers)), 0.0
    while t < duration_s:
        end = min(duration_s, t + float(rng.uniform(*TURN_S)))
        held[who].append((t, end))
        who, t = (who + 1) % speakers, end + float(rng.uniform(*TURN_PAUSE_S))
    gaps = []
    for mine in held:
        edges = [0.0] + [x for span in mine for x in span] + [duration_s]
        gaps.append(tuple((round(a, 3), round(b, 3)) for a, b in zip(edges[::2], edges[1::2])
                          if b - a > 1e-3))
    return gaps


def detected_tracks(truth: dict, rng: np.random.Generator, closeup_prob: float = 0.0
                    ) -> list[SourceTrack]:
    """The truth's tracks thinned to DETECTOR_FPS with jittered boxes (the truth ids); a
    person's box, with probability `closeup_prob`, cut to the top CLOSEUP_SHARE of its
    height (a head-and-shoulders framing: the mouth lies lower in the box)."""
    step = max(1, int(round(truth["fps"] / DETECTOR_FPS)))
    tracks = []
    for source in truth["sources"]:
        points = source["track"][::step]
        track = SourceTrack.from_json({"id": source["id"], "class": source["class"],
                                       "track": points})
        boxes = np.array(track.boxes, dtype=np.float64)
        if source["class"] == "person" and rng.random() < closeup_prob:
            boxes[:, 3] = boxes[:, 1] + rng.uniform(*CLOSEUP_SHARE) * (boxes[:, 3] - boxes[:, 1])
        heights = (boxes[:, 3] - boxes[:, 1])[:, None]
        boxes = boxes + rng.normal(0.0, BOX_JITTER, boxes.shape) * heights
        tracks.append(replace(track, boxes=boxes))
    return tracks


def sounding_fraction(truth_source: dict, t0: float, t1: float) -> float:
    """Share of [t0, t1] inside the source's sounding intervals."""
    covered = sum(max(0.0, min(t1, b) - max(t0, a)) for a, b in truth_source["sounding"])
    return covered / max(t1 - t0, 1e-9)


def scene_windows(scene: Scene, video: Path, tracks: list[SourceTrack], cfg: AssociateConfig,
                  activity: ActivityModel | None):
    """(features, labels, index, series) of one written scene video."""
    truth = scene.truth
    fps = min(cfg.fps, float(truth["fps"]))
    series = track_series(video, tracks, (truth["width"], truth["height"]), fps,
                          truth["duration_s"], truth["sample_rate"], cfg, activity)
    features, index = window_features(*series, fps, cfg)
    return features, window_labels(truth["sources"], index, fps), index, series


def window_labels(sources: list[dict], index: list[tuple[int, int, int]], fps: float
                  ) -> np.ndarray:
    """Per (window, track, centre frame) of `index`: 1 where the track's truth source
    sounds most of the window's central 2 * LABEL_HALF_S, else 0."""
    return np.array([
        sounding_fraction(sources[k], c / fps - LABEL_HALF_S, c / fps + LABEL_HALF_S)
        >= 0.5 for _, k, c in index], dtype=np.float64)


def make_scene(cfg: SynthConfig, heads: list[HRTFSet], kind: str, source_class: str, seed: int,
               folder: Path) -> tuple[Scene, Path]:
    """Render one recipe scene and write its video (frames + mono) into `folder`."""
    scfg, sources = scene_config(cfg, kind, source_class)

    def turns(plan):
        speakers = [k for k, silent in enumerate(plan.silent) if not silent]
        drawn = turn_gaps(np.random.default_rng([seed, 77]), scfg.duration_s, len(speakers))
        gaps = list(plan.gaps)
        for k, g in zip(speakers, drawn):
            gaps[k] = g
        return replace(plan, gaps=tuple(gaps))

    scene = render_scene(scfg, pick_head(heads, seed), f"assoc_{seed}", seed, sources,
                         edit_plan=turns if kind == "turns" else None)
    video = folder / f"assoc_{seed}.mp4"
    write_scene_video(scene, video, scfg)
    return scene, video


def scene_examples(cfg: SynthConfig, heads: list[HRTFSet], kind: str, source_class: str,
                   seed: int, associate: AssociateConfig, activity: ActivityModel | None,
                   closeup_prob: float = 0.0):
    """(features, labels, truth, tracks, series) of one fresh scene (video in a temp dir);
    detected_tracks' `closeup_prob`."""
    with tempfile.TemporaryDirectory() as tmp:
        scene, video = make_scene(cfg, heads, kind, source_class, seed, Path(tmp))
        tracks = detected_tracks(scene.truth, np.random.default_rng([seed, 99]), closeup_prob)
        features, labels, _, series = scene_windows(scene, video, tracks, associate, activity)
    return features, labels, scene, tracks, series

