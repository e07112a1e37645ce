"""The diffusion generator on the tiny config: shapes, guidance dropout, masking, checkpoints,
chunked streaming, fallback, and that training reduces the loss."""

import dataclasses

import numpy as np
import pytest
import torch

from binaural.spatial.config import RenderConfig
from binaural.spatial.generator import DSPGenerator, generate_array
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, spatialize
from binaural.spatial.tracks import SourceTrack
from flows.registry import generator_identity, load_generator
from models.config import GeneratorConfig, TrainConfig
from models.generator import DiffusionGenerator, load_checkpoint, save_checkpoint
from models.generator_config import ModelConfig, preset
from models.generator_examples import Batch, drop_silent
from models.generator_features import (
    SlotConditions,
    band_matrices,
    drop_conditions,
    network_frame_times,
    null_conditions,
    slot_conditions,
    sounding_present,
    stft,
)
from models.generator_net import GeneratorNet, GuidedDenoiser
from models.generator_train import diffusion_loss
from models.hypotheses import render_hypotheses

SR = 48000
TINY = preset("tiny")
FRAME = (640, 360)
RENDER = RenderConfig()


def track(azimuth: float, cls: str, duration: float = 2.0, source_id: int = 0) -> SourceTrack:
    t = np.linspace(0.0, duration, 11)
    return SourceTrack(source_id, cls, cls, 0.8, t, np.full(11, azimuth), np.zeros(11),
                       np.full(11, 2.0), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)))


def tones(duration: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sources (a low and a high tone, amplitude-modulated) and their mono."""
    t = np.arange(int(duration * SR)) / SR
    a = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    b = 0.2 * np.sin(2 * np.pi * 3100 * t) * (1 + np.cos(2 * np.pi * 2 * t)) / 2
    return a.astype(np.float32), b.astype(np.float32), (a + b).astype(np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net() -> GeneratorNet:
    torch.manual_seed(0)
    return GeneratorNet(TINY).eval()


def encoded(net: GeneratorNet, kemar: HRTFSet, tracks, mono: np.ndarray, cond=None):
    hyps = render_hypotheses(mono, tracks, kemar, TINY.max_sources, SR, RENDER.block,
                             RENDER.neighbours)
    m = stft(torch.from_numpy(mono)[None], TINY)
    h = stft(torch.from_numpy(hyps)[None], TINY)
    if cond is None:
        cond = slot_conditions(tracks, network_frame_times(mono.shape[0], TINY), FRAME, TINY)
    return net.encode(m, h, cond), cond


def test_band_matrices_interpolate_convexly() -> None:
    pool, expand = band_matrices(TINY)
    assert expand.shape == (TINY.freq_bins, TINY.bands)
    assert torch.allclose(expand.sum(dim=1), torch.ones(TINY.freq_bins))
    assert torch.allclose(pool.sum(dim=1), torch.ones(TINY.bands))
    assert (expand >= 0).all()


def test_tiny_model_round_trip_shapes(net, kemar) -> None:
    _, _, mono = tones(0.5)
    tracks = [track(30.0, "person"), track(-25.0, "piano", source_id=1)]
    enc, _ = encoded(net, kemar, tracks, mono)
    x = torch.randn(enc.mixture.shape, dtype=torch.complex64)
    with torch.no_grad():
        d = net.denoise(enc, x, torch.tensor([0.5]))
    assert d.shape == enc.mixture.shape == (1, 2, mono.shape[0] // TINY.hop + 1,
                                            TINY.freq_bins)
    gen = DiffusionGenerator(net, kemar, RENDER, GeneratorConfig(steps=2, chunk_s=0.3,
                                                                 crossfade_s=0.05))
    out = generate_array(gen, mono, tracks, SR, FRAME)
    assert out.shape == (2, mono.shape[0]) and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() > 0.05


def test_guidance_dropout_drops_the_conditions() -> None:
    tracks = [track(30.0, "person"), track(-25.0, "piano", source_id=1)]
    cond = slot_conditions(tracks, network_frame_times(SR, TINY), FRAME, TINY)
    kept = drop_conditions(cond, 0.0, 0.0)
    for a, b in zip(dataclasses.astuple(kept), dataclasses.astuple(cond)):
        assert torch.equal(a, b)
    visual = drop_conditions(cond, 1.0, 0.0)
    assert (visual.class_index == 0).all() and (visual.geometry == 0).all()
    assert torch.equal(visual.position, cond.position)  # the position stays
    assert torch.equal(visual.present, cond.present)
    dropped = drop_conditions(cond, 0.0, 1.0)
    null = null_conditions(cond)
    for a, b in zip(dataclasses.astuple(dropped), dataclasses.astuple(null)):
        assert torch.equal(a, b)
    assert not dropped.present.any() and cond.present[:, :2].all()


def test_the_null_condition_returns_the_mixture_render(net, kemar) -> None:
    _, _, mono = tones(0.5)
    tracks = [track(30.0, "person"), track(-25.0, "piano", source_id=1)]
    enc, cond = encoded(net, kemar, tracks, mono)
    enc_null, _ = encoded(net, kemar, tracks, mono, null_conditions(cond))
    x = torch.randn(enc.mixture.shape, dtype=torch.complex64)
    with torch.no_grad():
        assert torch.allclose(net.denoise(enc_null, x, torch.tensor([0.3])), enc.mixture,
                              atol=1e-6)
        d = net.denoise(enc, x, torch.tensor([0.3]))
        guided = GuidedDenoiser(net, guidance=2.0)(x, torch.tensor(0.3), enc)
    assert not torch.allclose(d, enc.mixture, atol=1e-4)  # the conditioned one differs
    assert torch.allclose(guided, enc.mixture + 2.0 * (d - enc.mixture), atol=1e-5)


def test_masked_absent_sources_do_not_change_the_output(net, kemar) -> None:
    _, _, mono = tones(0.5)
    tracks = [track(30.0, "person")]
    enc, cond = encoded(net, kemar, tracks, mono)
    # Fill the absent slots with another class, a box, a position and a hypothesis.
    other = slot_conditions([track(30.0, "person"), track(-60.0, "trumpet", source_id=1),
                             track(10.0, "violin", source_id=2)],
                            network_frame_times(mono.shape[0], TINY), FRAME, TINY)
    other.present[:, 1:] = False
    enc_other, _ = encoded(net, kemar, [track(30.0, "person"), track(-60.0, "trumpet", 2.0, 1)],
                           mono, other)
    enc_other.hyps.re[:, -1] = enc.hyps.re[:, -1]  # the same mixture render
    enc_other.hyps.im[:, -1] = enc.hyps.im[:, -1]
    x = torch.randn(enc.mixture.shape, dtype=torch.complex64)
    with torch.no_grad():
        a = net.denoise(enc, x, torch.tensor([0.4]))
        b = net.denoise(enc_other, x, torch.tensor([0.4]))
    assert torch.allclose(a, b, atol=1e-5)


def test_checkpoint_round_trip_restores_config_and_output(net, kemar, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "g.pt", net, {"name": "g-tiny", "size": "tiny"})
    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert ModelConfig.from_dict(raw["config"]) == TINY
    loaded, meta = load_checkpoint(path)
    assert loaded.cfg == TINY and meta["name"] == "g-tiny"
    _, _, mono = tones(0.5)
    tracks = [track(30.0, "guitar")]
    settings = GeneratorConfig(steps=2, chunk_s=1.0, crossfade_s=0.1)
    a = generate_array(DiffusionGenerator(net, kemar, RENDER, settings), mono, tracks, SR)
    gen = load_generator(str(path), kemar, RENDER, settings, "cpu")
    assert gen.version.startswith("g-tiny@") and gen.describe()["steps"] == 2
    assert generator_identity(str(path)) == gen.version
    assert generator_identity("dsp") == "dsp"
    assert np.array_equal(a, generate_array(gen, mono, tracks, SR))
    with pytest.raises(FileNotFoundError):
        load_generator(str(tmp_path / "missing.pt"), kemar, RENDER, settings, "cpu")
    with pytest.raises(ValueError):
        load_checkpoint(save_plain(tmp_path / "other.pt"))


def save_plain(path):
    torch.save({"weights": torch.zeros(2)}, path)
    return path


def test_chunked_generation_equals_the_renderer_where_the_model_defers_to_it(kemar) -> None:
    """A model pinned to the mixture slot reproduces the DSP render through every seam."""
    net = GeneratorNet(TINY).eval()
    with torch.no_grad():
        net.mixture_bias.fill_(1e4)
    _, _, mono = tones(1.2)
    tracks = [track(40.0, "person"), track(-30.0, "piano", source_id=1)]
    gen = DiffusionGenerator(net, kemar, RENDER, GeneratorConfig(
        steps=1, chunk_s=0.4, crossfade_s=0.08, room_split=False))
    chunked = generate_array(gen, mono, tracks, SR, FRAME, chunk=7000)
    # The hypotheses' mixture render: the renderer without room model and activity gate.
    plain = dataclasses.replace(RENDER, reverb=False, activity_model="")
    dsp = generate_array(DSPGenerator(kemar, plain), mono, tracks, SR, FRAME)
    assert chunked.shape == dsp.shape
    assert np.abs(chunked - dsp).max() < 1e-4 * np.abs(dsp).max()


def test_a_v2_models_output_takes_the_renderers_room_split(kemar) -> None:
    """In a reverberant mono (every mono judged reverberant: no detector) the v2 output is
    the room split of what the model made, streamed through the generator's windows."""
    from scipy.signal import fftconvolve

    from binaural.spatial.room_split import room_split

    net = GeneratorNet(TINY).eval()
    rng = np.random.default_rng(3)
    dry = np.zeros(int(1.5 * SR))
    for start in (0.1, 0.8):
        dry[int(start * SR):int((start + 0.3) * SR)] = 0.1 * rng.standard_normal(int(0.3 * SR))
    rir = rng.standard_normal(int(0.5 * SR)) * 10 ** (-3 * np.arange(int(0.5 * SR)) / (0.4 * SR))
    rir[0] = 3.0
    mono = (fftconvolve(dry, 0.3 * rir)[:dry.size]).astype(np.float32)
    render = dataclasses.replace(RENDER, reverb_model="", analysis_s=0.5)
    tracks = [track(40.0, "person")]
    settings = GeneratorConfig(steps=1, chunk_s=0.4, crossfade_s=0.08)
    plain = generate_array(DiffusionGenerator(net, kemar, render, dataclasses.replace(
        settings, room_split=False)), mono, tracks, SR, FRAME, chunk=7000)
    gen = DiffusionGenerator(net, kemar, render, settings)
    split = generate_array(gen, mono, tracks, SR, FRAME, chunk=7000)
    np.testing.assert_allclose(split, room_split(mono, plain, kemar, render, SR,
                                                 settings.room_split_min_hz), atol=1e-6)
    assert np.abs(split - plain).max() > 0.05 * np.abs(plain).max()  # the room did something
    assert gen.last_run()["room_split"] and gen.last_run()["reverberant"]


def test_chunked_generation_has_no_seams_and_ignores_input_chunking(net, kemar) -> None:
    _, _, mono = tones(1.2)
    tracks = [track(40.0, "person"), track(-30.0, "piano", source_id=1)]
    settings = GeneratorConfig(steps=2, chunk_s=0.4, crossfade_s=0.08)
    gen = DiffusionGenerator(net, kemar, RENDER, settings)
    a = generate_array(gen, mono, tracks, SR, FRAME, chunk=5000)
    b = generate_array(gen, mono, tracks, SR, FRAME, chunk=24000)
    assert np.allclose(a, b, atol=1e-6)
    whole = generate_array(DiffusionGenerator(net, kemar, RENDER, dataclasses.replace(
        settings, chunk_s=2.0)), mono, tracks, SR, FRAME)
    # Around every seam the step between samples is no larger than elsewhere, and the
    # chunked output stays close to the single pass.
    step = np.abs(np.diff(a, axis=1)).max(axis=0)
    hop = int((settings.chunk_s - settings.crossfade_s) * SR)
    seams = np.zeros(step.shape, bool)
    for s in range(hop, a.shape[1], hop):
        seams[max(0, s - 200): s + int(settings.crossfade_s * SR) + 200] = True
    assert step[seams].max() <= 1.2 * step[~seams].max()
    assert np.sqrt(np.mean((a - whole) ** 2)) < 0.2 * np.sqrt(np.mean(whole ** 2))


def test_no_source_falls_back_to_the_renderer(net, kemar) -> None:
    _, _, mono = tones(0.5)
    gen = DiffusionGenerator(net, kemar, RENDER, GeneratorConfig(steps=2))
    assert "no sound source" in gen.fallback_reason([])
    assert gen.fallback_reason([track(0.0, "person")]) is None
    out = generate_array(gen, mono, [], SR)
    assert np.array_equal(out, generate_array(DSPGenerator(kemar, RENDER), mono, [], SR))
    with pytest.raises(ValueError):
        generate_array(gen, mono, [track(0.0, "person")], 44100)


def test_a_v2_slot_is_present_where_its_track_sounds() -> None:
    """v2 was trained on scenes where every visible object sounds: a slot counts where
    the association says its track sounds; where none would, the most likely one stays."""
    left, right = track(40.0, "person"), track(-40.0, "person", source_id=1)
    times = np.linspace(0.0, 2.0, 9)
    first = (left.times_s < 1.0).astype(float)  # left speaks first, then right
    turns = [dataclasses.replace(left, sounding=0.1 + 0.8 * first),
             dataclasses.replace(right, sounding=0.9 - 0.8 * first)]
    present = torch.ones(1, TINY.max_sources, times.size, dtype=torch.bool)
    present[:, 2:] = False
    kept = sounding_present(turns, times, present, 0.3)[0].numpy()
    assert kept[0].tolist() == (times < 1.0).tolist()
    assert kept[1].tolist() == (times >= 1.0).tolist() and not kept[2:].any()
    quiet = [dataclasses.replace(t, sounding=np.full(11, q)) for t, q in zip(turns, (.2, .1))]
    kept = sounding_present(quiet, times, present, 0.3)[0].numpy()
    assert kept[0].all() and not kept[1:].any()
    assert sounding_present([left, right], times, present, 0.3) is present  # no association


def test_v2_training_keeps_a_silent_object_as_a_slot_only_sometimes() -> None:
    """On synthesis-v2 scenes a v2 model sees a silent object's track with p_keep_silent
    (the association leaves most out at inference); sounding ones always stay, in order."""
    tracks = [track(40.0, "person"), track(-40.0, "guitar", source_id=1),
              track(0.0, "person", source_id=2)]
    truth = {"sources": [{"silent": False}, {"silent": True}, {}]}
    rng = np.random.default_rng(0)
    kept = [drop_silent(truth, tracks, rng, 0.25) for _ in range(400)]
    assert all(k[0] is tracks[0] and k[-1] is tracks[2] for k in kept)
    share = np.mean([len(k) == 3 for k in kept])
    assert 0.18 < share < 0.32 and all(len(k) in (2, 3) for k in kept)
    assert drop_silent(truth, tracks, rng, 1.0) == tracks
    assert drop_silent(truth, tracks, rng, 0.0) == [tracks[0], tracks[2]]
    with pytest.raises(ValueError, match="p_keep_silent"):
        TrainConfig(p_keep_silent=1.5)


def test_the_shipped_v2_model_follows_the_speaker_who_takes_the_turn(kemar) -> None:
    net, _ = load_checkpoint("models/weights/generator-small.pt")
    gen = DiffusionGenerator(net.eval(), kemar, RENDER, GeneratorConfig(steps=4))
    rng = np.random.default_rng(0)
    mono = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    left, right = track(45.0, "person"), track(-45.0, "person", source_id=1)
    first = (left.times_s < 1.0).astype(float)
    turns = [dataclasses.replace(left, sounding=0.05 + 0.9 * first),
             dataclasses.replace(right, sounding=0.95 - 0.9 * first)]
    out = generate_array(gen, mono, turns, SR)

    def ild_db(part: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(part[0] ** 2) / np.sum(part[1] ** 2)))

    margin = int(0.25 * SR)  # the association's changeover and the crossfade
    assert ild_db(out[:, margin:SR - margin]) > 3.0  # the left speaker's turn
    assert ild_db(out[:, SR + margin:-margin]) < -3.0  # the right one's


@pytest.mark.parametrize("version, steps", [(2, 12), (3, 15)])
def test_a_few_training_steps_reduce_the_loss(kemar, version: int, steps: int) -> None:
    """Either model version (3: the room hypotheses of the renderer's settings) learns."""
    torch.manual_seed(0)
    cfg = preset("tiny", version)
    net = GeneratorNet(cfg)
    a, b, mono = tones(0.25)
    tracks = [track(50.0, "person", 0.25), track(-40.0, "piano", 0.25, 1)]
    target = np.zeros((2, mono.shape[0]), np.float32)
    for stem, tr in zip((a, b), tracks):
        filt = direction_filter(kemar, tr.times_s, tr.azimuth_deg, tr.elevation_deg)
        target += spatialize(stem, filt, kemar.taps, SR)
    hyps = render_hypotheses(mono, tracks, kemar, cfg.max_sources, SR, 512, 3,
                             RenderConfig(), version=version)
    cond = slot_conditions(tracks, network_frame_times(mono.shape[0], cfg), FRAME, cfg)
    batch = Batch(torch.from_numpy(mono)[None], torch.from_numpy(target)[None],
                  torch.from_numpy(hyps)[None], cond)
    tc = TrainConfig()
    sigma = torch.tensor([0.2])

    def loss() -> float:
        with torch.no_grad():
            return diffusion_loss(net, batch, tc, torch.Generator().manual_seed(0), sigma,
                                  drop=False)[0].item()

    before = loss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        value, _ = diffusion_loss(net, batch, tc, torch.Generator().manual_seed(0), sigma,
                                  drop=False)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss() < 0.8 * before


def test_conditions_follow_the_tracks_in_time() -> None:
    tr = track(20.0, "violin", duration=1.0)
    times = network_frame_times(2 * SR, TINY)
    cond = slot_conditions([tr], times, FRAME, TINY)
    assert cond.present[0, 0].tolist() == (times <= 1.0).tolist()
    assert cond.class_index[0].tolist() == [TINY.classes.index("violin") + 1, 0, 0]
    assert float(cond.position[0, 0, 0, 0]) == pytest.approx(np.radians(20.0))
    assert isinstance(SlotConditions.stack([cond, cond]).class_index, torch.Tensor)


def test_logits_stay_bounded_however_large_the_activations(net, kemar) -> None:
    """The softmax over slots must never saturate (its gradients would vanish)."""
    from models.generator_net import LOGIT_LIMIT

    _, _, mono = tones(0.25)
    tracks = [track(30.0, "person"), track(-25.0, "piano", source_id=1)]
    big = GeneratorNet(TINY).eval()
    with torch.no_grad():
        big.load_state_dict(net.state_dict())
        big.head_out.weight.mul_(1e6)
        enc, _ = encoded(big, kemar, tracks, mono)
        logits = big.logits(enc, enc.mixture, torch.tensor([1.0]))
    assert logits[:, :-1].abs().max() <= LOGIT_LIMIT + 1e-4
    assert torch.isfinite(logits).all()


# ------------------------------------------------------------ the visual condition

VISUAL = dataclasses.replace(TINY, visual_dim=6, visual_source="det@abc/recipe")


def seen(tr: SourceTrack, vector, source: str = "det@abc/recipe") -> SourceTrack:
    return dataclasses.replace(tr, embedding=np.asarray(vector, np.float32),
                               embedding_source=source)


def test_embeddings_enter_only_from_the_recipe_the_model_knows() -> None:
    times = network_frame_times(SR // 2, VISUAL)
    good = seen(track(30.0, "person"), np.arange(1, 7))
    other = seen(track(-20.0, "piano", source_id=1), np.ones(6), "yolo11n.pt@x/recipe")
    short = seen(track(10.0, "violin", source_id=2), np.ones(4))
    cond = slot_conditions([good, other, short], times, FRAME, VISUAL)
    assert cond.visual.shape == (1, VISUAL.max_sources, 6)
    np.testing.assert_allclose(cond.visual[0, 0].numpy(), np.arange(1, 7))
    assert (cond.visual[0, 1:] == 0).all()  # another detector, another length: null
    assert slot_conditions([good], times, FRAME, TINY).visual.shape == (1, TINY.max_sources, 0)
    dropped = drop_conditions(cond, 1.0, 0.0)
    assert (dropped.visual == 0).all() and torch.equal(dropped.position, cond.position)
    assert (null_conditions(cond).visual == 0).all()


def test_a_warm_started_visual_model_starts_as_its_parent_then_sees(kemar, tmp_path):
    from models.generator_net import FiLM
    from models.generator_train import warm_start

    _, _, mono = tones(0.5)
    torch.manual_seed(1)
    net = GeneratorNet(TINY).eval()
    for module in net.modules():  # as if trained: the conditions modulate the maps
        if isinstance(module, FiLM):
            torch.nn.init.normal_(module.proj.weight, std=0.3)
    parent = save_checkpoint(tmp_path / "parent.pt", net, {"name": "p", "size": "tiny"})
    child = GeneratorNet(VISUAL).eval()
    new = warm_start(child, parent)
    assert new and all(k.startswith("sources.visual.") for k in new)
    tracks = [seen(track(30.0, "person"), [3.0, 0.1, 0.0, 1.0, 2.0, 0.5]),
              seen(track(-25.0, "piano", source_id=1), [0.2, 4.0, 1.0, 0.0, 0.3, 1.5])]
    enc_parent, _ = encoded(net, kemar, tracks, mono)
    hyps = render_hypotheses(mono, tracks, kemar, TINY.max_sources, SR, RENDER.block,
                             RENDER.neighbours)
    m, h = stft(torch.from_numpy(mono)[None], TINY), stft(torch.from_numpy(hyps)[None], TINY)
    times = network_frame_times(mono.shape[0], VISUAL)
    x = torch.randn(enc_parent.mixture.shape, dtype=torch.complex64)
    sigma = torch.tensor([0.5])

    def denoised(model, tr):
        cond = slot_conditions(tr, times, FRAME, VISUAL)
        with torch.no_grad():
            return model.denoise(model.encode(m, h, cond), x, sigma)

    with torch.no_grad():
        reference = net.denoise(enc_parent, x, sigma)
    assert torch.allclose(denoised(child, tracks), reference, atol=1e-5)  # zero-initialised
    torch.nn.init.normal_(child.sources.visual.mlp[-1].weight, std=0.5)
    with_visual = denoised(child, tracks)
    bare = [dataclasses.replace(t, embedding=None, embedding_source="") for t in tracks]
    assert not torch.allclose(with_visual, denoised(child, bare), atol=1e-4)
    assert torch.allclose(denoised(child, bare), reference, atol=1e-5)  # null: no effect
    with pytest.raises(ValueError, match="another model config"):
        warm_start(GeneratorNet(dataclasses.replace(TINY, bands=8)), parent)


def test_the_report_says_whether_the_visual_condition_was_used(kemar) -> None:
    gen = DiffusionGenerator(GeneratorNet(VISUAL), kemar, RENDER, GeneratorConfig(steps=1))
    good = seen(track(30.0, "person"), np.ones(6))
    text, degraded = gen.visual_use([good])
    assert text == "used for 1 source(s)" and not degraded
    text, degraded = gen.visual_use([good, seen(track(-9.0, "piano", source_id=1),
                                                np.ones(6), "yolo11n.pt@x/r")])
    assert degraded and "1 of 2" in text and "yolo11n.pt@x/r" in text
    assert not DiffusionGenerator(GeneratorNet(TINY), kemar, RENDER,
                                  GeneratorConfig(steps=1)).visual_use([good])[1]
    assert gen.describe()["visual_source"] == "det@abc/recipe"


def test_training_takes_the_data_s_embedding_recipe() -> None:
    from models.generator_examples import SceneExample
    from models.generator_train import set_visual_statistics, with_visual

    def scene(*tracks):
        z = np.zeros(10, np.float16)
        return SceneExample("s", z, np.zeros((2, 10), np.float16),
                            np.zeros((4, 2, 10), np.float16), list(tracks), FRAME)

    scenes = [scene(seen(track(0.0, "person"), np.full(6, 1.0)), track(5.0, "piano")),
              scene(seen(track(9.0, "violin"), np.full(6, 3.0)))]
    cfg = with_visual(TINY, scenes)
    assert (cfg.visual_dim, cfg.visual_source) == (6, "det@abc/recipe")
    assert with_visual(TINY, [scene(track(0.0, "person"))]) == TINY
    with pytest.raises(ValueError, match="several detector recipes"):
        with_visual(TINY, scenes + [scene(seen(track(1.0, "person"), np.ones(6), "other"))])
    net = GeneratorNet(cfg)
    set_visual_statistics(net, scenes)
    np.testing.assert_allclose(net.sources.visual.mean.numpy(), np.full(6, 2.0))


def test_the_band_cue_weight_adds_the_band_errors_to_the_loss(net, kemar) -> None:
    """train.band_cue_weight w adds w (band ILD + band IPD) to the objective; 0 (the
    default) leaves it as it was."""
    a, b, mono = tones(0.25)
    tr, truth = track(50.0, "person", 0.25), track(-40.0, "person", 0.25)  # a wrong track
    target = spatialize(a + b, direction_filter(kemar, truth.times_s, truth.azimuth_deg,
                                                truth.elevation_deg), kemar.taps, SR)
    hyps = render_hypotheses(mono, [tr], kemar, TINY.max_sources, SR, 512, 3, RENDER)
    cond = slot_conditions([tr], network_frame_times(mono.shape[0], TINY), FRAME, TINY)
    batch = Batch(torch.from_numpy(mono)[None], torch.from_numpy(target.astype(np.float32))[None],
                  torch.from_numpy(hyps)[None], cond)

    def loss(weight: float) -> tuple[float, dict]:
        with torch.no_grad():
            value, parts = diffusion_loss(net, batch, TrainConfig(band_cue_weight=weight),
                                          torch.Generator().manual_seed(0),
                                          torch.tensor([0.5]), drop=False)
        return value.item(), parts

    plain, parts = loss(0.0)
    assert plain == pytest.approx(parts["spec"] + parts["ild"] + 2.0 * parts["ipd"], rel=1e-5)
    assert parts["band_ild"] > 0 and parts["band_ipd"] > 0
    assert loss(3.0)[0] == pytest.approx(plain + 3.0 * (parts["band_ild"] + parts["band_ipd"]),
                                         rel=1e-5)


def test_a_crop_with_a_silent_target_is_not_trained_on_and_the_cue_loss_stays_finite(
        net, kemar) -> None:
    """Synthesis v2 adds microphone noise to the mono alone: where no source sounds the
    mono is noise and the target silent. Such crops are skipped, and the per-bin cue loss
    of a silent target is finite (it was 0 / 0: a NaN that ended a training run)."""
    from models.generator_examples import SceneExample, sample_batch
    from models.generator_train import cue_losses

    _, _, mono = tones(1.0)
    mono[:SR // 2] = 1e-3 * np.random.default_rng(0).standard_normal(SR // 2)  # noise only
    tr = track(30.0, "person", 1.0)
    target = spatialize(mono, direction_filter(kemar, tr.times_s, tr.azimuth_deg,
                                               tr.elevation_deg), kemar.taps, SR)
    target[:, :SR // 2] = 0.0
    hyps = render_hypotheses(mono, [tr], kemar, TINY.max_sources, SR, 512, 3)
    scene = SceneExample("s", mono.astype(np.float16), target.astype(np.float16),
                         hyps.astype(np.float16), [tr], FRAME)
    crop = SR // 4
    batch = sample_batch([scene], 16, crop, TINY, np.random.default_rng(1))
    assert batch.target.pow(2).mean(dim=(1, 2)).sqrt().min() >= 1e-4
    silent = torch.zeros(1, 2, 9, TINY.freq_bins, dtype=torch.complex64)
    pred = torch.randn(1, 2, 9, TINY.freq_bins, dtype=torch.complex64)
    ild, ipd = cue_losses(pred, silent, TINY)
    assert torch.isfinite(ild) and torch.isfinite(ipd)
