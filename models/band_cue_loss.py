"""A differentiable band-cue loss: the evaluation's band ILD and band IPD errors
(binaural/eval/bands.py) on the model's complex STFT, as a training term.

The denoising loss scores per-bin complex values and per-bin cues; the issue's metric scores
cues summed over third-octave bands and ~40 ms cells, weighted by the reference's cell
energy. This term measures what the metric measures, on the denoised estimate and the target:

    cells:  the evaluation's bands (band_edges_hz: centres 1 kHz x 2^(k / bands_per_octave),
            band_low_hz to band_high_hz, a bin in the band whose edges hold it) over groups of
            round(band_frame_ms / hop) consecutive STFT frames of the model's STFT
    sums:   P_L = sum |L|^2, P_R = sum |R|^2, C = sum L conj(R) per cell
    ILD:    |log10((P_L + f) / (P_R + f)) of the estimate - the same of the target| (units
            of 10 dB), over the bands centred at or above band_split_hz
    IPD:    1 - cos(angle(C_est conj C_ref)), over the bands centred below band_split_hz
    weight: the target's cell energy P_L + P_R, cells more than band_dynamic_range_db below
            the example's loudest left out; f is band_floor_rel_db below the target's mean
            cell power (one floor for both signals: a silent estimate stays finite)

Each is a weighted mean per example, then a mean over the batch (the metric is a mean over
clips of per-clip weighted means). The band settings are the evaluation's (EvaluateConfig,
params.yaml `evaluate`), so the loss matches the metric's cells; the STFT is the model's
(at 48 kHz, n_fft 1024 / hop 512: 47 Hz bins, four 10.7 ms hops per cell), so the lowest
third-octave bands hold one bin or none.
"""

from __future__ import annotations

import torch

from binaural.eval.bands import band_edges_hz
from binaural.eval.config import EvaluateConfig
from models.generator_config import ModelConfig


def band_layout(cfg: ModelConfig, ev: EvaluateConfig) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(F, K) bin-to-band membership (0/1) of the model's STFT bins, (K,) bool mask of the
    ILD bands (centred at or above band_split_hz) and the STFT frames per cell."""
    edges = torch.as_tensor(band_edges_hz(ev), dtype=torch.float32)
    freqs = torch.linspace(0, cfg.sample_rate / 2, cfg.freq_bins)
    inside = (freqs[:, None] >= edges[None, :, 0]) & (freqs[:, None] < edges[None, :, 2])
    inside &= freqs[:, None] < cfg.sample_rate / 2
    hop_ms = 1000.0 * cfg.hop / cfg.sample_rate
    per_cell = max(1, round(ev.band_frame_ms / hop_ms))
    return inside.float(), edges[:, 1] >= ev.band_split_hz, per_cell


def _cells(x: torch.Tensor, per_cell: int) -> torch.Tensor:
    """(..., T, F) -> (..., C, F): sums over groups of per_cell frames (the last one
    zero-padded)."""
    t = x.shape[-2]
    pad = (-t) % per_cell
    if pad:
        x = torch.cat([x, x.new_zeros(*x.shape[:-2], pad, x.shape[-1])], dim=-2)
    return x.reshape(*x.shape[:-2], -1, per_cell, x.shape[-1]).sum(dim=-2)


def _band_sums(spec: torch.Tensor, member: torch.Tensor, per_cell: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-ear cell powers (B, 2, C, K) and the cell cross-spectrum (B, C, K), complex."""
    power = _cells(spec.real ** 2 + spec.imag ** 2, per_cell) @ member
    cross = _cells(spec[:, 0] * spec[:, 1].conj(), per_cell)
    cross = torch.complex(cross.real @ member, cross.imag @ member)
    return power, cross


def _weighted(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-example weighted means of (B, C, K) values, averaged over the examples that
    have weight."""
    total = weight.sum(dim=(1, 2))
    per_example = (values * weight).sum(dim=(1, 2)) / total.clamp_min(1e-30)
    has = total > 0
    return per_example[has].mean() if bool(has.any()) else values.sum() * 0.0


def band_cue_losses(pred: torch.Tensor, ref: torch.Tensor, cfg: ModelConfig,
                    ev: EvaluateConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Band ILD error (units of 10 dB) and band IPD 1 - cos error of (B, 2, T, F) complex
    spectra `pred` (the estimate) against `ref` (the target); see the module docstring."""
    ev = ev or EvaluateConfig()
    member, ild_bands, per_cell = band_layout(cfg, ev)
    member, ild_bands = member.to(pred.device), ild_bands.to(pred.device)
    p_pow, p_cross = _band_sums(pred, member.to(pred.real.dtype), per_cell)
    r_pow, r_cross = _band_sums(ref, member.to(ref.real.dtype), per_cell)
    energy = r_pow.sum(dim=1)  # (B, C, K)
    loudest = energy.amax(dim=(1, 2), keepdim=True)
    heard = (energy >= loudest * 10.0 ** (-ev.band_dynamic_range_db / 10.0)) & (loudest > 0)
    weight = torch.where(heard, energy, torch.zeros_like(energy)).detach()
    floor = (r_pow.mean(dim=(1, 2, 3)) * 10.0 ** (ev.band_floor_rel_db / 10.0)).clamp_min(
        1e-20)[:, None, None].detach()
    ild_p = torch.log10((p_pow[:, 0] + floor) / (p_pow[:, 1] + floor))
    ild_r = torch.log10((r_pow[:, 0] + floor) / (r_pow[:, 1] + floor))
    ild = _weighted((ild_p - ild_r).abs(), weight * ild_bands)
    agree = (p_cross * r_cross.conj()).real
    cos = agree / (p_cross.abs() * r_cross.abs() + floor ** 2)
    ipd = _weighted(1.0 - cos, weight * ~ild_bands)
    return ild, ipd
