"""Oracle weights over the generator's hypotheses, and the selection loss toward them.

The generator's output is sum_s w_s R_s with weights per network cell (mel band x pooled
frame, models/generator_features.py); how good can that be if the weights were perfect?
Given the true binaural target Y (B, 2, T, F) and the hypotheses R (B, S, 2, T, F):

    hard:  per cell, the present slot whose cell cue is nearest the target's: the ILD
           |10 log10(P_L / P_R) - the target's| in bands centred at or above split_hz, the
           IPD |angle(C_s conj C_Y)| below it (C = sum L conj R), the evaluation's split
    soft:  per cell, the convex weights (w >= 0, sum 1, absent slots 0) minimising the
           complex STFT error sum |sum_s w_s R_s - Y|^2 over the cell's bins (mel-pooled,
           as the network's features are), both ears: a quadratic programme over at most
           S slots, solved exactly by trying every support (KKT of each subset, the best
           feasible one)

Cell sums use the network's own pooling (band_matrices' triangular mel filters, time_pool
frames), so the weights are per network cell and expand to bins as the network's do.

selection_loss: the cross-entropy of the network's per-cell softmax toward such weights,
weighted by the target's cell energy: a direct supervised signal for the selection that the
diffusion objective gives only weakly.
"""

from __future__ import annotations

import itertools

import torch

from models.generator_config import ModelConfig
from models.generator_features import band_centres_hz, pool_frames, split_complex, to_bands

SPLIT_HZ = 1500.0
FLOOR_REL = 1e-6  # cell power floor of the cue comparison, re the target's mean cell power
ILD_UNIT_DB = 10.0  # cell_costs' ILD unit (the band-cue loss's)
RIDGE_REL = 1e-6  # Tikhonov term of the per-support solves, re the cell's mean diagonal


def cell_energy(target: torch.Tensor, pool: torch.Tensor, factor: int) -> torch.Tensor:
    """The target's cell energy P_L + P_R (B, Tn, Bd)."""
    re, im = split_complex(target)
    return to_bands(re * re + im * im, pool, factor).sum(dim=1)


def _grouped(x: torch.Tensor, group: int) -> torch.Tensor:
    """(..., Tn, Bd) summed over runs of `group` frames, each sum repeated over its run."""
    if group <= 1:
        return x
    tn = x.shape[-2]
    return (pool_frames(x, group) * group).repeat_interleave(group, dim=-2)[..., :tn, :]


def cell_costs(hyps: torch.Tensor, target: torch.Tensor, pool: torch.Tensor,
               cfg: ModelConfig, split_hz: float = SPLIT_HZ, group: int = 1,
               ipd_weight: float = 1.0) -> torch.Tensor:
    """Each slot's cell cue error against the target (B, S, Tn, Bd): |ILD - ILD_target| in
    units of 10 dB in bands centred at or above split_hz, the wrapped IPD error (rad) below,
    times ipd_weight (the risk loss's price of a low-band phase error against a high-band
    level error; a per-cell argmin does not depend on it). hyps (B, S, 2, T, F), target
    (B, 2, T, F) complex; group > 1: cues from sums over runs of `group` network frames."""
    factor = cfg.time_pool
    hr, hi = split_complex(hyps)
    tr, ti = split_complex(target)
    h_pow = _grouped(to_bands(hr * hr + hi * hi, pool, factor), group)  # (B, S, 2, Tn, Bd)
    t_pow = _grouped(to_bands(tr * tr + ti * ti, pool, factor), group)  # (B, 2, Tn, Bd)
    floor = FLOOR_REL * t_pow.mean(dim=(1, 2, 3)).clamp_min(1e-30)
    f_h, f_t = floor[:, None, None, None], floor[:, None, None]
    ild_h = 10.0 * torch.log10((h_pow[:, :, 0] + f_h) / (h_pow[:, :, 1] + f_h))
    ild_t = 10.0 * torch.log10((t_pow[:, 0] + f_t) / (t_pow[:, 1] + f_t))
    # cross spectra L conj R, pooled: (re, im)
    c_h = tuple(_grouped(to_bands(x, pool, factor), group) for x in (
        hr[:, :, 0] * hr[:, :, 1] + hi[:, :, 0] * hi[:, :, 1],
        hi[:, :, 0] * hr[:, :, 1] - hr[:, :, 0] * hi[:, :, 1]))
    c_t = tuple(_grouped(to_bands(x, pool, factor), group) for x in (
        tr[:, 0] * tr[:, 1] + ti[:, 0] * ti[:, 1], ti[:, 0] * tr[:, 1] - tr[:, 0] * ti[:, 1]))
    # angle(C_h conj C_t)
    dot = c_h[0] * c_t[0][:, None] + c_h[1] * c_t[1][:, None]
    crs = c_h[1] * c_t[0][:, None] - c_h[0] * c_t[1][:, None]
    ipd_err = torch.atan2(crs, dot).abs()
    high = torch.as_tensor(band_centres_hz(cfg) >= split_hz, device=hyps.device)
    return torch.where(high, (ild_h - ild_t[:, None]).abs() / ILD_UNIT_DB, ipd_weight * ipd_err)


def hard_oracle(hyps: torch.Tensor, target: torch.Tensor, present: torch.Tensor,
                pool: torch.Tensor, cfg: ModelConfig, split_hz: float = SPLIT_HZ,
                group: int = 1) -> torch.Tensor:
    """One-hot weights (B, S, Tn, Bd) of the present slot whose cell ILD (high bands) or IPD
    (low bands) is nearest the target's (cell_costs). present (B, S, Tn) bool. group > 1:
    one decision per band over runs of `group` network frames (cues from the run's sums), a
    control for choices that only match by chance."""
    cost = cell_costs(hyps, target, pool, cfg, split_hz, group)
    cost = cost.masked_fill(~present[..., None], float("inf"))
    best = cost.argmin(dim=1)
    return torch.nn.functional.one_hot(best, hyps.shape[1]).movedim(-1, 1).to(
        hyps.real.dtype)


def _gram(hyps: torch.Tensor, target: torch.Tensor, pool: torch.Tensor, factor: int
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell G[s, t] = sum Re(R_s conj R_t) and b[s] = sum Re(R_s conj Y) over bins and
    both ears: (B, Tn, Bd, S, S) and (B, Tn, Bd, S)."""
    hr, hi = split_complex(hyps)
    tr, ti = split_complex(target)
    s = hyps.shape[1]
    rows = []
    for i in range(s):
        rows.append([to_bands((hr[:, i] * hr[:, j] + hi[:, i] * hi[:, j]).sum(dim=1), pool,
                             factor) if j >= i else None for j in range(s)])
    g = torch.stack([torch.stack([rows[min(i, j)][max(i, j)] for j in range(s)], dim=-1)
                     for i in range(s)], dim=-2)
    b = torch.stack([to_bands((hr[:, i] * tr + hi[:, i] * ti).sum(dim=1), pool, factor)
                     for i in range(s)], dim=-1)
    return g, b


def convex_least_squares(g: torch.Tensor, b: torch.Tensor, allowed: torch.Tensor
                         ) -> torch.Tensor:
    """argmin_w w^T g w - 2 b^T w over w >= 0, sum w = 1, w = 0 where not allowed, for
    batches of small problems: g (..., S, S), b (..., S), allowed (..., S) bool (at least
    one per problem) -> w (..., S). Exact: every support is solved (its KKT system) and the
    best feasible one kept."""
    s = g.shape[-1]
    best_w = torch.zeros_like(b)
    best_f = torch.full(b.shape[:-1], float("inf"), dtype=b.dtype, device=b.device)
    scale = torch.diagonal(g, dim1=-2, dim2=-1).mean(dim=-1).clamp_min(1e-30)
    for size in range(1, s + 1):
        for support in itertools.combinations(range(s), size):
            idx = torch.tensor(support, device=g.device)
            ok = allowed[..., idx].all(dim=-1)
            if not bool(ok.any()):
                continue
            k = len(support)
            a = torch.zeros(*g.shape[:-2], k + 1, k + 1, dtype=g.dtype, device=g.device)
            a[..., :k, :k] = g[..., idx[:, None], idx[None, :]] + RIDGE_REL * scale[
                ..., None, None] * torch.eye(k, dtype=g.dtype, device=g.device)
            a[..., :k, k] = 1.0
            a[..., k, :k] = 1.0
            rhs = torch.cat([b[..., idx], torch.ones_like(b[..., :1])], dim=-1)
            sol = torch.linalg.solve(a, rhs.unsqueeze(-1)).squeeze(-1)[..., :k]
            feasible = ok & (sol >= -1e-9).all(dim=-1)
            sol = sol.clamp_min(0.0)
            sol = sol / sol.sum(dim=-1, keepdim=True).clamp_min(1e-12)
            w = torch.zeros_like(b)
            w[..., idx] = sol
            quad = (w.unsqueeze(-2) @ g @ w.unsqueeze(-1)).squeeze(-1).squeeze(-1)
            f = quad - 2 * (w * b).sum(-1)
            better = feasible & (f < best_f)
            best_f = torch.where(better, f, best_f)
            best_w = torch.where(better[..., None], w, best_w)
    return best_w


def soft_oracle(hyps: torch.Tensor, target: torch.Tensor, present: torch.Tensor,
                pool: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Convex weights (B, S, Tn, Bd) minimising each cell's complex STFT error (module
    docstring); shapes as in hard_oracle."""
    g, b = _gram(hyps, target, pool, cfg.time_pool)
    allowed = present.movedim(1, -1)[:, :, None, :].expand(*b.shape)  # (B, Tn, Bd, S)
    w = convex_least_squares(g.double(), b.double(), allowed)
    return w.to(hyps.real.dtype).movedim(-1, 1)


def oracle_weights(kind: str, hyps: torch.Tensor, target: torch.Tensor, present: torch.Tensor,
                   pool: torch.Tensor, cfg: ModelConfig, group: int = 1) -> torch.Tensor:
    """hard_oracle or soft_oracle by name ("hard@G": hard with group G; plain "hard": with
    `group`)."""
    if kind.startswith("hard"):
        group = int(kind.partition("@")[2] or group)
        return hard_oracle(hyps, target, present, pool, cfg, group=group)
    if kind == "soft":
        return soft_oracle(hyps, target, present, pool, cfg)
    raise ValueError(f"oracle {kind!r}: hard or soft")


def _energy_mean(per_cell: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Per-example means of (B, Tn, Bd) values weighted by the target's cell energy (no
    gradient through it), then the mean over the batch (an example without energy: 0)."""
    weight = energy.detach()
    total = weight.sum(dim=(1, 2)).clamp_min(1e-30)
    return ((per_cell * weight).sum(dim=(1, 2)) / total).mean()


def selection_loss(logits: torch.Tensor, present: torch.Tensor, target_w: torch.Tensor,
                   energy: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Energy-weighted cross-entropy -sum_s q_s log p_s of the network's per-cell softmax p
    (logits (B, S, Tn, Bd) / temperature over the present slots, present (B, S, Tn)) toward
    the oracle weights q (B, S, Tn, Bd), weighted by the target's cell energy (B, Tn, Bd):
    a weighted mean per example, then the mean over the batch."""
    masked = (logits / temperature).masked_fill(~present[..., None], float("-inf"))
    logp = torch.log_softmax(masked, dim=1)
    q = target_w * present[..., None]
    ce = -(q * logp.masked_fill(~present[..., None], 0.0)).sum(dim=1)  # (B, Tn, Bd)
    return _energy_mean(ce, energy)


def expand_weights(w: torch.Tensor, expand: torch.Tensor, cfg: ModelConfig, frames: int
                   ) -> torch.Tensor:
    """Cell weights (B, S, Tn, Bd) -> (B, S, T, F) as the network expands its own (v2: the
    linear interpolation `expand`; v3: pass the nearest-band matrix)."""
    w = w.repeat_interleave(cfg.time_pool, dim=2)[:, :, :frames]
    return w @ expand.T


def risk_loss(logits: torch.Tensor, present: torch.Tensor, costs: torch.Tensor,
              energy: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The expected cell cue error sum_s p_s cost_s under the network's per-cell softmax p
    (shapes as in selection_loss; costs from cell_costs), energy-weighted as there. Unlike
    the cross-entropy toward the best slot, it prices a wrong pick: where the network cannot
    tell the sources apart, the safe slot (the mixture) costs less than a wrong source's."""
    masked = (logits / temperature).masked_fill(~present[..., None], float("-inf"))
    p = torch.softmax(masked, dim=1)
    risk = (p * costs.masked_fill(~present[..., None], 0.0)).sum(dim=1)  # (B, Tn, Bd)
    return _energy_mean(risk, energy)


def oracle_selection_loss(net, enc, logits: torch.Tensor, target: torch.Tensor, kind: str,
                          ipd_weight: float = 1.0, group: int = 1) -> torch.Tensor:
    """The training term: selection_loss of the network's logits (B, S, Tn, Bd) for the
    encoded window `enc` (models.generator_net.Encoded: its hypotheses and present slots)
    toward the `kind` oracle's weights for the target (B, 2, T, F) complex ("risk": risk_loss
    of the slots' cell cue errors instead, the low bands' IPD errors times ipd_weight); the
    softmax at the selection's temperature for version 3, 1 for version 2's blend. group > 1
    (hard and risk): cues over runs of `group` network frames per band (cell_costs)."""
    cfg = net.cfg
    temperature = cfg.select_temperature if cfg.version == 3 else 1.0
    with torch.no_grad():
        hyps = torch.complex(enc.hyps.re, enc.hyps.im)
        energy = cell_energy(target, net.pool, cfg.time_pool)
        if kind == "risk":
            costs = cell_costs(hyps, target, net.pool, cfg, group=group, ipd_weight=ipd_weight)
        else:
            q = oracle_weights(kind, hyps, target, enc.present, net.pool, cfg, group)
    if kind == "risk":
        return risk_loss(logits, enc.present, costs, energy, temperature)
    return selection_loss(logits, enc.present, q, energy, temperature)
