"""Training of the prior-refinement diffusion generator.

    (the examples, load_scenes and sample_batch: models/generator_examples.py)
    diffusion_loss: EDM-style noising of the target's complex STFT; the denoised estimate
        is scored by a compressed complex-STFT error plus the energy-weighted TF-ILD
        (>= 1.5 kHz) and TF-IPD (100-1500 Hz) errors the evaluation leads with, and
        (train.band_cue_weight) the band ILD / IPD errors (models/band_cue_loss.py) and
        (train.selection_weight) the selection loss toward oracle weights
        (models/selection_oracle.py)
    train: AdamW, warmup + cosine over max(step / steps, elapsed / max_minutes), resumable
        from its last checkpoint; logs through a callback (no MLflow here)

Pure model code: flows/retrain.py drives it and does the tracking.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from binaural.spatial.config import RenderConfig
from models.band_cue_loss import band_cue_losses
from models.config import TrainConfig
from models.generator_config import ModelConfig
from models.generator_examples import Batch, SceneExample, sample_batch
from models.generator_features import (
    drop_conditions,
    stft,
    usable_embedding,
)
from models.generator_net import GeneratorNet
from models.selection_oracle import oracle_selection_loss

log = logging.getLogger(__name__)

ILD_MIN_HZ = 1500.0
IPD_BAND_HZ = (100.0, 1500.0)
LOSS_FLOOR_REL = 1e-4  # per-bin power floor of the cue losses, re the target's mean power
LOSS_FLOOR_MIN = 1e-20  # ... and at least this
# Validation noise levels; at the highest the estimate carries almost nothing of the target,
# so its loss is that of the sampler's first step, made from the conditions alone.
VAL_SIGMAS = (0.3, 1.5, 5.0)
LogFn = Callable[[dict, int], None]


def _band_mask(cfg: ModelConfig, low_hz: float, high_hz: float, device) -> torch.Tensor:
    freqs = torch.linspace(0, cfg.sample_rate / 2, cfg.freq_bins, device=device)
    return (freqs >= low_hz) & (freqs <= high_hz)


def cue_losses(pred: torch.Tensor, ref: torch.Tensor, cfg: ModelConfig
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy-weighted TF-ILD error (in units of 10 dB, bins >= 1.5 kHz) and 1 - cos of the
    TF-IPD error (100-1500 Hz) of (B, 2, T, F) spectra, as the evaluation weighs them."""
    p_pow = pred.real ** 2 + pred.imag ** 2
    r_pow = ref.real ** 2 + ref.imag ** 2
    # clamped: a silent target (a crop of microphone noise alone) would give 0 / 0
    floor = (LOSS_FLOOR_REL * r_pow.mean(dim=(1, 2, 3), keepdim=True)).clamp_min(
        LOSS_FLOOR_MIN)
    weight = r_pow.sum(dim=1)  # (B, T, F)
    hi = _band_mask(cfg, ILD_MIN_HZ, math.inf, pred.device)
    ild_p = torch.log10((p_pow[:, 0] + floor[:, 0]) / (p_pow[:, 1] + floor[:, 0]))
    ild_r = torch.log10((r_pow[:, 0] + floor[:, 0]) / (r_pow[:, 1] + floor[:, 0]))
    w_hi = weight[..., hi]
    ild = ((ild_p - ild_r).abs()[..., hi] * w_hi).sum() / w_hi.sum().clamp_min(1e-12)
    lo = _band_mask(cfg, *IPD_BAND_HZ, pred.device)
    c_p = (pred[:, 0] * pred[:, 1].conj())[..., lo]
    c_r = (ref[:, 0] * ref[:, 1].conj())[..., lo]
    cos = (c_p * c_r.conj()).real / (c_p.abs() * c_r.abs() + floor[:, 0] ** 2)
    w_lo = weight[..., lo]
    ipd = ((1 - cos) * w_lo).sum() / w_lo.sum().clamp_min(1e-12)
    return ild, ipd


def compressed(z: torch.Tensor, power: float) -> torch.Tensor:
    """z |z|^(power - 1): magnitude compressed, phase kept."""
    return z * (z.real ** 2 + z.imag ** 2 + 1e-10) ** ((power - 1) / 2)


def diffusion_loss(net: GeneratorNet, batch: Batch, tc: TrainConfig,
                   generator: torch.Generator | None = None, sigma: torch.Tensor | None = None,
                   drop: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """The training objective on one batch (see the module docstring); returns the loss
    and its parts."""
    cfg = net.cfg
    device = batch.mono.device
    mono = stft(batch.mono, cfg)
    scale = torch.sqrt((mono.abs() ** 2).mean(dim=(-1, -2))) / cfg.sigma_data  # (B,)
    mono = mono / scale[:, None, None]
    x0 = stft(batch.target, cfg) / scale[:, None, None, None]
    hyps = stft(batch.hyps, cfg) / scale[:, None, None, None, None]
    b = mono.shape[0]
    if sigma is None:
        sigma = torch.exp(tc.sigma_mean + tc.sigma_std
                          * torch.randn(b, generator=generator)).to(device)
    noise = torch.randn(x0.shape, dtype=x0.dtype, generator=generator).to(device)
    x = x0 + sigma[:, None, None, None] * noise
    cond = (drop_conditions(batch.cond, tc.p_drop_visual, tc.p_drop_all, generator)
            if drop else batch.cond)
    enc = net.encode(mono, hyps, cond, batch.shares)
    logits = net.logits(enc, x, sigma)
    denoised = enc.hyps.mix(net.weights(enc, logits))  # = net.denoise(enc, x, sigma)
    diff = compressed(denoised, tc.compress) - compressed(x0, tc.compress)
    spec = (diff.real ** 2 + diff.imag ** 2).mean()
    ild, ipd = cue_losses(denoised, x0, cfg)
    band_ild, band_ipd = band_cue_losses(denoised, x0, cfg)
    loss = (spec + tc.loss_ild * ild + tc.loss_ipd * ipd
            + tc.band_cue_weight * (band_ild + band_ipd))
    parts = {"spec": spec.item(), "ild": ild.item(), "ipd": ipd.item(),
             "band_ild": band_ild.item(), "band_ipd": band_ipd.item()}
    if tc.selection_weight > 0:
        selection = oracle_selection_loss(net, enc, logits, x0, tc.selection_oracle,
                                          tc.risk_ipd_weight, tc.selection_group)
        loss = loss + tc.selection_weight * selection
        parts["selection"] = selection.item()
    return loss, {"loss": loss.item(), **parts}


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0
    history: list[dict] = field(default_factory=list)  # logged rows (step, metrics)


def with_visual(cfg: ModelConfig, scenes: Sequence[SceneExample]) -> ModelConfig:
    """cfg taking the visual embeddings the scenes' tracks carry (visual_dim and the
    detector recipe that made them); cfg unchanged where none has one.

    Raises:
        ValueError: the scenes' embeddings come from more than one detector recipe.
    """
    specs = {(tr.embedding_source, len(tr.embedding)) for sc in scenes for tr in sc.tracks
             if tr.embedding is not None}
    if not specs:
        log.warning("no visual embeddings in the training data (scripts/embed_truth.py); "
                    "the model takes none")
        return cfg
    if len(specs) > 1:
        raise ValueError(f"training embeddings from several detector recipes: {sorted(specs)}")
    source, dim = specs.pop()
    return dataclasses.replace(cfg, visual_dim=dim, visual_source=source)


def set_visual_statistics(net: GeneratorNet, scenes: Sequence[SceneExample]) -> None:
    """Standardise the visual encoder's input by the training embeddings."""
    if net.sources.visual is None:
        return
    vectors = [usable_embedding(tr, net.cfg) for sc in scenes for tr in sc.tracks]
    vectors = [v for v in vectors if v is not None]
    if vectors:
        net.sources.visual.set_statistics(torch.from_numpy(np.stack(vectors)))


def warm_start(net: GeneratorNet, path: str | Path) -> list[str]:
    """Load a shipped checkpoint's weights into `net` (same shapes; settings that change no
    shape, such as the selection temperature or the diffuse cut, may differ); returns the
    parameters it lacked (left as initialised, e.g. a new visual encoder). From another
    model version (a v2 checkpoint into v3) only the tensors whose shapes fit are taken.

    Raises:
        ValueError: the checkpoint has another shape config, or weights `net` lacks.
    """
    from models.generator import load_checkpoint

    source, _ = load_checkpoint(path)
    theirs = source.cfg
    ours = dataclasses.replace(net.cfg, visual_dim=theirs.visual_dim,
                               visual_source=theirs.visual_source, version=theirs.version,
                               select_temperature=theirs.select_temperature,
                               diffuse_min_hz=theirs.diffuse_min_hz,
                               share_prior=theirs.share_prior)
    if theirs != ours:
        raise ValueError(f"{path}: a checkpoint of another model config; cannot warm-start")
    if theirs.version != net.cfg.version:
        own, given = net.state_dict(), source.state_dict()
        fits = {k: v for k, v in given.items() if k in own and own[k].shape == v.shape}
        # The condition MLP's first layer reads [geometry, position...]: the geometry
        # columns both versions have and the position columns are carried over, the new
        # ones start at zero, so the conditions start as the parent's.
        key, g2, g3 = "sources.mlp.0.weight", theirs.geometry_dims, net.cfg.geometry_dims
        if key in given and own[key].shape[1] - given[key].shape[1] == g3 - g2:
            w = torch.zeros_like(own[key])
            g = min(g2, g3)
            w[:, :g] = given[key][:, :g]
            w[:, g3:] = given[key][:, g2:]
            fits[key] = w
        net.load_state_dict(fits, strict=False)
        return sorted(set(own) - set(fits))
    missing, unexpected = net.load_state_dict(source.state_dict(), strict=False)
    # A parent without the share prior: its parts start as initialised (no effect but the
    # bias's scale x log share).
    new_parts = [k for k in missing if k.startswith(("share_in.", "share_scale"))
                 and net.cfg.share_prior and not theirs.share_prior]
    if unexpected or (theirs.visual_dim and set(missing) - set(new_parts)):
        raise ValueError(f"{path}: weights do not fit (unexpected {unexpected}, "
                         f"missing {missing})")
    return list(missing)


def lr_factor(step: int, progress: float, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then cosine decay over progress in [0, 1]."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * 0.95 + 0.05


def validation_loss(net: GeneratorNet, batches: Sequence[Batch], tc: TrainConfig,
                    device: str) -> dict[str, float]:
    """Mean loss parts over fixed batches at fixed noise levels, no dropout."""
    net.eval()
    out: dict[str, float] = {}
    with torch.no_grad():
        for sigma in VAL_SIGMAS:
            rows = []
            for batch in batches:
                b = batch.to(device)
                s = torch.full((b.mono.shape[0],), sigma, device=device)
                rows.append(diffusion_loss(net, b, tc, torch.Generator().manual_seed(0),
                                           sigma=s, drop=False)[1])
            for k in rows[0]:
                out[f"val_{k}_sigma{sigma:g}"] = float(np.mean([r[k] for r in rows]))
    for k in rows[0]:
        out[f"val_{k}"] = float(np.mean([out[f"val_{k}_sigma{s:g}"] for s in VAL_SIGMAS]))
    net.train()
    return out


def save_training_state(path: Path, net: GeneratorNet, opt: torch.optim.Optimizer,
                        state: TrainState, rng: np.random.Generator) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"config": net.cfg.to_dict(), "model": net.state_dict(),
                "optimizer": opt.state_dict(), "step": state.step,
                "elapsed_s": state.elapsed_s, "history": state.history,
                "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)


def train(net: GeneratorNet, scenes: Sequence[SceneExample], val_scenes: Sequence[SceneExample],
          tc: TrainConfig, device: str, work_dir: str | Path, log_fn: LogFn | None = None,
          resume: bool = True, render: RenderConfig | None = None) -> TrainState:
    """Train `net` in place; checkpoints to work_dir/last.pt every tc.checkpoint_every steps
    and resumes from it when present (and `resume`). The share prior (cfg.share_prior)
    needs the renderer's settings (`render`)."""
    if not scenes:
        raise ValueError("no training scenes")
    cfg = net.cfg
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    last = work_dir / "last.pt"
    net.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng(tc.seed)
    torch.manual_seed(tc.seed)
    state = TrainState()
    if resume and last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=True)
        if ModelConfig.from_dict(saved["config"]) != cfg:
            raise ValueError(f"{last}: a checkpoint of another model config; remove it")
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state = TrainState(saved["step"], saved["elapsed_s"], list(saved["history"]))
        rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        log.info("resumed from %s at step %d (%.0f s trained)", last, state.step,
                 state.elapsed_s)
    crop = int(round(tc.crop_s * cfg.sample_rate))
    val_rng = np.random.default_rng(tc.seed + 1)
    val_batches = ([sample_batch(val_scenes, tc.batch, crop, cfg, val_rng, render)
                    for _ in range(max(1, tc.val_crops // tc.batch))] if val_scenes else [])
    cast = (torch.autocast("cuda", dtype=torch.bfloat16) if str(device).startswith("cuda")
            else nullcontext())
    budget_s = tc.max_minutes * 60.0
    parts_sum: dict[str, float] = {}
    count = 0
    t_start = time.perf_counter() - state.elapsed_s
    while state.step < tc.steps and state.elapsed_s < budget_s:
        progress = max(state.step / tc.steps, state.elapsed_s / budget_s)
        for group in opt.param_groups:
            group["lr"] = tc.lr * lr_factor(state.step, progress, tc.warmup_steps)
        batch = sample_batch(scenes, tc.batch, crop, cfg, rng, render).to(device)
        with cast:
            loss, parts = diffusion_loss(net, batch, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip))
        opt.step()
        state.step += 1
        state.elapsed_s = time.perf_counter() - t_start
        for k, v in parts.items():
            parts_sum[k] = parts_sum.get(k, 0.0) + v
        count += 1
        if state.step % tc.log_every == 0 or state.step == tc.steps:
            row = {f"train_{k}": v / count for k, v in parts_sum.items()}
            row.update(lr=opt.param_groups[0]["lr"], grad_norm=grad_norm,
                       elapsed_s=state.elapsed_s)
            if val_batches and (state.step % tc.val_every == 0):
                row.update(validation_loss(net, val_batches, tc, device))
            state.history.append({"step": state.step, **row})
            parts_sum, count = {}, 0
            log.info("step %d: %s", state.step,
                     ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
            if log_fn:
                log_fn(row, state.step)
        if state.step % tc.checkpoint_every == 0:
            save_training_state(last, net, opt, state, rng)
    if val_batches:
        row = validation_loss(net, val_batches, tc, device)
        state.history.append({"step": state.step, **row})
        if log_fn:
            log_fn(row, state.step)
    save_training_state(last, net, opt, state, rng)
    net.eval()
    return state
