"""Hard negatives for our detector: the dense scan of the training parts only, the frames
the frozen detector names an instrument on, and their (hue-rotated) copies in the data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from binaural.io.video import write_video
from binaural.synth.config import DetectorDataConfig, RealVideo
from binaural.synth.detector_data import hue_rotated, write_dataset
from binaural.synth.sprites import SPRITE_CLASSES, render_frame
from flows.params import load_params
from models.hard_negatives import (
    MiningTally,
    dense_training_frames,
    instrument_boxes,
    instrument_detector,
    mine,
    on_people,
)

FPS = 10


@pytest.fixture(scope="module")
def clip_config(tmp_path_factory) -> DetectorDataConfig:
    root = tmp_path_factory.mktemp("clip")
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(2 * FPS)]
    write_video(root / "clip.mp4", frames, FPS, np.zeros(32000, np.float32), 16000, crf=0)
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(root / "trained.png")
    Image.fromarray(np.full((30, 40, 3), 50, np.uint8)).save(root / "kept.png")
    return DetectorDataConfig(
        real_videos=(RealVideo(str(root / "clip.mp4"), fps=2.0, held_out_from_s=1.0),),
        real_photos=(str(root / "trained.png"),), held_out_photos=(str(root / "kept.png"),),
        mine_weights="unused.pt", mine_fps=10.0)


def test_dense_scan_reads_the_training_part_at_mine_fps_and_never_the_held_out(clip_config):
    scanned = list(dense_training_frames(clip_config))
    names = [name for name, _ in scanned]
    assert names == [f"mined_clip_0000.{k}00s" for k in range(10)] + ["mined_trained"]
    levels = [round(float(f.mean()), -1) for _, f in scanned]
    assert levels == [10.0 * i for i in range(10)] + [200.0]  # frames 10.. (1 s on) never
    video = replace(clip_config.real_videos[0], val_s=0.35)  # 0.65-1 s: real validation
    names = [n for n, _ in dense_training_frames(replace(clip_config, real_videos=(video,)))]
    assert names == [f"mined_clip_0000.{k}00s" for k in range(7)] + ["mined_trained"]


def test_mining_needs_a_rate_and_a_copy():
    with pytest.raises(ValueError, match="mine_fps"):
        DetectorDataConfig(mine_weights="w.pt", mine_fps=0.0)
    with pytest.raises(ValueError, match="hard_negative_copies"):
        DetectorDataConfig(mine_weights="w.pt", hard_negative_copies=0)
    DetectorDataConfig(mine_fps=0.0)  # no mining: the rate is unused


def test_hue_rotation_turns_colours_and_keeps_grey():
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    assert np.array_equal(hue_rotated(red, 0.0), red)
    green = hue_rotated(red, 1 / 3).astype(int)
    assert green[..., 1].min() > 180 and green[..., 0].max() < 20 and green[..., 2].max() < 20
    blue = hue_rotated(red, 2 / 3).astype(int)
    assert blue[..., 2].min() > 180 and blue[..., 0].max() < 20
    grey = np.full((4, 4, 3), 90, np.uint8)
    assert np.abs(hue_rotated(grey, 0.4).astype(int) - 90).max() <= 1


def test_hard_negatives_and_hue_copies_are_written_with_their_people(tmp_path):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (40, 80, 3)).astype(np.uint8)
    people = np.array([[10.0, 5.0, 30.0, 35.0]])
    root = write_dataset(tmp_path / "d", 1, 1, seed=4, width=96, height=64,
                         real=[("street", frame, people)], hard=[("mined_x", frame, people)],
                         hard_copies=3, hue_copies=2).parent
    train = sorted(p.stem for p in (root / "images" / "train").glob("*.jpg"))
    assert train == ["hard_mined_x_0", "hard_mined_x_1", "hard_mined_x_2", "hue_street_0",
                     "hue_street_1", "real_street", "train_00000"]
    person = SPRITE_CLASSES.index("person")
    labels = {name: (root / "labels" / "train" / f"{name}.txt").read_text() for name in train}
    expected = f"{person} 0.250000 0.500000 0.250000 0.750000"
    for name in train[:6]:
        assert labels[name] == expected  # people labelled, no instrument
    images = {name: np.asarray(Image.open(root / "images" / "train" / f"{name}.jpg"), int)
              for name in train[:6]}
    # the first hard copy is the frame as it is; the others are hue-rotated, each its own way
    assert np.abs(images["hard_mined_x_0"] - images["real_street"]).mean() < 3
    for a, b in (("hard_mined_x_0", "hard_mined_x_1"), ("hard_mined_x_1", "hard_mined_x_2"),
                 ("real_street", "hue_street_0"), ("hue_street_0", "hue_street_1")):
        assert np.abs(images[a] - images[b]).mean() > 10


def test_on_people_counts_overlap_and_parts():
    people = np.array([[0.0, 0.0, 20.0, 60.0]])
    things = np.array([[0.0, 0.0, 20.0, 50.0],    # most of the body: IoU 0.83
                       [5.0, 10.0, 15.0, 20.0],   # a part: all inside, IoU 0.08
                       [30.0, 0.0, 50.0, 20.0]])  # beside the person
    assert on_people(things, people, 0.3).tolist() == [True, True, False]
    assert on_people(things, np.zeros((0, 4)), 0.3).tolist() == [False, False, False]


@pytest.fixture(scope="module")
def round1():
    """The shipped detector, as mine_weights would name a frozen copy of it."""
    params = load_params()
    own = next(m for m in params.detector.models if m.embed)
    return instrument_detector(params.detector, own.weights, 0.05)


def test_mining_keeps_only_frames_the_frozen_detector_names_an_instrument_on(round1):
    background = np.full((360, 640, 3), 128, np.uint8)
    violin, _ = render_frame(background, [("violin", 320.0, 180.0, 250.0)])
    frames = [("empty", background), ("violin", violin)]
    assert not len(instrument_boxes(round1(background)))
    assert len(instrument_boxes(round1(violin)))
    asked = []

    def people(frame: np.ndarray) -> np.ndarray:  # a person exactly where the violin is
        asked.append(frame)
        return instrument_boxes(round1(frame))[:1]

    tally = MiningTally()
    kept = list(mine(frames, round1, people, 0.3, tally))
    assert [name for name, _, _ in kept] == ["violin"]
    assert len(asked) == 1  # people are looked for only on kept frames
    assert (tally.scanned, tally.kept) == (2, 1)
    assert tally.boxes >= 1 and tally.on_people >= 1
