"""Hard negatives for our own detector: real training frames on which a given version of
it names an instrument (params detector_data.mine_*).

The real frames that train the detector show no instrument, so every instrument box our
model puts on them is a false alarm, most of them on a person (a red jacket called a
violin). The training parts of the real videos are scanned densely (mine_fps, not the
sparse fps the plain real frames use) with the frozen weights `mine_weights` at the low
confidence `mine_conf` (near misses too), and the frames with such a box are written again
(binaural.synth.detector_data.write_dataset, `hard_negative_copies` times, the copies
hue-rotated) with their people labelled and no instrument. Only the training parts: the
frames held out for measuring (binaural.synth.real_frames) are never scanned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from binaural.spatial.box_merge import iou_matrix
from binaural.synth.config import DetectorDataConfig
from binaural.synth.real_frames import video_frames
from models.config import DetectorConfig, DetectorModel
from models.real_people import INSIDE, class_boxes, inside_fraction


@dataclass
class MiningTally:
    """What a mining pass saw: frames scanned, frames kept, instrument boxes on them and
    how many of those lie on a pseudo-labelled person (IoU >= the mining IoU or mostly
    inside one)."""

    scanned: int = 0
    kept: int = 0
    boxes: int = 0
    on_people: int = 0


def dense_training_frames(cfg: DetectorDataConfig) -> Iterator[tuple[str, np.ndarray]]:
    """The training parts of the real videos at mine_fps (never their val or held-out parts),
    then the training photos; names are prefixed `mined_` so they never collide with the
    sparse real frames."""
    from binaural.synth.real_frames import read_photo

    for video in cfg.real_videos:
        for name, frame in video_frames(replace(video, fps=cfg.mine_fps), "train"):
            yield f"mined_{name}", frame
    for photo in cfg.real_photos:
        yield f"mined_{Path(photo).stem}", read_photo(photo)


def instrument_boxes(detections: Iterable[tuple[str, float, np.ndarray]]) -> np.ndarray:
    """(n, 4) boxes of the detections that are not `person`."""
    return class_boxes(detections, person=False)


def on_people(things: np.ndarray, people: np.ndarray, iou: float) -> np.ndarray:
    """Which instrument boxes lie on a person: IoU >= iou or >= INSIDE of it inside one."""
    if not len(things) or not len(people):
        return np.zeros(len(things), bool)
    return ((iou_matrix(things, people).max(axis=1) >= iou)
            | (inside_fraction(things, people).max(axis=1) >= INSIDE))


def mine(
    frames: Iterable[tuple[str, np.ndarray]],
    detect: Callable[[np.ndarray], list[tuple[str, float, np.ndarray]]],
    find_people: Callable[[np.ndarray], np.ndarray],
    iou: float,
    tally: MiningTally | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, frame, people boxes) of each frame on which `detect` names an instrument.

    Every such box is a false alarm (these frames hold no instrument), so a frame is kept
    whether or not the box lies on a person; the tally says how many do. The people are
    found only on the kept frames."""
    tally = tally if tally is not None else MiningTally()
    for name, frame in frames:
        tally.scanned += 1
        things = instrument_boxes(detect(frame))
        if not len(things):
            continue
        people = find_people(frame)
        tally.kept += 1
        tally.boxes += len(things)
        tally.on_people += int(on_people(things, people, iou).sum())
        yield name, frame, people


def instrument_detector(detector: DetectorConfig, weights: str, conf: float,
                        threads: int = 1
                        ) -> Callable[[np.ndarray], list[tuple[str, float, tuple]]]:
    """Our model alone (its class map from `detector`'s embedding model, the shared
    imgsz) at `weights` and confidence `conf`, on the CPU: frame -> detections."""
    from models.builders import build_detector

    own = next((m for m in detector.models if m.embed), detector.models[-1])
    return build_detector(replace(detector, models=(DetectorModel(weights, own.classes),),
                                  conf=conf, device="cpu", threads=threads)).detect
