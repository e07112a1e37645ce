"""The band-cue training loss (models/band_cue_loss.py) on hand-made signals: it reads what
the evaluation's band ILD / IPD errors read (binaural/eval/bands.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from binaural.eval.bands import band_ild_error_db, band_ipd_error_rad
from binaural.eval.config import EvaluateConfig
from models.band_cue_loss import band_cue_losses, band_layout
from models.config import TrainConfig
from models.generator_config import preset
from models.generator_features import stft

SR = 48000
CFG = preset("small")
EV = EvaluateConfig()


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 0.1, SR).astype(np.float32)


def spec(binaural: np.ndarray) -> torch.Tensor:
    return stft(torch.from_numpy(np.ascontiguousarray(binaural, np.float32))[None], CFG)


def test_cells_are_the_evaluation_s_third_octaves_over_40_ms() -> None:
    member, ild_bands, per_cell = band_layout(CFG, EV)
    assert member.shape == (CFG.freq_bins, 23)  # third octaves 100 Hz-16 kHz
    assert per_cell == 4  # 40 ms of 512-sample (10.7 ms) hops
    assert int(ild_bands.sum()) == 11  # centred at 1.6 kHz and above
    assert member.sum(dim=1).max() <= 1.0  # a bin in one band at most


def test_a_pure_level_difference_gives_its_ild_error(noise) -> None:
    """The target 6 dB louder on the left, the estimate level: band ILD error 6 dB
    (0.6 in the loss's 10 dB units), no IPD error; the metric reads the same 6 dB."""
    gain = 10.0 ** (6.0 / 20.0)
    ref, pred = np.stack([gain * noise, noise]), np.stack([noise, noise])
    ild, ipd = band_cue_losses(spec(pred), spec(ref), CFG)
    assert ild.item() == pytest.approx(0.6, abs=0.005)
    assert ipd.item() == pytest.approx(0.0, abs=1e-5)
    assert band_ild_error_db(pred, ref, SR, EV) == pytest.approx(6.0, abs=0.05)


def test_identical_signals_give_no_loss(noise) -> None:
    ref = np.stack([noise, 0.5 * np.roll(noise, 7)])
    ild, ipd = band_cue_losses(spec(ref), spec(ref), CFG)
    assert ild.item() == pytest.approx(0.0, abs=1e-5)
    assert ipd.item() == pytest.approx(0.0, abs=1e-5)


def test_an_inverted_ear_gives_the_largest_ipd_error(noise) -> None:
    """Opposite phase in one ear: IPD off by pi below 1.5 kHz (1 - cos = 2), as the metric
    reads it, and no ILD error."""
    ref, pred = np.stack([noise, noise]), np.stack([noise, -noise])
    ild, ipd = band_cue_losses(spec(pred), spec(ref), CFG)
    assert ipd.item() == pytest.approx(2.0, abs=1e-3)
    assert ild.item() == pytest.approx(0.0, abs=1e-5)
    assert band_ipd_error_rad(pred, ref, SR, EV) == pytest.approx(np.pi, abs=1e-3)


def test_its_gradient_finds_the_target_s_level_difference(noise) -> None:
    """Descending the loss on a left-ear gain recovers the target's 6 dB."""
    ref = spec(np.stack([10.0 ** (6.0 / 20.0) * noise, noise]))
    base = spec(np.stack([noise, noise]))
    log_gain = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([log_gain], lr=0.05)
    for _ in range(80):
        scale = torch.stack([torch.exp(log_gain), torch.ones(())]).to(base.dtype)
        ild, ipd = band_cue_losses(base * scale[None, :, None, None], ref, CFG)
        opt.zero_grad()
        (ild + ipd).backward()
        opt.step()
    assert 20.0 * log_gain.item() / np.log(10.0) == pytest.approx(6.0, abs=0.3)


def test_the_weight_is_off_by_default_and_not_negative() -> None:
    assert TrainConfig().band_cue_weight == 0.0
    with pytest.raises(ValueError, match="band_cue_weight"):
        TrainConfig(band_cue_weight=-1.0)
