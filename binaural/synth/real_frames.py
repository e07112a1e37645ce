"""Real frames that ship in packages, split once into the detector's training frames and
the frames held out for measuring it (params `detector_data`).

A video's frames before its `held_out_from_s` may train, but for the last `val_s` seconds
(the real validation part, to choose between candidates); the later ones and the held-out
photos never do. Both sides come from here, so the split cannot drift between the
training data and the measurement.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames
from binaural.synth.config import DetectorDataConfig, RealVideo


def read_photo(path: str | Path) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array of a still image."""
    with Image.open(resolve_resource(str(path), what="photo")) as img:
        return np.asarray(img.convert("RGB")).copy()


PARTS = ("train", "val", "held_out")


def part_of(video: RealVideo, t: float) -> str:
    """The part of a video's split a time falls in: held_out from `held_out_from_s`, val
    in the `val_s` seconds before it, train before that."""
    if t >= video.held_out_from_s:
        return "held_out"
    return "val" if t >= video.held_out_from_s - video.val_s else "train"


def video_frames(video: RealVideo, part: str) -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGB frame) of one part of a video's split (PARTS), sampled at its fps."""
    if part not in PARTS:
        raise ValueError(f"part {part!r} not in {PARTS}")
    path = resolve_resource(video.path, what="real video")
    for t, frame in iter_frames(path, video.fps):
        if part_of(video, t) == part:
            yield f"{Path(video.path).stem}_{t:08.3f}s", frame


def training_images(cfg: DetectorDataConfig) -> Iterator[tuple[str, np.ndarray]]:
    """Every real training image, (name, RGB frame): the videos' training parts, then the
    training photos."""
    for video in cfg.real_videos:
        yield from video_frames(video, "train")
    for photo in cfg.real_photos:
        yield Path(photo).stem, read_photo(photo)


def held_out_sets(cfg: DetectorDataConfig) -> dict[str, list[np.ndarray]]:
    """The held-out frames by set: each video's held-out part, and the held-out photos."""
    sets = {Path(v.path).name: [f for _, f in video_frames(v, "held_out")]
            for v in cfg.real_videos}
    if cfg.held_out_photos:
        sets["held-out photos"] = [read_photo(p) for p in cfg.held_out_photos]
    return sets


def real_val_sets(cfg: DetectorDataConfig) -> dict[str, list[np.ndarray]]:
    """The real validation frames by video: each video's val part (those with val_s)."""
    return {Path(v.path).name: [f for _, f in video_frames(v, "val")]
            for v in cfg.real_videos if v.val_s > 0}


def shrink(frame: np.ndarray, max_side: int) -> np.ndarray:
    """The frame scaled down (never up) so its long side is at most max_side pixels."""
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
