"""The generator's synthesis-v2 scene sets: same-class silent distractors and the per-source
binaural stems through the true room (the separated-source oracle in rooms)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from script_support import load_script
from synth_support import CFG

from binaural.eval.config import EvaluateConfig
from binaural.eval.datasets import load_dataset
from binaural.eval.systems import EvalContext
from binaural.io.audio import read_wav
from binaural.io.config import SceneConfig
from binaural.spatial.config import LocalizeConfig, RenderConfig
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet
from binaural.synth.config import GeneratorDataConfig
from binaural.synth.scenes import draw_scene, render_scene
from models.generator_system import separated_oracle

V2 = replace(CFG, duration_s=1.0, width=160, height=96, video_fps=10, room="shoebox",
             silent_object_prob=1.0, ambience_prob=1.0, noise_prob=1.0, mic_colour_prob=1.0,
             max_sources=3)
SONICOM_1 = "pkg:spatialaudiometrics/example_sofa_1.sofa"


def _script():
    return load_script("make_generator_data")


def test_silent_distractor_takes_a_sounding_class_only_when_asked() -> None:
    for seed in range(6):
        plan, _ = draw_scene(V2, seed, 2)
        classes = [o.source_class for o in plan.objects]
        assert plan.silent == (False, False, True) and len(set(classes)) == 3
        same, _ = draw_scene(replace(V2, same_class_silent_prob=1.0), seed, 2)
        assert same.objects[2].source_class in classes[:2]
        # Only the distractor changes: the sounding objects and their pauses stay.
        assert same.objects[:2] == plan.objects[:2] and same.gaps == plan.gaps


def test_separate_stems_sum_to_the_truth_with_the_truth_head(kemar: HRTFSet,
                                                             sample_rate: int) -> None:
    data = _script()
    scene = render_scene(V2, kemar, "s", 7, 2)
    stems = data.separate_stems(V2, kemar, 7, 2, scene.mono)
    assert stems.shape == (2 * 3 + 2, scene.mono.shape[0])
    assert np.abs(stems[4:6]).max() == 0.0  # the silent object
    total = stems.reshape(-1, 2, stems.shape[-1]).sum(axis=0)
    assert np.abs(total - scene.binaural).max() < 1e-5 * np.abs(scene.binaural).max() + 1e-7
    # Another head: the same sources and room, other ears.
    other = load_heads([SONICOM_1], sample_rate)[0]
    moved = data.separate_stems(V2, other, 7, 2, scene.mono)
    assert moved.shape == stems.shape and not np.allclose(moved, stems, atol=1e-3)
    with pytest.raises(RuntimeError, match="capture"):
        data.separate_stems(V2, kemar, 8, 2, scene.mono)  # not this scene's mono


def test_v2_test_set_gives_the_room_oracle(tmp_path: Path, kemar: HRTFSet) -> None:
    data = _script()
    recipe = GeneratorDataConfig(synthesis=2, test_duration_s=1.0, test_size=(160, 96),
                                 test_fps=10, test_source_mix=(0.0, 1.0), test_head=SONICOM_1)
    data.make_set("test", tmp_path, 1, seed=5, recipe=recipe, synth=V2,
                  renderer_head=RenderConfig().hrtf)
    assert (tmp_path / "truth" / "test_005_0000.separate.wav").is_file()
    record = load_dataset(tmp_path)[0]
    context = EvalContext(SceneConfig(), LocalizeConfig(), RenderConfig(), EvaluateConfig(),
                          kemar)
    out = separated_oracle(record, context)
    clip = context.clip(record)
    assert out.shape == clip.reference.shape and np.abs(out).max() > 0.01
    # The oracle is the scene through the same room with another head: close to the truth
    # in level, not equal to it.
    ratio = np.sqrt(np.mean(out ** 2) / np.mean(clip.reference ** 2))
    assert 0.3 < ratio < 3.0 and not np.allclose(out, clip.reference, atol=1e-3)
    other = EvalContext(SceneConfig(), LocalizeConfig(), RenderConfig(), EvaluateConfig(),
                        load_heads([SONICOM_1], 48000)[0])
    with pytest.raises(ValueError, match="renderer's head"):
        separated_oracle(record, other)


def test_stems_in_the_truths_pass_equal_the_re_render(kemar: HRTFSet, sample_rate: int) -> None:
    """write_v2_scene renders the stems' head in the truth's pass (sources, propagation and
    capture once): the truth is unchanged and the stems are separate_stems' re-render."""
    data = _script()
    other = load_heads([SONICOM_1], sample_rate)[0]
    parts: dict = {}
    scene = render_scene(V2, kemar, "s", 7, 2, parts=parts, stems_hrtf=other)
    plain = render_scene(V2, kemar, "s", 7, 2)
    np.testing.assert_array_equal(scene.binaural, plain.binaural)
    np.testing.assert_array_equal(scene.mono, plain.mono)
    one_pass = data.stems_from_parts(parts, parts["scale"])
    again = data.separate_stems(V2, other, 7, 2, plain.mono)
    assert one_pass.shape == again.shape == (2 * 3 + 2, plain.mono.shape[0])
    assert np.abs(one_pass - again).max() <= 1e-5 * np.abs(again).max()
    assert np.abs(one_pass[:4]).max() > 0.01 and np.abs(one_pass[4:6]).max() == 0.0


def test_stems_added_to_a_written_train_set_are_those_of_a_test_pass(tmp_path: Path,
                                                                     sample_rate: int) -> None:
    """--add-separate re-renders a written v2 scene from its seed: the stems equal those the
    scene's own pass writes (make_set with the renderer's head), the JSON names the head,
    a scene with stems is skipped, and a set changed under it is refused."""
    data = _script()
    recipe = GeneratorDataConfig(synthesis=2, train_duration_s=1.0, train_size=(160, 96),
                                 train_fps=10, train_source_mix=(0.0, 1.0),
                                 train_heads=(SONICOM_1,))
    data.make_set("train", tmp_path, 1, seed=5, recipe=recipe, synth=V2)
    stems_path = tmp_path / "truth" / "train_005_0000.separate.wav"
    assert not stems_path.exists()
    data.add_separate("train", tmp_path, 1, 5, recipe, V2, RenderConfig().hrtf)
    stems, _ = read_wav(stems_path)
    cfg, mix = data.set_config("train", recipe, V2)
    seed, sources = data.scene_draw(5, 0, mix)
    kemar = load_heads([RenderConfig().hrtf], sample_rate)[0]
    parts: dict = {}
    own = load_heads([SONICOM_1], sample_rate)[0]
    render_scene(replace(cfg, hrtf=own.name), own, "x", seed + 1, sources, parts=parts,
                 stems_hrtf=kemar)
    expected = data.stems_from_parts(parts, parts["scale"])
    assert np.abs(stems - expected).max() <= 1e-6 * np.abs(expected).max()
    truth = json.loads((tmp_path / "truth" / "train_005_0000.json").read_text())
    assert truth["separate"]["hrtf_digest"] == kemar.digest
    before = stems_path.stat().st_mtime_ns
    data.add_separate("train", tmp_path, 1, 5, recipe, V2, RenderConfig().hrtf)
    assert stems_path.stat().st_mtime_ns == before  # done: skipped
    stems_path.unlink()
    with pytest.raises(RuntimeError, match="written truth"):
        data.add_separate("train", tmp_path, 1, 5, replace(recipe, train_duration_s=1.5), V2,
                          RenderConfig().hrtf)
