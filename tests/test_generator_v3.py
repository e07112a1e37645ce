"""Generator v3 (rooms): its hypotheses (per-source with the direct/diffuse split, a diffuse
field, the gated mixture), the sounding and box-centre conditions, one hypothesis per cell,
streaming, checkpoints beside v2's, warm start from v2, and that training reduces the loss."""

import dataclasses

import numpy as np
import pytest
import torch

from binaural.spatial.config import RenderConfig
from binaural.spatial.generator import DSPGenerator, generate_array
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.scene_render import render_scene
from binaural.spatial.tracks import SourceTrack
from models.config import GeneratorConfig, TrainConfig
from models.generator import DiffusionGenerator, load_checkpoint, save_checkpoint
from models.generator_config import ModelConfig, preset
from models.generator_examples import noisy_sounding
from models.generator_features import network_frame_times, slot_conditions, stft
from models.generator_net import GeneratorNet
from models.generator_train import warm_start
from models.hypotheses import render_hypotheses

SR = 48000
TINY3 = preset("tiny", 3)
FRAME = (640, 360)
RENDER = RenderConfig()


def track(azimuth: float, cls: str, duration: float = 1.0, source_id: int = 0,
          sounding: np.ndarray | None = None) -> SourceTrack:
    t = np.linspace(0.0, duration, 11)
    return SourceTrack(source_id, cls, cls, 0.8, t, np.full(11, azimuth), np.zeros(11),
                       np.full(11, 2.0), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)),
                       sounding=sounding)


def reverberant_mono(duration: float = 1.0) -> np.ndarray:
    """Noise bursts with an exponential tail (a room's decay, T60 ~ 0.5 s)."""
    rng = np.random.default_rng(0)
    n = int(duration * SR)
    dry = rng.normal(0, 0.1, n) * (np.arange(n) % (SR // 2) < SR // 10)
    tail = rng.normal(0, 1, SR // 2) * np.exp(-np.arange(SR // 2) / SR * 6.9 / 0.5)
    return (np.convolve(dry, tail)[:n] * 0.05).astype(np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_v3_config_and_old_checkpoints(tmp_path) -> None:
    assert TINY3.slots == TINY3.max_sources + 2 and preset("tiny").slots == 4
    assert ModelConfig.from_dict(preset("small").to_dict() | {}).version == 2
    old = {k: v for k, v in preset("tiny").to_dict().items()
           if k not in ("version", "select_temperature")}
    assert ModelConfig.from_dict(old) == preset("tiny")  # a v2 checkpoint's config
    path = tmp_path / "future.pt"
    torch.save({"format": "binaural-generator/1", "state_dict": {}, "meta": {},
                "config": TINY3.to_dict() | {"hypothesis_kind": "x"}}, path)
    with pytest.raises(ValueError, match="newer generator version"):
        load_checkpoint(path)


def test_room_hypotheses_are_the_renderer_s(kemar: HRTFSet) -> None:
    mono = reverberant_mono()
    tracks = [track(40.0, "person", sounding=np.ones(11)),
              track(-30.0, "piano", source_id=1, sounding=np.zeros(11))]
    hyps = render_hypotheses(mono, tracks, kemar, 3, SR, RENDER.block, RENDER.neighbours,
                             RENDER, version=3)
    assert hyps.shape == (5, 2, mono.shape[0]) and np.abs(hyps[2]).max() == 0.0
    # The last slot is the dsp system: the room-aware renderer with its gates; the first is
    # the renderer along that track alone.
    assert np.allclose(hyps[-1], render_scene(mono, kemar, tracks, RENDER, SR), atol=1e-6)
    assert np.allclose(hyps[0], render_scene(mono, kemar, tracks[:1], RENDER, SR,
                                             use_activity=False), atol=1e-6)
    # The diffuse field: the ears' levels about equal (no direction), low coherence above
    # ~1 kHz.
    diffuse = hyps[3]
    level = 10 * np.log10(np.mean(diffuse[0] ** 2) / np.mean(diffuse[1] ** 2))
    assert abs(level) < 1.5
    left = 10 * np.log10(np.mean(hyps[0][0] ** 2) / np.mean(hyps[0][1] ** 2))
    assert left > 3.0  # the source at +40 deg (left) is louder in the left ear
    with pytest.raises(ValueError, match="renderer's settings"):
        render_hypotheses(mono, tracks, kemar, 3, SR, 512, 3, None, version=3)


def test_sounding_and_box_centre_enter_the_conditions() -> None:
    times = network_frame_times(SR, TINY3)
    on = slot_conditions([track(10.0, "person", sounding=np.linspace(0, 1, 11))], times,
                         FRAME, TINY3)
    unknown = slot_conditions([track(10.0, "person")], times, FRAME, TINY3)
    geo = on.geometry[0, 0]
    assert geo.shape[-1] == 8 and torch.all(geo[:, 7] == 1.0)
    assert torch.allclose(geo[:, 6], torch.tensor(np.interp(times, np.linspace(0, 1, 11),
                                                            np.linspace(0, 1, 11)),
                                                  dtype=torch.float32), atol=1e-6)
    assert torch.allclose(geo[:, 4], torch.full_like(geo[:, 4], 130 / 640 - 0.5))
    assert torch.all(unknown.geometry[0, 0, :, 6] == 0.5)
    assert torch.all(unknown.geometry[0, 0, :, 7] == 0.0)


def test_noisy_sounding_follows_the_truth_flags() -> None:
    truth = {"sources": [{"silent": False, "track": [{"sounding": i < 5} for i in range(11)]},
                         {"silent": True, "track": [{"sounding": False}] * 11}]}
    tracks = [track(0.0, "person"), track(20.0, "guitar", source_id=1)]
    tc = dataclasses.replace(TrainConfig(), p_unknown_sounding=0.0)
    out = noisy_sounding(truth, tracks, np.random.default_rng(0), tc)
    assert out[0].sounding[:5].mean() > 0.5 > out[0].sounding[5:].mean()
    assert out[1].sounding.max() < 0.75
    gone = noisy_sounding(truth, tracks, np.random.default_rng(0),
                          dataclasses.replace(tc, p_unknown_sounding=1.0))
    assert all(t.sounding is None for t in gone)


def test_one_hypothesis_per_cell(kemar: HRTFSet) -> None:
    torch.manual_seed(0)
    net = GeneratorNet(TINY3).eval()
    mono = reverberant_mono(0.5)
    tracks = [track(40.0, "person", 0.5), track(-30.0, "piano", 0.5, 1)]
    hyps = render_hypotheses(mono, tracks, kemar, 3, SR, 512, 3, RENDER, version=3)
    m, h = stft(torch.from_numpy(mono)[None], TINY3), stft(torch.from_numpy(hyps)[None], TINY3)
    cond = slot_conditions(tracks, network_frame_times(mono.shape[0], TINY3), FRAME, TINY3)
    enc = net.encode(m, h, cond)
    w = net.weights(enc, net.logits(enc, h[:, -1], torch.tensor([1.0])))
    assert torch.all((w == 0) | (w == 1)) and torch.allclose(w.sum(dim=1), torch.ones(1))
    assert torch.all(w[:, 2] == 0)  # the empty source slot is never chosen


def test_v3_streams_in_chunks_and_round_trips(kemar: HRTFSet, tmp_path) -> None:
    torch.manual_seed(0)
    net = GeneratorNet(TINY3).eval()
    mono = reverberant_mono(1.0)
    tracks = [track(40.0, "person"), track(-30.0, "piano", source_id=1)]
    settings = GeneratorConfig(steps=2, chunk_s=0.4, crossfade_s=0.08)
    gen = DiffusionGenerator(net, kemar, RENDER, settings)
    a = generate_array(gen, mono, tracks, SR, FRAME, chunk=5000)
    assert a.shape == (2, mono.shape[0]) and np.all(np.isfinite(a))
    # The room-aware renderer's verdicts (reverberation detector, blind T60) are updated
    # per pushed chunk, so its output (the dsp system too) depends on the input's chunking;
    # without them (and the gate) the windows do not depend on the chunking.
    plain = DiffusionGenerator(net, kemar, dataclasses.replace(
        RENDER, reverb=False, activity_model=""), settings)
    p1 = generate_array(plain, mono, tracks, SR, FRAME, chunk=5000)
    p2 = generate_array(plain, mono, tracks, SR, FRAME, chunk=24000)
    assert np.allclose(p1, p2, atol=1e-6)
    path = save_checkpoint(tmp_path / "v3.pt", net, {"name": "v3"})
    again, _ = load_checkpoint(path)
    assert again.cfg == TINY3
    c = generate_array(DiffusionGenerator(again, kemar, RENDER, settings), mono, tracks, SR,
                       FRAME, chunk=5000)
    assert np.array_equal(a, c)
    # Pinned to the mixture slot it is the DSP system (room-aware, gated).
    with torch.no_grad():
        net.mixture_bias.fill_(1e4)
    pinned = generate_array(gen, mono, tracks, SR, FRAME, chunk=7000)
    dsp = generate_array(DSPGenerator(kemar, RENDER), mono, tracks, SR, FRAME, chunk=7000)
    assert np.abs(pinned - dsp).max() < 1e-4 * np.abs(dsp).max()


def test_v3_warm_starts_from_v2_where_shapes_fit(tmp_path) -> None:
    torch.manual_seed(1)
    v2 = GeneratorNet(preset("tiny"))
    path = save_checkpoint(tmp_path / "v2.pt", v2, {"name": "v2"})
    net = GeneratorNet(TINY3)
    fresh = warm_start(net, path)
    assert "sources.diffuse" in fresh and "sources.mlp.0.weight" not in fresh
    assert torch.equal(net.trunk.inp.weight, v2.trunk.inp.weight)
    w3, w2 = net.sources.mlp[0].weight, v2.sources.mlp[0].weight
    assert torch.equal(w3[:, :4], w2[:, :4]) and torch.equal(w3[:, 8:], w2[:, 4:])
    assert torch.all(w3[:, 4:8] == 0)
