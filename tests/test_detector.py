"""The shipped detector on frames it has never seen, rendered like the synthesizer's."""

from __future__ import annotations

import numpy as np
import pytest

from binaural.sprites import SOURCE_CLASSES, draw_background, render_frame
from flows.params import load_params


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def detector():
    from models.detector import Detector

    cfg = load_params().detector
    return Detector(weights=cfg.weights, conf=cfg.conf, iou=cfg.iou, imgsz=cfg.imgsz,
                    device="cpu", threads=2)


def test_detector_knows_the_source_classes(detector):
    assert set(detector.names.values()) == set(SOURCE_CLASSES)
    assert set(SOURCE_CLASSES) <= set(load_params().localize.class_map)


def test_detector_finds_each_class_where_it_was_drawn(detector):
    rng = np.random.default_rng(12345)  # frames unlike the training seed's
    hits = total = false_alarms = 0
    for i in range(20):
        cls = SOURCE_CLASSES[i % len(SOURCE_CLASSES)]
        background = draw_background(360, 640, rng)
        cx, cy = rng.uniform(120, 520), rng.uniform(120, 240)
        height = rng.uniform(70, 200)
        frame, boxes = render_frame(background, [(cls, cx, cy, height)])
        found = detector.detect(frame)
        total += 1
        good = [f for f in found if f[0] == cls and _iou(f[2], boxes[0]) > 0.5]
        hits += bool(good)
        false_alarms += len(found) - len(good)
    assert hits / total >= 0.85
    assert false_alarms <= 3


def test_tracking_keeps_one_id_for_a_moving_source(detector):
    rng = np.random.default_rng(7)
    background = draw_background(360, 640, rng)
    frames = []
    for k in range(10):
        frame, _ = render_frame(background, [("guitar", 200 + 20 * k, 180, 160)])
        frames.append((k * 0.2, frame))
    detections = detector.track(frames)
    ids = {d.track_id for d in detections if d.label == "guitar"}
    assert len([d for d in detections if d.label == "guitar"]) >= 8
    assert len(ids) == 1
