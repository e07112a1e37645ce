"""Training the generator on the detector's tracks (train.detected_tracks): the documents
scripts/localize_dataset.py writes, and load_scenes / sample_batch reading them."""

import json
from dataclasses import replace

import numpy as np
import pytest

from binaural.eval.datasets import load_dataset
from binaural.spatial.config import RenderConfig
from binaural.spatial.tracks import SourceTrack
from models.config import TrainConfig
from models.generator_config import preset
from models.generator_examples import detected_tracks, load_scenes, sample_batch
from models.generator_features import network_frame_times

SR = 48000
TINY = preset("tiny")
PLAIN = RenderConfig(activity_model="", reverb_model="", reverb=False)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory):
    """Two 1 s synthesis-v2 training scenes with their truth."""
    from script_support import load_script
    from synth_support import CFG

    from binaural.synth.config import GeneratorDataConfig

    data = load_script("make_generator_data")
    folder = tmp_path_factory.mktemp("detected") / "train"
    v2 = replace(CFG, duration_s=1.0, width=160, height=96, video_fps=10, room="shoebox",
                 silent_object_prob=0.0, ambience_prob=0.0, noise_prob=0.0, max_sources=2)
    recipe = GeneratorDataConfig(synthesis=2, train_duration_s=1.0, train_size=(160, 96),
                                 train_fps=10, train_source_mix=(0.0, 1.0),
                                 train_heads=("pkg:spatialaudiometrics/example_sofa_1.sofa",))
    data.make_set("train", folder, 2, seed=5, recipe=recipe, synth=v2,
                  renderer_head=RenderConfig().hrtf)
    return folder


def _turn_taker(azimuth: float, sid: int, first: bool) -> SourceTrack:
    """A detected person who sounds in the first (or second) half second only."""
    t = np.linspace(0.0, 1.0, 11)
    talks = (t < 0.5) if first else (t >= 0.5)
    return SourceTrack(sid, "person", "person", 0.7, t, np.full(11, azimuth), np.zeros(11),
                       np.full(11, 3.0), np.tile([20.0, 10.0, 50.0, 90.0], (11, 1)),
                       sounding=np.where(talks, 0.9, 0.05))


def _write(folder, scene_id: str, tracks, size=(320, 180)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{scene_id}.json").write_text(json.dumps(
        {"detector": "test", "frame_size": list(size),
         "sources": [t.to_json() for t in tracks]}))


def test_a_scene_with_detected_tracks_trains_on_them_the_others_on_truth(
        scenes_dir, kemar, tmp_path) -> None:
    records = load_dataset(scenes_dir, "train")
    assert len(records) == 2
    found = [_turn_taker(-30.0, 1, True), _turn_taker(40.0, 2, False)]
    _write(tmp_path / "det", records[0].id, found)
    tc = TrainConfig(detected_tracks=str(tmp_path / "det"))
    scenes = load_scenes(records, kemar, TINY, tc, 512, 3, 0, render=PLAIN, min_sounding=0.3)
    assert [s.id for s in scenes] == [r.id for r in records]
    first, second = scenes
    assert first.frame_size == (320, 180)
    assert [tr.azimuth_deg[0] for tr in first.tracks] == [-30.0, 40.0]
    assert np.allclose(first.tracks[0].sounding[:5], 0.9)
    truth = load_scenes(records[1:], kemar, TINY, TrainConfig(), 512, 3, 0, render=PLAIN)[0]
    assert len(second.tracks) == len(truth.tracks) == 2  # no file: jittered truth
    assert all(tr.sounding is None for tr in second.tracks)


def test_the_presence_follows_the_turns_in_time(scenes_dir, kemar, tmp_path) -> None:
    records = load_dataset(scenes_dir, "train")[:1]
    _write(tmp_path / "det", records[0].id, [_turn_taker(-30.0, 1, True),
                                              _turn_taker(40.0, 2, False)])
    tc = TrainConfig(detected_tracks=str(tmp_path / "det"))
    scene = load_scenes(records, kemar, TINY, tc, 512, 3, 0, render=PLAIN,
                        min_sounding=0.3)[0]
    crop = scene.mono.shape[0]  # the whole scene: the crop starts at 0
    present = sample_batch([scene], 1, crop, TINY, np.random.default_rng(0)).cond.present
    times = network_frame_times(crop, TINY)
    for slot, tr in enumerate(scene.tracks):  # the v2 slot is present where it sounds
        expected = np.interp(times, tr.times_s, tr.sounding) >= 0.3
        assert present[0, slot].numpy().tolist() == expected.tolist()
    assert present[0, 0, 0] and not present[0, 0, -1] and present[0, 1, -1]
    assert not present[0, 2:].any()
    everyone = replace(scene, min_sounding=0.0)  # without the threshold: always slots
    present = sample_batch([everyone], 1, crop, TINY, np.random.default_rng(0)).cond.present
    assert present[0, :2].all()


def test_a_scene_the_detector_found_nothing_in_is_not_trained_on(
        scenes_dir, kemar, tmp_path) -> None:
    records = load_dataset(scenes_dir, "train")
    _write(tmp_path / "det", records[0].id, [])
    tc = TrainConfig(detected_tracks=str(tmp_path / "det"))
    scenes = load_scenes(records, kemar, TINY, tc, 512, 3, 0, render=PLAIN)
    assert [s.id for s in scenes] == [records[1].id]


def test_a_bad_document_is_named(tmp_path) -> None:
    (tmp_path / "x.json").write_text('{"sources": []}')
    with pytest.raises(ValueError, match=r"x\.json: not a detected-tracks document"):
        detected_tracks(tmp_path, "x")
    assert detected_tracks(tmp_path, "missing") is None


def test_localize_dataset_writes_each_clip_once_and_survives_a_bad_one(
        scenes_dir, tmp_path, monkeypatch) -> None:
    """The real detector over the scenes; a clip whose video is damaged is reported and
    the others are written; a rerun detects only what is missing."""
    import shutil

    from script_support import load_script

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    script = load_script("localize_dataset")
    data = tmp_path / "set"
    shutil.copytree(scenes_dir, data)
    records = load_dataset(data, "train")
    records[1].video.write_bytes(b"not a video")
    out = tmp_path / "det"
    assert script.main([str(data), "--split", "train", "--out", str(out)]) == 1
    assert not (out / f"{records[1].id}.json").exists()
    good = out / f"{records[0].id}.json"
    tracks, size = detected_tracks(out, records[0].id)
    assert size == (160, 96) and tracks  # the drawn instruments are found
    truth = json.loads(records[0].truth.read_text())
    assert {t.source_class for t in tracks} <= {s["class"] for s in truth["sources"]}
    stamp = good.stat().st_mtime_ns
    shutil.copy(scenes_dir / records[1].video.name, records[1].video)
    assert script.main([str(data), "--split", "train", "--out", str(out)]) == 0
    assert good.stat().st_mtime_ns == stamp  # not detected again
    assert detected_tracks(out, records[1].id) is not None
