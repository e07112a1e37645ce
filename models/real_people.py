"""People on real frames: the pose model's boxes as pseudo-labels and as the reference
for counting instrument boxes on people (scripts/measure_real_people.py, the detector's
training data and its metrics).

There are no hand labels: the reference people are the pose model's at a high resolution
(imgsz about `scale` x the frame's long side, within [640, 1280]; conf `conf`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from binaural.spatial.box_merge import iou_matrix
from models.config import DetectorConfig, DetectorModel

PERSON = "person"
INSIDE = 0.8  # fraction of an instrument box inside a person: a part of the person
MIN_IMGSZ, MAX_IMGSZ = 640, 1280


def class_boxes(detections, person: bool) -> np.ndarray:
    """(n, 4) boxes of the `person` detections (person=True) or of all the others (the
    instruments), from (label, confidence, box) detections."""
    return np.array([b for lab, _, b in detections if (lab == PERSON) == person],
                    np.float64).reshape(-1, 4)


def inside_fraction(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Fraction of each `inner` box's area inside each `outer` box, (n, m)."""
    x1 = np.maximum(inner[:, None, 0], outer[None, :, 0])
    y1 = np.maximum(inner[:, None, 1], outer[None, :, 1])
    x2 = np.minimum(inner[:, None, 2], outer[None, :, 2])
    y2 = np.minimum(inner[:, None, 3], outer[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (inner[:, 2] - inner[:, 0]) * (inner[:, 3] - inner[:, 1])
    return inter / np.maximum(area, 1e-9)[:, None]


def reference_imgsz(frame: np.ndarray, scale: float) -> int:
    """The pose model's input size for a frame: scale x its long side, a multiple of 32."""
    return int(np.clip(32 * round(scale * max(frame.shape[:2]) / 32), MIN_IMGSZ, MAX_IMGSZ))


def person_finder(weights: str, scale: float, conf: float, threads: int = 1
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """frame (RGB) -> (n, 4) pixel boxes of its people by the pose model `weights` at
    reference_imgsz; one loaded model per input size."""
    from models.builders import build_detector

    base = DetectorConfig(models=(DetectorModel(weights, {"person": "person"}, conf=conf),),
                          device="cpu", threads=threads)
    detectors: dict[int, object] = {}

    def find(frame: np.ndarray) -> np.ndarray:
        imgsz = reference_imgsz(frame, scale)
        if imgsz not in detectors:
            detectors[imgsz] = build_detector(replace(base, models=(
                replace(base.models[0], imgsz=imgsz),)))
        return class_boxes(detectors[imgsz].detect(frame), person=True)

    return find


class TrackedReplay:
    """The detections of one tracking run (Detector.track, the pipeline's path: the crop
    veto looks at each track a few times, not at each box) over frames `fps` apart, given
    back frame by frame through `detect`, so count_on_people counts them; `seconds` is
    the run's time."""

    def __init__(self, detector, frames, fps: float) -> None:
        start = time.perf_counter()
        found = detector.track((i / fps, f) for i, f in enumerate(frames))
        self.seconds = time.perf_counter() - start
        self._by_frame: list[list] = [[] for _ in frames]
        for d in found:
            self._by_frame[round(d.t * fps)].append((d.label, d.confidence, d.box))
        self._next = 0

    def detect(self, frame: np.ndarray) -> list:
        out = self._by_frame[self._next]
        self._next += 1
        return out


def count_on_people(detector, frames, references, cross_iou: float) -> dict[str, float]:
    """Instrument boxes; people called an instrument (an instrument box overlapping a
    reference person by IoU >= cross_iou); parts of people called an instrument (one
    lying >= INSIDE in a reference person); reference people found (a `person` box at
    IoU >= 0.5); seconds per frame."""
    out = {"instrument boxes": 0, "people called an instrument": 0,
           "parts of people called an instrument": 0, "people found": 0}
    start = time.perf_counter()
    for frame, ref in zip(frames, references):
        found = detector.detect(frame)
        people, things = class_boxes(found, person=True), class_boxes(found, person=False)
        out["instrument boxes"] += len(things)
        if len(ref) and len(things):
            out["people called an instrument"] += int(
                (iou_matrix(things, ref).max(axis=1) >= cross_iou).sum())
            out["parts of people called an instrument"] += int(
                (inside_fraction(things, ref).max(axis=1) >= INSIDE).sum())
        if len(ref) and len(people):
            out["people found"] += int((iou_matrix(ref, people).max(axis=1) >= 0.5).sum())
    out["s/frame"] = round((time.perf_counter() - start) / max(1, len(frames)), 3)
    return out
