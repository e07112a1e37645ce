"""The generator's share prior (models/share_prior.py, ModelConfig.share_prior): the
renderer's per-cell separation shares given to the source slots."""

import dataclasses

import numpy as np
import pytest
import torch
from separation_support import constant_separation_model, saved_separation_model

from binaural.spatial.config import RenderConfig
from binaural.spatial.generator import generate_array
from binaural.spatial.separation import mel_centres_hz
from binaural.spatial.tracks import SourceTrack
from models.config import GeneratorConfig, TrainConfig
from models.generator import DiffusionGenerator, save_checkpoint
from models.generator_config import preset
from models.generator_examples import SceneExample, sample_batch
from models.generator_features import band_centres_hz, network_frame_times, slot_conditions, stft
from models.generator_net import SHARE_FLOOR, SHARE_SCALE_INIT, GeneratorNet
from models.generator_train import diffusion_loss, warm_start
from models.hypotheses import render_hypotheses
from models.share_prior import slot_shares, track_logits

SR = 48000
FRAME = (640, 360)
TINY = preset("tiny")
SHARED = dataclasses.replace(TINY, share_prior=True)
PLAIN = RenderConfig(activity_model="", reverb_model="", reverb=False)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _track(azimuth: float, cls: str, sid: int, distance: float = 2.0,
           duration: float = 2.0) -> SourceTrack:
    t = np.linspace(0.0, duration, 11)
    return SourceTrack(sid, cls, cls, 0.8, t, np.full(11, azimuth), np.zeros(11),
                       np.full(11, distance), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)))


def _noise(seconds: float, seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.05
            ).astype(np.float32)


# The person dominates the bands below 1 kHz, the piano those above.
LOW_PERSON = np.where(mel_centres_hz() < 1000.0, 8.0, -8.0)
SPLIT_BIAS = np.stack([LOW_PERSON, -LOW_PERSON])


def test_slot_shares_follow_the_model_per_band_and_the_prior_without_one():
    tracks = [_track(-60.0, "person", 0), _track(60.0, "piano", 1)]
    mono = _noise(1.0)
    times = network_frame_times(mono.size, SHARED)
    render = dataclasses.replace(PLAIN, separation_sharpness=4.0)
    logits = track_logits(mono, SR, tracks, constant_separation_model(SPLIT_BIAS))
    w = slot_shares(tracks, times, SHARED, render, logits)
    assert w.shape == (SHARED.max_sources, times.size, SHARED.bands) and w.dtype == np.float32
    assert np.allclose(w.sum(axis=0), 1.0, atol=1e-6)
    assert np.all(w[2] == 0.0)  # the empty slot
    low, high = band_centres_hz(SHARED) < 700.0, band_centres_hz(SHARED) > 1500.0
    assert w[0][:, low].min() > 0.99 and w[1][:, high].min() > 0.99
    # Without a model: the renderer's per-frame prior, 1/r^2 (1 m against 2 m: 4 to 1).
    near = [_track(-60.0, "person", 0, 1.0), _track(60.0, "piano", 1, 2.0)]
    prior = slot_shares(near, times, SHARED, render, None)
    assert np.allclose(prior[0], 0.8) and np.allclose(prior[1], 0.2)
    # One track: nothing to separate, it takes every cell.
    assert track_logits(mono, SR, tracks[:1], constant_separation_model(SPLIT_BIAS)) is None
    assert np.allclose(slot_shares(tracks[:1], times, SHARED, render, None)[0], 1.0)


def _encode(net: GeneratorNet, kemar, tracks, mono, shares=None):
    hyps = render_hypotheses(mono, tracks, kemar, TINY.max_sources, SR, 512, 3)
    cond = slot_conditions(tracks, network_frame_times(mono.size, TINY), FRAME, TINY)
    m, h = stft(torch.from_numpy(mono)[None], TINY), stft(torch.from_numpy(hyps)[None], TINY)
    return net.encode(m, h, cond, shares), h


def test_a_plain_parent_warm_starts_the_prior_as_a_bias_of_its_logits(kemar, tmp_path):
    """Warm-started from a model without the prior, the new model's logits are the
    parent's plus SHARE_SCALE_INIT x log(share) on the source slots, the mixture's alike."""
    torch.manual_seed(0)
    parent = GeneratorNet(TINY).eval()
    path = save_checkpoint(tmp_path / "parent.pt", parent, {"name": "parent"})
    net = GeneratorNet(SHARED)
    assert sorted(warm_start(net, path)) == ["share_in.bias", "share_in.weight", "share_scale"]
    net.eval()
    tracks = [_track(-60.0, "person", 0), _track(60.0, "piano", 1)]
    mono = _noise(0.5)
    times = network_frame_times(mono.size, TINY)
    logits = track_logits(mono, SR, tracks, constant_separation_model(SPLIT_BIAS))
    shares = torch.from_numpy(slot_shares(tracks, times, SHARED, PLAIN, logits))[None]
    sigma = torch.tensor([0.5])
    with torch.no_grad():
        enc, h = _encode(net, kemar, tracks, mono, shares)
        x = h[:, -1]
        mine = net.logits(enc, x, sigma)
        base_enc, _ = _encode(parent, kemar, tracks, mono)
        theirs = parent.logits(base_enc, x, sigma)
    bias = SHARE_SCALE_INIT * torch.log(shares.clamp_min(SHARE_FLOOR))
    torch.testing.assert_close(mine[:, :2], theirs[:, :2] + bias[:, :2], atol=1e-4, rtol=0)
    torch.testing.assert_close(mine[:, -1], theirs[:, -1], atol=1e-5, rtol=0)
    # No shares (a model without separation): no preference, the parent's logits.
    with torch.no_grad():
        plain_enc, _ = _encode(net, kemar, tracks, mono)
        torch.testing.assert_close(net.logits(plain_enc, x, sigma), theirs, atol=1e-5, rtol=0)


def test_training_batches_carry_their_crops_shares_and_train_the_prior(kemar):
    tracks = [_track(-60.0, "person", 0, duration=0.5), _track(60.0, "piano", 1, duration=0.5)]
    mono = _noise(0.5)
    target = render_hypotheses(mono, tracks, kemar, 2, SR, 512, 3)[0]
    hyps = render_hypotheses(mono, tracks, kemar, SHARED.max_sources, SR, 512, 3, PLAIN)
    logits = track_logits(mono, SR, tracks, constant_separation_model(SPLIT_BIAS))
    scene = SceneExample("s", mono.astype(np.float16), target.astype(np.float16),
                         hyps.astype(np.float16), tracks, FRAME, logits)
    with pytest.raises(ValueError, match="renderer's settings"):
        sample_batch([scene], 2, mono.size, SHARED, np.random.default_rng(0))
    batch = sample_batch([scene], 2, mono.size, SHARED, np.random.default_rng(0), PLAIN)
    expected = slot_shares(tracks, network_frame_times(mono.size, SHARED), SHARED, PLAIN, logits)
    assert np.array_equal(batch.shares[1].numpy(), expected)  # one crop: the whole scene
    torch.manual_seed(0)
    net = GeneratorNet(SHARED)
    loss, _ = diffusion_loss(net, batch, TrainConfig(), torch.Generator().manual_seed(0))
    loss.backward()
    assert net.share_scale.grad.abs().item() > 0
    assert net.share_in.bias.grad.abs().sum().item() > 0


def test_generation_with_the_prior_ignores_input_chunking(kemar, tmp_path):
    """The shares are computed per window from the window's own audio: how the input is
    cut does not change the output; the separation model's shares do."""
    torch.manual_seed(1)
    net = GeneratorNet(SHARED).eval()
    with torch.no_grad():
        net.share_in.weight.normal_(0, 0.5)
    tracks = [_track(-60.0, "person", 0, duration=1.2), _track(60.0, "piano", 1, duration=1.2)]
    mono = _noise(1.2)
    render = dataclasses.replace(PLAIN, separation_model=saved_separation_model(
        tmp_path, SPLIT_BIAS))
    settings = GeneratorConfig(steps=2, chunk_s=0.4, crossfade_s=0.08, room_split=False)
    gen = DiffusionGenerator(net, kemar, render, settings)
    a = generate_array(gen, mono, tracks, SR, FRAME, chunk=5000)
    b = generate_array(gen, mono, tracks, SR, FRAME, chunk=24000)
    assert np.isfinite(a).all() and np.allclose(a, b, atol=1e-6)
    flipped = dataclasses.replace(PLAIN, separation_model=saved_separation_model(
        tmp_path, -SPLIT_BIAS))
    c = generate_array(DiffusionGenerator(net, kemar, flipped, settings), mono, tracks, SR,
                       FRAME)
    assert np.abs(c - a).max() > 0.01 * np.abs(a).max()


def test_add_share_prior_keeps_the_parent_and_sets_the_scale(tmp_path):
    """scripts/add_share_prior.py: the parent's weights unchanged, the new parts as
    initialised, the given scale; a model that has the prior already is refused."""
    from script_support import load_script

    from models.generator import load_checkpoint

    torch.manual_seed(0)
    parent = save_checkpoint(tmp_path / "parent.pt", GeneratorNet(TINY), {"name": "p"})
    script = load_script("add_share_prior")
    assert script.main([str(parent), str(tmp_path / "sp.pt"), "--scale", "3"]) == 0
    net, meta = load_checkpoint(tmp_path / "sp.pt")
    theirs, _ = load_checkpoint(parent)
    assert net.cfg == SHARED and meta["name"] == "p-sp" and meta["share_prior_scale"] == 3.0
    assert meta["share_prior_parent"].startswith("p@")
    assert float(net.share_scale.detach()) == 3.0 and not net.share_in.weight.any()
    for key, value in theirs.state_dict().items():
        assert torch.equal(net.state_dict()[key], value)
    with pytest.raises(SystemExit):
        script.main([str(tmp_path / "sp.pt"), str(tmp_path / "again.pt")])
