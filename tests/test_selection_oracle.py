"""Oracle weights over the generator's hypotheses, the selection loss toward them, and the
selection-ceiling script's core (models/selection_oracle.py, scripts/selection_ceiling.py)."""



import numpy as np
import pytest
import torch
from script_support import load_script

from binaural.eval.bands import band_cue_errors
from binaural.eval.config import EvaluateConfig
from binaural.spatial.config import RenderConfig
from binaural.spatial.render import direction_filter, spatialize
from binaural.spatial.tracks import SourceTrack
from models.config import TrainConfig
from models.generator_config import preset
from models.generator_examples import Batch
from models.generator_features import band_matrices, network_frame_times, slot_conditions
from models.generator_net import GeneratorNet
from models.generator_train import diffusion_loss
from models.hypotheses import render_hypotheses
from models.selection_oracle import (
    band_centres_hz,
    cell_costs,
    convex_least_squares,
    hard_oracle,
    risk_loss,
    selection_loss,
    soft_oracle,
)

SR = 48000
TINY = preset("tiny")
POOL, _ = band_matrices(TINY)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def spectra(slots: int, frames: int = 12, seed: int = 0) -> torch.Tensor:
    """Random complex hypotheses (1, S, 2, T, F)."""
    g = torch.Generator().manual_seed(seed)
    shape = (1, slots, 2, frames, TINY.freq_bins)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def all_present(slots: int, frames: int = 12) -> torch.Tensor:
    return torch.ones(1, slots, -(-frames // TINY.time_pool), dtype=torch.bool)


def test_convex_least_squares_is_exact_on_small_problems() -> None:
    """Interior optimum, an optimum on the boundary, and a forbidden slot."""
    g = torch.eye(3, dtype=torch.float64)
    w = convex_least_squares(g, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
                             torch.ones(3, dtype=torch.bool))
    np.testing.assert_allclose(w.numpy(), [0.5, 0.3, 0.2], atol=1e-5)
    w = convex_least_squares(g, torch.tensor([2.0, -1.0, 0.0], dtype=torch.float64),
                             torch.ones(3, dtype=torch.bool))
    np.testing.assert_allclose(w.numpy(), [1.0, 0.0, 0.0], atol=1e-5)
    w = convex_least_squares(g, torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64),
                             torch.tensor([False, True, True]))
    np.testing.assert_allclose(w.numpy(), [0.0, 1.0, 0.0], atol=1e-5)


def test_soft_oracle_recovers_a_convex_blend_of_hypotheses() -> None:
    hyps = spectra(TINY.slots)
    target = 0.3 * hyps[:, 0] + 0.7 * hyps[:, 2]
    w = soft_oracle(hyps, target, all_present(TINY.slots), POOL, TINY)
    assert w.shape == (1, TINY.slots, 6, TINY.bands)
    np.testing.assert_allclose(w[0, :, :, :].mean(dim=(1, 2)).numpy(), [0.3, 0, 0.7, 0],
                               atol=1e-4)
    present = all_present(TINY.slots)
    present[:, 2] = False  # the blend's second slot is gone: the weights avoid it, sum 1
    w = soft_oracle(hyps, target, present, POOL, TINY)
    assert float(w[:, 2].abs().max()) == 0.0
    np.testing.assert_allclose(w.sum(dim=1).numpy(), 1.0, atol=1e-6)
    assert float(w.min()) >= 0.0


def test_hard_oracle_picks_the_slot_with_the_targets_cues() -> None:
    """Three hypotheses of one noise: left-lateral (6 dB, left leads by 0.5 rad), its mirror
    and diotic; the target is the left one with another noise level. The oracle picks the
    left one everywhere; without it, the diotic (nearer in ILD and IPD than the mirror)."""
    g = torch.Generator().manual_seed(1)
    shape = (1, 12, TINY.freq_bins)
    x = torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    gain, turn = 10 ** (6 / 20), torch.exp(torch.tensor(0.5j))
    left = torch.stack([gain * x * turn, x], dim=1)
    hyps = torch.stack([left.flip(1), torch.stack([x, x], dim=1), left], dim=1)
    hyps = torch.cat([hyps, torch.zeros_like(hyps[:, :1])], dim=1)  # an empty slot 4
    present = all_present(4)
    present[:, 3] = False
    w = hard_oracle(hyps, 2.0 * left, present, POOL, TINY)
    assert bool((w[:, 2] == 1).all()) and float(w.sum(dim=1).min()) == 1.0
    # one decision per band over runs of frames: the same choice in every frame of a run
    mirror_late = hyps.clone()
    mirror_late[:, 2, :, 8:] = left.flip(1)[:, :, 8:]  # slot 2 turns mirror after frame 8
    w = hard_oracle(mirror_late, 2.0 * left, present, POOL, TINY, group=6)
    assert bool((w[:, 2] == 1).all())  # its first 8 of 12 frames carry the run's cue
    w = hard_oracle(mirror_late, 2.0 * left, present, POOL, TINY)
    assert bool((w[:, 2, :4] == 1).all()) and not bool((w[:, 2, 4:] == 1).any())
    present[:, 2] = False
    w = hard_oracle(hyps, 2.0 * left, present, POOL, TINY)
    assert bool((w[:, 1] == 1).all())
    assert (band_centres_hz(TINY)[[0, -1]] == pytest.approx([0.0, SR / 2]))


def test_selection_loss_is_lowest_at_the_oracle_and_ignores_silent_cells() -> None:
    q = torch.zeros(1, 3, 4, 5)
    q[:, 1] = 1.0
    present = torch.ones(1, 3, 4, dtype=torch.bool)
    energy = torch.ones(1, 4, 5)
    toward = torch.zeros(1, 3, 4, 5)
    toward[:, 1] = 4.0
    away = torch.zeros(1, 3, 4, 5)
    away[:, 0] = 4.0
    flat = selection_loss(torch.zeros(1, 3, 4, 5), present, q, energy)
    assert flat == pytest.approx(np.log(3), rel=1e-5)
    assert selection_loss(toward, present, q, energy) < flat < selection_loss(away, present, q,
                                                                                energy)
    # a cell without energy does not count, however wrong its logits
    wrong = toward.clone()
    wrong[..., 0, :] = away[..., 0, :]
    quiet = energy.clone()
    quiet[:, 0] = 0.0
    assert selection_loss(wrong, present, q, quiet) == pytest.approx(
        float(selection_loss(toward, present, q, energy)), rel=1e-5)
    # an absent slot takes no probability and keeps the loss finite
    present[:, 0] = False
    assert torch.isfinite(selection_loss(away, present, q, energy))
    logits = torch.zeros(1, 3, 4, 5, requires_grad=True)
    selection_loss(logits, present, q, energy).backward()
    assert float(logits.grad[:, 1].max()) < 0 < float(logits.grad[:, 2].min())


def test_risk_loss_prices_a_wrong_pick_and_prefers_the_safe_slot() -> None:
    """Costs per cell: slot 0 right (0) or badly wrong (2) half the time each, slot 1 (a
    mixture) always 0.5: descending the expected cost from flat logits moves the weight to
    slot 1, where the cross-entropy toward the per-cell best slot would split it."""
    costs = torch.zeros(1, 2, 4, 6)
    costs[:, 0, :2] = 0.0
    costs[:, 0, 2:] = 2.0
    costs[:, 1] = 0.5
    present = torch.ones(1, 2, 4, dtype=torch.bool)
    energy = torch.ones(1, 4, 6)
    # one set of logits for all cells: the network cannot tell the cells apart
    shared = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([shared], lr=1.0)
    for _ in range(100):
        opt.zero_grad()
        risk_loss(shared[None, :, None, None].expand(1, 2, 4, 6), present, costs,
                  energy).backward()
        opt.step()
    assert float(torch.softmax(shared.detach(), 0)[1]) > 0.95
    assert risk_loss(torch.zeros(1, 2, 4, 6), present, costs, energy) == pytest.approx(0.75)
    # an absent slot's cost does not count, however large
    present[:, 0] = False
    assert risk_loss(torch.zeros(1, 2, 4, 6), present, costs * 1e9, energy) == pytest.approx(
        0.5e9)
    present[:, 0], present[:, 1] = True, False
    assert risk_loss(torch.zeros(1, 2, 4, 6), present, costs, energy) == pytest.approx(1.0)


def test_cell_costs_read_the_cues_in_their_units() -> None:
    """A copy of the target costs 0; its mirror (ILD -6 dB, IPD -0.5 rad against +6, +0.5)
    costs 1.2 (units of 10 dB) in the high bands and 1.0 rad in the low ones."""
    g = torch.Generator().manual_seed(2)
    shape = (1, 12, TINY.freq_bins)
    x = torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    left = torch.stack([10 ** (6 / 20) * x * torch.exp(torch.tensor(0.5j)), x], dim=1)
    mirror = torch.stack([x * torch.exp(torch.tensor(-0.5j)), 10 ** (6 / 20) * x], dim=1)
    costs = cell_costs(torch.stack([left, mirror], dim=1), left, POOL, TINY)
    high = torch.as_tensor(band_centres_hz(TINY) >= 1500)
    assert float(costs[:, 0].abs().max()) < 1e-4
    np.testing.assert_allclose(costs[0, 1][:, high].numpy(), 1.2, atol=1e-4)
    np.testing.assert_allclose(costs[0, 1][:, ~high & (torch.arange(TINY.bands) > 0)].numpy(),
                               1.0, atol=1e-4)


def _track(azimuth: float, duration: float) -> SourceTrack:
    t = np.linspace(0.0, duration, 11)
    return SourceTrack(0, "person", "person", 0.8, t, np.full(11, azimuth), np.zeros(11),
                       np.full(11, 2.0), np.tile([100.0, 100.0, 160.0, 260.0], (11, 1)))


def _scene(kemar, duration: float = 1.0):
    """Two noises at -50 and +40 deg taking turns every 0.25 s: their mono, the true
    binaural, the two tracks."""
    rng = np.random.default_rng(0)
    n = int(duration * SR)
    turn = (np.arange(n) // (SR // 4)) % 2 == 0
    a = (0.1 * rng.standard_normal(n) * turn).astype(np.float32)
    b = (0.1 * rng.standard_normal(n) * ~turn).astype(np.float32)
    tracks = [_track(-50.0, duration), _track(40.0, duration)]
    target = sum(spatialize(s, direction_filter(kemar, t.times_s, t.azimuth_deg,
                                                t.elevation_deg), kemar.taps, SR)[:, :n]
                 for s, t in zip((a, b), tracks))
    return a + b, target.astype(np.float32), tracks


def test_the_selection_weight_adds_the_selection_loss(kemar) -> None:
    """train.selection_weight w adds w x the selection term; 0 (the default) leaves the
    objective as it was and computes none."""
    torch.manual_seed(0)
    net = GeneratorNet(TINY).eval()
    mono, target, tracks = _scene(kemar, 0.25)
    hyps = render_hypotheses(mono, tracks, kemar, TINY.max_sources, SR, 512, 3,
                             RenderConfig())[..., : mono.shape[0]]
    cond = slot_conditions(tracks, network_frame_times(mono.shape[0], TINY), (640, 360), TINY)
    batch = Batch(torch.from_numpy(mono)[None], torch.from_numpy(target)[None],
                  torch.from_numpy(hyps)[None], cond)

    def loss(weight: float, oracle: str = "hard") -> tuple[float, dict]:
        with torch.no_grad():
            value, parts = diffusion_loss(
                net, batch, TrainConfig(selection_weight=weight, selection_oracle=oracle),
                torch.Generator().manual_seed(0), torch.tensor([0.5]), drop=False)
        return value.item(), parts

    plain, parts = loss(0.0)
    assert "selection" not in parts
    for oracle in ("hard", "soft", "risk"):
        value, with_parts = loss(2.0, oracle)
        assert with_parts["selection"] > 0
        assert value == pytest.approx(plain + 2.0 * with_parts["selection"], rel=1e-5)
    assert TrainConfig().selection_weight == 0.0
    with pytest.raises(ValueError, match="selection"):
        TrainConfig(selection_oracle="best")


def test_ceiling_oracles_recover_what_the_hypotheses_hold(kemar) -> None:
    """Two sources taking turns, each rendered along its own track: the truth is, cell by
    cell, one of the per-source hypotheses, so both oracles score far better band cues than
    the mixture render alone."""
    module = load_script("selection_ceiling")
    mono, target, tracks = _scene(kemar)
    outs = module.ceiling_outputs(mono, target, tracks, kemar, RenderConfig(), TINY, 0.3)
    ev = EvaluateConfig()
    err = {k: band_cue_errors(v, target, SR, ev) for k, v in outs.items()}
    for kind in ("hard", "soft"):
        assert err[kind]["band_ild_error_db"] < 0.6 * err["mix"]["band_ild_error_db"]
        assert err[kind]["band_ipd_error_rad"] < 0.6 * err["mix"]["band_ipd_error_rad"]
