"""The selection-training options: the risk loss's IPD weight (train.risk_ipd_weight), the
diffuse-field slot kept out of the low bands (train.diffuse_min_hz, stored in the v3 model
config so inference keeps it out too) and cues compared over runs of network frames
(train.selection_group). Defaults leave everything as before."""

import dataclasses

import numpy as np
import pytest
import torch

from binaural.spatial.tracks import SourceTrack
from models.config import TrainConfig
from models.generator import load_checkpoint, save_checkpoint
from models.generator_config import ModelConfig, preset
from models.generator_features import (
    band_centres_hz,
    band_matrices,
    network_frame_times,
    slot_conditions,
)
from models.generator_net import BLOCKED_LOGIT, GeneratorNet
from models.selection_oracle import cell_costs, hard_oracle, risk_loss

SR = 48000
TINY3 = preset("tiny", 3)
LOWCUT = dataclasses.replace(TINY3, diffuse_min_hz=1500.0)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def spectra(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def random_cells(frames: int, seed: int):
    """The tiny config, its band pooling, random hypotheses (3 slots) and a random target."""
    cfg = preset("tiny")
    pool, _ = band_matrices(cfg)
    return (cfg, pool, spectra((1, 3, 2, frames, cfg.freq_bins), seed),
            spectra((1, 2, frames, cfg.freq_bins), seed + 1))


def test_ipd_weight_scales_the_low_band_costs_only() -> None:
    """ipd_weight multiplies the IPD errors (bands below 1.5 kHz) and leaves the ILD ones;
    the risk under fixed weights moves by the low bands' share accordingly."""
    cfg, pool, hyps, target = random_cells(12, 0)
    plain = cell_costs(hyps, target, pool, cfg)
    heavy = cell_costs(hyps, target, pool, cfg, ipd_weight=3.0)
    high = torch.as_tensor(band_centres_hz(cfg) >= 1500.0)
    assert bool(high.any()) and bool((~high).any())
    torch.testing.assert_close(heavy[..., high], plain[..., high])
    torch.testing.assert_close(heavy[..., ~high], 3.0 * plain[..., ~high])
    present = torch.ones(1, 3, plain.shape[2], dtype=torch.bool)
    energy = torch.ones(1, plain.shape[2], cfg.bands)
    logits = torch.zeros(1, 3, plain.shape[2], cfg.bands)
    low_part = risk_loss(logits, present, plain.masked_fill(high, 0.0), energy)
    assert float(risk_loss(logits, present, heavy, energy)) == pytest.approx(
        float(risk_loss(logits, present, plain, energy) + 2.0 * low_part), rel=1e-5)


def test_grouped_costs_judge_a_slot_over_its_run() -> None:
    """group G: every cell of a run of G frames in a band gets the run's cost (the cue of the
    run's summed powers / cross-spectra); a run of one frame is the per-cell cost; the hard
    oracle then picks one slot per run."""
    cfg, pool, hyps, target = random_cells(40, 2)
    per_cell = cell_costs(hyps, target, pool, cfg)
    grouped = cell_costs(hyps, target, pool, cfg, group=4)
    frames = per_cell.shape[2]
    assert frames >= 8
    torch.testing.assert_close(cell_costs(hyps, target, pool, cfg, group=1), per_cell)
    for start in range(0, frames, 4):
        run = grouped[:, :, start:start + 4]
        torch.testing.assert_close(run, run[:, :, :1].expand_as(run))
    assert not torch.allclose(grouped, per_cell)
    present = torch.ones(1, 3, frames, dtype=torch.bool)
    picks = hard_oracle(hyps, target, present, pool, cfg, group=4).argmax(dim=1)
    for start in range(0, frames, 4):
        assert bool((picks[:, start:start + 4] == picks[:, start:start + 1]).all())


def test_train_config_checks_the_options() -> None:
    assert TrainConfig().risk_ipd_weight == 1.0 and TrainConfig().diffuse_min_hz == 0.0
    with pytest.raises(ValueError, match="risk_ipd_weight"):
        TrainConfig(risk_ipd_weight=0.0)
    with pytest.raises(ValueError, match="risk only"):
        TrainConfig(diffuse_min_hz=1500.0, selection_weight=1.0, selection_oracle="hard")
    TrainConfig(diffuse_min_hz=1500.0, selection_weight=2.0, selection_oracle="risk")
    assert TrainConfig().selection_group == 1
    with pytest.raises(ValueError, match="selection_group"):
        TrainConfig(selection_group=0)
    with pytest.raises(ValueError, match="selection_group"):
        TrainConfig(selection_group=24, selection_weight=1.0, selection_oracle="soft")
    TrainConfig(selection_group=24, selection_weight=2.0, selection_oracle="risk")


def test_model_config_keeps_the_cut_and_reads_old_checkpoints() -> None:
    old = {k: v for k, v in TINY3.to_dict().items() if k != "diffuse_min_hz"}
    assert ModelConfig.from_dict(old) == TINY3
    assert ModelConfig.from_dict(LOWCUT.to_dict()) == LOWCUT
    with pytest.raises(ValueError, match="diffuse"):
        dataclasses.replace(preset("tiny"), diffuse_min_hz=1500.0)


def _encoded(net: GeneratorNet, frames: int = 20):
    cfg = net.cfg
    t = np.linspace(0.0, 1.0, 11)
    tracks = [SourceTrack(i, "person", "person", 0.8, t, np.full(11, az), np.zeros(11),
                          np.full(11, 2.0), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)))
              for i, az in enumerate((40.0, -30.0))]
    mono = spectra((1, frames, cfg.freq_bins), 2)
    hyps = spectra((1, cfg.slots, 2, frames, cfg.freq_bins), 3)
    cond = slot_conditions(tracks, network_frame_times((frames - 1) * cfg.hop, cfg),
                           (640, 360), cfg)
    return net.encode(mono, hyps, cond), hyps[:, -1]


def test_the_diffuse_slot_stays_out_of_the_low_bands() -> None:
    """With diffuse_min_hz the diffuse slot's logit drops by BLOCKED_LOGIT in the bands
    centred below it (every other logit unchanged, same weights), so it is never selected
    there even where it would win every cell; the default model blocks nothing."""
    torch.manual_seed(0)
    free = GeneratorNet(TINY3).eval()
    cut = GeneratorNet(LOWCUT).eval()
    cut.load_state_dict(free.state_dict())
    diffuse = TINY3.max_sources
    enc_free, x = _encoded(free)
    enc_cut, _ = _encoded(cut)
    sigma = torch.tensor([1.0])
    lf, lc = free.logits(enc_free, x, sigma), cut.logits(enc_cut, x, sigma)
    low = torch.as_tensor(band_centres_hz(TINY3) < 1500.0)
    assert bool(low.any()) and bool((~low).any())
    torch.testing.assert_close(lc[..., ~low], lf[..., ~low])
    torch.testing.assert_close(lc[:, diffuse][..., low], lf[:, diffuse][..., low] + BLOCKED_LOGIT)
    others = [s for s in range(TINY3.slots) if s != diffuse]
    torch.testing.assert_close(lc[:, others], lf[:, others])
    # a diffuse logit that would win every cell: still out of the low bands
    lf = lf.detach().clone()
    lf[:, diffuse] = 100.0
    w = cut.weights(enc_cut, lf + cut.blocked[:, None]).detach()
    expand_low = cut.nearest[:, low].sum(dim=1) > 0  # bins whose nearest band is low
    assert torch.all(w[:, diffuse][..., expand_low] == 0)
    assert torch.all(w[:, diffuse][..., ~expand_low] == 1)
    assert torch.all(GeneratorNet(TINY3).blocked == 0)


def test_the_cut_travels_with_the_checkpoint(tmp_path) -> None:
    net = GeneratorNet(LOWCUT)
    again, _ = load_checkpoint(save_checkpoint(tmp_path / "cut.pt", net, {"name": "cut"}))
    assert again.cfg.diffuse_min_hz == 1500.0
    torch.testing.assert_close(again.blocked, net.blocked)


def test_the_train_options_reach_the_loss(kemar) -> None:
    """train.risk_ipd_weight scales only the selection (risk) part of the objective: a
    higher weight raises it, the spectral and cue parts stay; a v3 net with the cut trains
    the same way (finite loss)."""
    from binaural.spatial.config import RenderConfig
    from models.generator_examples import Batch
    from models.generator_train import diffusion_loss
    from models.hypotheses import render_hypotheses

    torch.manual_seed(0)
    n = SR // 4
    rng = np.random.default_rng(0)
    mono = (0.1 * rng.standard_normal(n)).astype(np.float32)
    t = np.linspace(0.0, 0.25, 11)
    tracks = [SourceTrack(i, "person", "person", 0.8, t, np.full(11, az), np.zeros(11),
                          np.full(11, 2.0), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)))
              for i, az in enumerate((-50.0, 40.0))]
    hyps = render_hypotheses(mono, tracks, kemar, TINY3.max_sources, SR, 512, 3,
                             RenderConfig(), version=3)[..., :n]
    target = 0.7 * hyps[0] + 0.3 * hyps[1]  # neither slot alone: every slot costs something
    for cfg in (TINY3, LOWCUT):
        net = GeneratorNet(cfg).eval()
        cond = slot_conditions(tracks, network_frame_times(n, cfg), (640, 360), cfg)
        batch = Batch(torch.from_numpy(mono)[None], torch.from_numpy(target)[None],
                      torch.from_numpy(hyps)[None], cond)
        parts = {}
        for weight in (1.0, 3.0):
            tc = TrainConfig(selection_weight=2.0, selection_oracle="risk",
                             risk_ipd_weight=weight, diffuse_min_hz=cfg.diffuse_min_hz)
            with torch.no_grad():
                value, parts[weight] = diffusion_loss(
                    net, batch, tc, torch.Generator().manual_seed(0), torch.tensor([0.5]),
                    drop=False)
            assert np.isfinite(value.item())
        assert parts[3.0]["selection"] > parts[1.0]["selection"] > 0
        for key in ("spec", "ild", "ipd", "band_ild", "band_ipd"):
            assert parts[3.0][key] == pytest.approx(parts[1.0][key])
        for oracle in ("risk", "hard"):  # train.selection_group reaches the selection part
            grouped = {}
            for group in (1, 4):
                tc = TrainConfig(selection_weight=2.0, selection_oracle=oracle,
                                 selection_group=group,
                                 diffuse_min_hz=cfg.diffuse_min_hz if oracle == "risk" else 0)
                if oracle == "hard" and cfg.diffuse_min_hz > 0:
                    continue
                with torch.no_grad():
                    _, grouped[group] = diffusion_loss(
                        net, batch, tc, torch.Generator().manual_seed(0),
                        torch.tensor([0.5]), drop=False)
            if grouped:
                assert np.isfinite(grouped[4]["selection"])
                assert grouped[4]["selection"] != pytest.approx(grouped[1]["selection"])
                assert grouped[4]["spec"] == pytest.approx(grouped[1]["spec"])


def test_a_net_with_the_cut_warm_starts_from_one_without(tmp_path) -> None:
    """The shipped v3 has no cut: its weights load into a net with one (no new tensors)."""
    from models.generator_train import warm_start

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "v3.pt", GeneratorNet(TINY3), {"name": "v3"})
    net = GeneratorNet(LOWCUT)
    assert warm_start(net, path) == []
    source, _ = load_checkpoint(path)
    for (name, ours), (_, theirs) in zip(net.state_dict().items(),
                                         source.state_dict().items(), strict=True):
        torch.testing.assert_close(ours, theirs, msg=name)
    assert net.cfg.diffuse_min_hz == 1500.0
