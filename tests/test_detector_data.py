"""The detector's training data: rendered frames, real frames with their people, sprites
pasted onto real frames, and the held-out real frames that never enter training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from binaural.io.video import write_video
from binaural.synth.config import DetectorDataConfig, RealVideo
from binaural.synth.detector_data import people_labels, write_dataset
from binaural.synth.real_frames import (
    held_out_sets,
    real_val_sets,
    shrink,
    training_images,
)
from binaural.synth.sprites import SPRITE_CLASSES

FPS = 10  # the tiny video: 2 s, frame i painted with grey level 10 * i


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> DetectorDataConfig:
    root = tmp_path_factory.mktemp("real")
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(2 * FPS)]
    write_video(root / "clip.mp4", frames, FPS, np.zeros(32000, np.float32), 16000, crf=0)
    for name, level in (("trained", 200), ("kept", 50)):
        Image.fromarray(np.full((30, 40, 3), level, np.uint8)).save(root / f"{name}.png")
    return DetectorDataConfig(
        real_videos=(RealVideo(str(root / "clip.mp4"), fps=5.0, held_out_from_s=1.0),),
        real_photos=(str(root / "trained.png"),), held_out_photos=(str(root / "kept.png"),))


def _level(frame: np.ndarray) -> float:
    return float(frame.mean())


def test_training_frames_exclude_the_held_out_part_and_photos(sources):
    names = [name for name, _ in training_images(sources)]
    assert names == ["clip_0000.000s", "clip_0000.200s", "clip_0000.400s",
                     "clip_0000.600s", "clip_0000.800s", "trained"]
    held = held_out_sets(sources)
    assert list(held) == ["clip.mp4", "held-out photos"]
    # the held-out part starts at 1 s: frames 10, 12, ... (grey level 100, 120, ...)
    assert [round(_level(f), -1) for f in held["clip.mp4"]] == [100, 120, 140, 160, 180]
    assert [round(_level(f)) for f in held["held-out photos"]] == [50]
    trained_levels = {round(_level(f), -1) for _, f in training_images(sources)}
    assert trained_levels.isdisjoint({100, 120, 140, 160, 180, 50})


def test_a_real_validation_part_is_neither_trained_on_nor_held_out(sources):
    cfg = replace(sources, real_videos=(replace(sources.real_videos[0], val_s=0.5),))
    assert [name for name, _ in training_images(cfg)] == [
        "clip_0000.000s", "clip_0000.200s", "clip_0000.400s", "trained"]
    val = real_val_sets(cfg)
    assert list(val) == ["clip.mp4"]
    assert [round(_level(f), -1) for f in val["clip.mp4"]] == [60, 80]  # 0.6 s and 0.8 s
    held = held_out_sets(cfg)["clip.mp4"]
    assert [round(_level(f), -1) for f in held] == [100, 120, 140, 160, 180]
    assert real_val_sets(sources) == {}  # val_s 0: no validation part
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="val_s"):
            RealVideo("x.mp4", held_out_from_s=1.0, val_s=bad)


def test_a_photo_both_trained_on_and_held_out_is_refused():
    with pytest.raises(ValueError, match="both trained on and held out"):
        DetectorDataConfig(real_photos=("/a.jpg", "/b.jpg"), held_out_photos=("/b.jpg",))


def _read_labels(path: Path) -> list[tuple[int, float, float, float, float]]:
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        assert len(fields) == 5
        rows.append((int(fields[0]), *map(float, fields[1:])))
    return rows


def test_dataset_holds_real_frames_with_people_and_composites_in_yolo_format(tmp_path):
    frame = np.full((40, 80, 3), 90, np.uint8)
    people = np.array([[10.0, 5.0, 30.0, 35.0], [-4.0, 0.0, 6.0, 20.0]])  # one cut by the edge
    data_yaml = write_dataset(tmp_path / "d", 3, 2, seed=4, width=96, height=64,
                              real=[("street", frame, people)], composites_per_frame=2)
    root = data_yaml.parent
    train = sorted(p.stem for p in (root / "images" / "train").glob("*.jpg"))
    assert train == ["composite_street_0", "composite_street_1", "real_street",
                     "train_00000", "train_00001", "train_00002"]
    assert sorted(p.stem for p in (root / "labels" / "train").glob("*.txt")) == train
    person = SPRITE_CLASSES.index("person")
    real = _read_labels(root / "labels" / "train" / "real_street.txt")
    assert real == [(person, 0.25, 0.5, 0.25, 0.75), (person, 0.0375, 0.25, 0.075, 0.5)]
    for name in train:
        for cls, *xywh in _read_labels(root / "labels" / "train" / f"{name}.txt"):
            assert 0 <= cls < len(SPRITE_CLASSES)
            assert all(0.0 <= v <= 1.0 for v in xywh)
    composite = [_read_labels(root / "labels" / "train" / f"composite_street_{k}.txt")
                 for k in range(2)]
    pasted = [row for rows in composite for row in rows if row not in real]
    assert pasted  # sprites on the real frame carry their own labels
    composite_image = np.asarray(Image.open(root / "images" / "train" / "composite_street_0.jpg"))
    assert composite_image.shape == frame.shape  # pasted onto the real frame, its size kept
    assert "names:\n  0: person\n  1: piano" in data_yaml.read_text()


def test_synthetic_val_split_depends_on_neither_real_frames_nor_train_count(tmp_path):
    frame = np.full((40, 80, 3), 90, np.uint8)
    a = write_dataset(tmp_path / "a", 2, 3, seed=4, width=96, height=64).parent
    b = write_dataset(tmp_path / "b", 5, 3, seed=4, width=96, height=64,
                      real=[("x", frame, np.zeros((0, 4)))], composites_per_frame=1).parent
    for i in range(3):
        stem = f"val_{i:05d}"
        assert ((a / "labels" / "val" / f"{stem}.txt").read_text()
                == (b / "labels" / "val" / f"{stem}.txt").read_text())
        assert np.array_equal(np.asarray(Image.open(a / "images" / "val" / f"{stem}.jpg")),
                              np.asarray(Image.open(b / "images" / "val" / f"{stem}.jpg")))


def test_a_person_mostly_under_pasted_sprites_loses_the_label():
    covered = np.zeros((40, 80), bool)
    covered[0:40, 0:25] = True
    labels = people_labels(np.array([[0, 0, 20, 40], [40, 0, 60, 40], [50, 0, 52, 40]]),
                           40, 80, covered)
    assert labels == [(0, 0.625, 0.5, 0.25, 1.0)]  # the covered and the 2-px-wide go


def test_shrink_keeps_aspect_and_never_enlarges():
    assert shrink(np.zeros((576, 768, 3), np.uint8), 640).shape == (480, 640, 3)
    assert shrink(np.zeros((144, 176, 3), np.uint8), 640).shape == (144, 176, 3)
