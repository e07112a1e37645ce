"""The renderer's per-cell separation (binaural.spatial.separation and its use in
binaural.spatial.scene_render)."""

from dataclasses import replace

import numpy as np
import pytest
from separation_support import CLASSES, saved_separation_model

from binaural.spatial.config import RenderConfig
from binaural.spatial.gate import N_MELS
from binaural.spatial.scene_render import build_spatializer, render_scene
from binaural.spatial.separation import (
    SeparationModel,
    bin_interpolation,
    cell_features,
    cell_shares,
    class_logits,
    mel_centres_hz,
)
from binaural.spatial.tracks import SourceTrack

PLAIN = RenderConfig(activity_model="", reverb_model="", reverb=False)


def _track(azimuth: float, cls: str, sid: int, distance: float = 2.0) -> SourceTrack:
    return SourceTrack(sid, cls, cls, 0.9, np.array([0.0, 10.0]), np.full(2, azimuth),
                       np.zeros(2), np.full(2, distance), np.zeros((2, 4)))


def test_bin_interpolation_is_the_identity_at_band_centres_and_sums_to_one():
    centres = mel_centres_hz()
    m = bin_interpolation(np.concatenate([[0.0], centres, [20000.0]]))
    assert np.allclose(m.sum(axis=1), 1.0)
    assert np.allclose(m[1:-1], np.eye(N_MELS))
    assert m[0, 0] == 1.0 and m[-1, -1] == 1.0  # held beyond the end bands


def test_cell_shares_follow_the_logits_on_top_of_the_prior():
    logits = np.zeros((2, 3, 5))
    logits[:, 0, :2] = 3.0  # track 0 dominates the first two bins
    prior = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]])  # track 2 absent in frame 0
    w = cell_shares(logits, prior)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.all(w[0, 2] == 0.0)
    assert w[0, 0, 0] == pytest.approx(np.exp(3) / (np.exp(3) + 1))
    assert np.allclose(w[1, :, 4], [0.25, 0.25, 0.5])  # equal logits: the prior's shares
    sharp = cell_shares(logits, prior, sharpness=20.0)
    assert sharp[0, 0, 0] > 0.999
    assert np.all(cell_shares(logits, np.zeros((3, 2))) == 0.0)


def test_unknown_classes_take_the_mean_logit():
    logits = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)
    out = class_logits(logits, ["piano", "dog", "person"], CLASSES)
    assert np.array_equal(out[:, 0], logits[:, 1])
    assert np.array_equal(out[:, 1], logits.mean(axis=1))
    assert np.array_equal(out[:, 2], logits[:, 0])


def test_a_model_round_trips_and_refuses_other_features(tmp_path):
    bias = np.random.default_rng(0).standard_normal((2, N_MELS))
    path = saved_separation_model(tmp_path, bias)
    loaded = SeparationModel.load(path)
    assert loaded.classes == CLASSES
    feats = cell_features(np.random.default_rng(1).standard_normal((7, N_MELS)) * 10 - 40)
    assert np.allclose(loaded.logits(feats), bias[None])
    data = dict(np.load(path))
    data["shape_context"] = 5
    np.savez(tmp_path / "other.npz", **data)
    with pytest.raises(ValueError, match="other features"):
        SeparationModel.load(tmp_path / "other.npz")


def _noise(sample_rate: int, seconds: float = 2.0) -> np.ndarray:
    return np.random.default_rng(3).standard_normal(int(seconds * sample_rate)) * 0.05


def test_equal_logits_render_the_per_frame_mixture(kemar, sample_rate, tmp_path):
    tracks = [_track(-50.0, "person", 0), _track(40.0, "piano", 1, 3.0)]
    mono = _noise(sample_rate)
    plain = render_scene(mono, kemar, tracks, PLAIN, sample_rate)
    cfg = replace(PLAIN, separation_model=saved_separation_model(tmp_path, np.zeros((2, N_MELS))))
    separated = render_scene(mono, kemar, tracks, cfg, sample_rate)
    assert np.abs(separated - plain).max() < 1e-5 * np.abs(plain).max() + 1e-7


def _band_ild(binaural: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spec = np.fft.rfft(binaural, axis=-1)
    f = np.fft.rfftfreq(binaural.shape[-1], 1.0 / sample_rate)
    band = (f >= low) & (f < high)
    p = (np.abs(spec[:, band]) ** 2).sum(axis=-1)
    return float(10 * np.log10(p[0] / p[1]))


def test_each_band_goes_to_the_class_the_model_says_dominates_it(kemar, sample_rate,
                                                                   tmp_path):
    """Person on one side, piano on the other; the model gives the person the bands below
    1 kHz and the piano those above: each band takes its own source's level difference."""
    tracks = [_track(-60.0, "person", 0), _track(60.0, "piano", 1)]
    mono = _noise(sample_rate)
    bias = np.where(mel_centres_hz() < 1000.0, 8.0, -8.0)
    cfg = replace(PLAIN, separation_model=saved_separation_model(tmp_path, np.stack([bias, -bias])))
    out = render_scene(mono, kemar, tracks, cfg, sample_rate)
    alone = [render_scene(mono, kemar, [t], PLAIN, sample_rate) for t in tracks]
    mixed = render_scene(mono, kemar, tracks, PLAIN, sample_rate)
    for low, high, source in ((300.0, 700.0, 0), (3000.0, 8000.0, 1)):
        ild = _band_ild(out, sample_rate, low, high)
        assert abs(ild - _band_ild(alone[source], sample_rate, low, high)) < 1.0
        assert abs(ild) > abs(_band_ild(mixed, sample_rate, low, high)) + 3.0


def test_separation_is_off_for_one_track_and_the_output_does_not_depend_on_chunks(
        kemar, sample_rate, tmp_path):
    rng = np.random.default_rng(5)
    bias = rng.standard_normal((2, N_MELS)) * 2
    cfg = replace(RenderConfig(activity_model="", reverb_model="", analysis_s=0.5),
                  separation_model=saved_separation_model(tmp_path, bias))
    one = build_spatializer(kemar, [_track(30.0, "person", 0)], cfg, sample_rate)
    assert one.separation is None
    tracks = [_track(-30.0, "person", 0), _track(50.0, "piano", 1)]
    mono = _noise(sample_rate, 3.0)
    whole = render_scene(mono, kemar, tracks, cfg, sample_rate)
    sp = build_spatializer(kemar, tracks, cfg, sample_rate)
    assert sp.separation is not None
    cuts = np.sort(rng.choice(mono.size, 7, replace=False))
    pieces = [sp.push(c) for c in np.split(mono, cuts)] + [sp.flush()]
    assert np.allclose(np.concatenate(pieces, axis=1), whole, atol=1e-6)


def test_the_v2_mixture_hypothesis_is_shared_out_per_cell_and_chunking_changes_nothing(
        kemar, sample_rate, tmp_path):
    """With a separation model the v2 hypotheses' mixture slot is the renderer's separated
    mixture (anechoic, no room split); the per-source slots stay; chunks change nothing."""
    from models.hypotheses import HypothesisStream, render_hypotheses

    bias = np.where(mel_centres_hz() < 1000.0, 8.0, -8.0)
    cfg = replace(PLAIN, separation_model=saved_separation_model(tmp_path, np.stack([bias, -bias])),
                  analysis_s=0.5)
    tracks = [_track(-60.0, "person", 0), _track(60.0, "piano", 1)]
    mono = _noise(sample_rate, 2.0)
    plain = render_hypotheses(mono, tracks, kemar, 2, sample_rate, 512, 3, PLAIN, 2)
    hyps = render_hypotheses(mono, tracks, kemar, 2, sample_rate, 512, 3, cfg, 2)
    assert np.array_equal(hyps[:2], plain[:2])
    assert np.allclose(hyps[2], render_scene(mono, kemar, tracks, cfg, sample_rate), atol=1e-6)
    assert not np.allclose(hyps[2], plain[2], atol=1e-3)
    stream = HypothesisStream(tracks, kemar, 2, sample_rate, 512, 3, cfg, 2)
    cuts = np.sort(np.random.default_rng(2).choice(mono.size, 5, replace=False))
    pieces = [stream.push(c) for c in np.split(mono, cuts)] + [stream.flush()]
    assert np.allclose(np.concatenate(pieces, axis=2), hyps, atol=1e-6)


def test_training_learns_from_stems_and_writes_a_model_the_renderer_loads(tmp_path, kemar):
    """scripts/train_separation.py on tiny v2 sets with stems: the targets are shares (sum
    to one over the sounding objects), the written model loads and gives finite logits.
    Cross-fitting: `--fold I/N` leaves fold I's scenes out, and the generator's training
    scenes take their shares from the model of their own fold."""
    from script_support import load_script
    from synth_support import CFG

    from binaural.synth.config import GeneratorDataConfig

    data, train = load_script("make_generator_data"), load_script("train_separation")
    v2 = replace(CFG, duration_s=1.0, width=160, height=96, video_fps=10, room="shoebox",
                 silent_object_prob=0.0, ambience_prob=1.0, noise_prob=1.0, max_sources=2)
    recipe = GeneratorDataConfig(synthesis=2, train_duration_s=1.0, train_size=(160, 96),
                                 train_fps=10, train_source_mix=(0.0, 1.0),
                                 train_heads=("pkg:spatialaudiometrics/example_sofa_1.sofa",))
    for kind, seed in (("train", 5), ("val", 6)):
        data.make_set(kind, tmp_path / kind, 2, seed=seed, recipe=recipe, synth=v2,
                      renderer_head=RenderConfig().hrtf)
    from binaural.eval.datasets import load_dataset

    arrays = train.scene_arrays(load_dataset(tmp_path / "train", "train")[0], 48000, 1.0)
    shares = arrays["share"].sum(axis=1)
    assert np.allclose(shares[arrays["weight"] > 0], 1.0, atol=1e-5)
    assert arrays["valid"][0].sum() == 2 and np.all(arrays["weight"] >= 0)
    out = tmp_path / "sep.npz"
    assert train.main([str(tmp_path / "train"), str(tmp_path / "val"), "--out", str(out),
                       "--epochs", "2", "--hidden", "8", "--batch", "16"]) == 0
    model = SeparationModel.load(out)
    logits = model.logits(arrays["x"])
    assert logits.shape == (arrays["x"].shape[0], len(model.classes), N_MELS)
    assert np.all(np.isfinite(logits))

    from models.config import TrainConfig
    from models.generator_config import preset
    from models.generator_examples import load_scenes
    from models.share_prior import share_fold

    records = load_dataset(tmp_path / "train", "train")
    for i in range(2):
        kept = sum(share_fold(r.id, 2) != i for r in records)
        if kept:
            assert train.load_set(str(tmp_path / "train"), "train", 48000, 1.0,
                                  (i, 2))["scenes"] == kept
        else:
            with pytest.raises(SystemExit):
                train.load_set(str(tmp_path / "train"), "train", 48000, 1.0, (i, 2))
    folds = [saved_separation_model(tmp_path, np.full((2, N_MELS), float(i + 1)))
             for i in range(2)]
    cfg = replace(preset("tiny"), share_prior=True)
    scenes = load_scenes(records, kemar, cfg, TrainConfig(), 512, 3, 0, render=PLAIN,
                         separation_folds=folds)
    for record, scene in zip(records, scenes):
        own = share_fold(record.id, 2) + 1.0  # the constant logit of the scene's fold model
        assert np.allclose(scene.logits.logits[..., 0, :], own)
