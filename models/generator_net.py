"""The prior-refinement diffusion generator's network.

The DSP renderer gives S binaural hypotheses of the mono (models/hypotheses.py: v2 each
source's track alone, then the mixture render; v3 per source its direct part through the
HRTF with the diffuse remainder, a diffuse field, the gated mixture); the network predicts,
per mel band and frame, weights over them, and the denoised estimate is their weighted sum
in the complex STFT (both ears), so every output is made of the renderer's own interaural
cues. v2 blends (convex weights, linear between bands); v3 selects one hypothesis per band
and frame (the argmax, with the tempered softmax's gradient: straight-through; bins take
their nearest band), so a cell's ITD and ILD come from one direction:

    encode (once per window; sigma-independent): the mono's log band power -> 2-D U-Net
        trunk; per slot, the trunk's maps + the hypothesis's band cues, FiLM-modulated by
        the slot's condition (class embedding + the detector's visual embedding of the
        source's crops + box geometry + sinusoidal position)
    denoise (per sampler step): per slot, those maps + how well the slot's hypothesis
        explains the current estimate, FiLM-modulated by the noise level -> one logit map;
        softmax over the present slots -> weights -> sum_s w_s R_s

Shapes as in models/generator_features.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.generator_config import ModelConfig
from models.generator_features import (
    Hypotheses,
    SlotConditions,
    agreement_features,
    band_centres_hz,
    band_matrices,
    hypothesis_cues,
    mono_features,
)

HYP_CUES = 4  # hypothesis_cues channels
AGREEMENT = 4  # agreement_features channels
POSITION_DIMS = 3
GEOMETRY_DIMS = 4
SIGMA_FREQS = 8
MIXTURE_BIAS_INIT = 2.0
SHARE_SCALE_INIT = 2.0  # share prior: the logit bias starts at this x log(share)...
SHARE_FLOOR = 1e-4  # ...of shares floored here (log: -9.2)
LOGIT_LIMIT = 8.0  # logits are soft-clamped to +-this: the softmax never saturates
# Added to a slot's logit where it may not be selected: far below any other (finite, so a
# cross-entropy's 0 x log p stays 0), its softmax weight underflows to exactly 0.
BLOCKED_LOGIT = -1e4


class SinusoidalEmbedding(nn.Module):
    """x (...,) -> (..., 2 * freqs): sin and cos of x at octave-spaced frequencies."""

    def __init__(self, freqs: int):
        super().__init__()
        self.register_buffer("scales", 2.0 ** torch.arange(freqs, dtype=torch.float32),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x.unsqueeze(-1) * self.scales
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class VisualEncoder(nn.Module):
    """A detector's visual embedding (B, K, Dv) -> (B, K, D), zero where it is null.

    Inputs are standardised by per-dimension statistics of the training data (buffers set
    by `set_statistics`, saved with the weights); the last layer starts at zero, so a model
    warm-started from one without visual input starts as that model.
    """

    def __init__(self, visual_dim: int, cond_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(visual_dim))
        self.register_buffer("std", torch.ones(visual_dim))
        self.mlp = nn.Sequential(nn.Linear(visual_dim, cond_dim), nn.GELU(),
                                 nn.Linear(cond_dim, cond_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def set_statistics(self, embeddings: torch.Tensor) -> None:
        """Standardise by these (n, Dv) training embeddings."""
        self.mean.copy_(embeddings.mean(dim=0))
        self.std.copy_(embeddings.std(dim=0).clamp_min(1e-3))

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        present = (visual != 0).any(dim=-1, keepdim=True)
        return self.mlp((visual - self.mean) / self.std) * present


class SourceEncoder(nn.Module):
    """Slot conditions -> condition vectors (B, S, Tn, D); the mixture slot (last) has a
    learned vector of its own."""

    def __init__(self, n_classes: int, cond_dim: int, pos_freqs: int, visual_dim: int = 0,
                 geometry_dims: int = GEOMETRY_DIMS, diffuse: bool = False):
        super().__init__()
        self.class_embedding = nn.Embedding(n_classes + 1, cond_dim)  # 0: null / unknown
        self.visual = VisualEncoder(visual_dim, cond_dim) if visual_dim else None
        self.position = SinusoidalEmbedding(pos_freqs)
        features = geometry_dims + POSITION_DIMS * (2 * pos_freqs + 1)
        self.mlp = nn.Sequential(nn.Linear(features, cond_dim), nn.GELU(),
                                 nn.Linear(cond_dim, cond_dim))
        self.out = nn.Sequential(nn.GELU(), nn.Linear(cond_dim, cond_dim))
        self.mixture = nn.Parameter(torch.zeros(cond_dim))
        # v3: the diffuse-field slot's vector (before the mixture's).
        self.diffuse = nn.Parameter(torch.zeros(cond_dim)) if diffuse else None

    def forward(self, cond: SlotConditions) -> torch.Tensor:
        pos = cond.position
        feats = torch.cat([cond.geometry, pos, self.position(pos).flatten(-2)], dim=-1)
        slot = self.class_embedding(cond.class_index)
        if self.visual is not None:
            slot = slot + self.visual(cond.visual)
        h = self.out(slot[:, :, None, :] + self.mlp(feats))  # (B, K, Tn, D)
        extra = [self.mixture] if self.diffuse is None else [self.diffuse, self.mixture]
        return torch.cat([h] + [v.expand(h.shape[0], 1, h.shape[2], -1) for v in extra], dim=1)


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class ResBlock(nn.Module):
    """GroupNorm-GELU-conv twice, with a residual path; (N, c_in, H, W) -> (N, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.GroupNorm(_groups(c_in), c_in), nn.GELU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.GroupNorm(_groups(c_out), c_out), nn.GELU(), nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


class UNet(nn.Module):
    """A 2-D U-Net over (time, band): (N, c_in, Tn, Bd) -> (N, channels[0], Tn, Bd)."""

    def __init__(self, c_in: int, channels: tuple[int, ...]):
        super().__init__()
        self.inp = nn.Conv2d(c_in, channels[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(c, c) for c in channels[:-1])
        # Every path between blocks is normalised: un-normalised resampling convs let the
        # residual stream grow level by level (measured: x10 per conv, logits ~1e5).
        self.pool = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.GroupNorm(_groups(b), b))
            for a, b in zip(channels[:-1], channels[1:]))
        self.mid = ResBlock(channels[-1], channels[-1])
        self.unpool = nn.ModuleList(
            nn.Sequential(nn.Conv2d(b, a, 3, padding=1), nn.GroupNorm(_groups(a), a))
            for a, b in zip(channels[:-1], channels[1:]))
        self.up = nn.ModuleList(ResBlock(2 * c, c) for c in channels[:-1])
        self.out = nn.GroupNorm(_groups(channels[0]), channels[0])
        self.multiple = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_in, w_in = x.shape[-2:]
        pad_h, pad_w = (-h_in) % self.multiple, (-w_in) % self.multiple
        h = self.inp(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"))
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h)
            skips.append(h)
            h = pool(h)
        h = self.mid(h)
        for block, unpool, skip in zip(reversed(self.up), reversed(self.unpool),
                                       reversed(skips)):
            h = unpool(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
            h = block(torch.cat([h, skip], dim=1))
        return self.out(h)[..., :h_in, :w_in]


class FiLM(nn.Module):
    """Per-channel scale and shift from a vector: x (N, C, H, W), e (N, H, D) per row H
    (frames) or (N, D) for the whole map."""

    def __init__(self, dim: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.proj(e).chunk(2, dim=-1)
        if e.dim() == 3:  # per frame: (N, H, C) -> (N, C, H, 1)
            scale, shift = scale.permute(0, 2, 1)[..., None], shift.permute(0, 2, 1)[..., None]
        else:
            scale, shift = scale[..., None, None], shift[..., None, None]
        return x * (1 + scale) + shift


@dataclass
class Encoded:
    """The sigma-independent part of one window, computed once per sampling run.

    Attributes:
        slot_maps: (B, S, C, Tn, Bd) per-slot feature maps.
        present: (B, S, Tn) bool; the slots after the sources (mixture; v3 diffuse and
            mixture) are always present.
        hyps: The normalised hypotheses (S slots, mixture render last).
        prior: With cfg.share_prior, the learnt scale x log(share) of the source slots
            (0 for the others), added to the logits.
    """

    slot_maps: torch.Tensor
    present: torch.Tensor
    hyps: Hypotheses
    prior: torch.Tensor | None = None  # (B, S, Tn, Bd) logit bias: the share prior

    @property
    def mixture(self) -> torch.Tensor:
        """The mixture render (B, 2, T, F): the null condition's output."""
        return self.hyps.slot(-1)


def blocked_cells(cfg: ModelConfig) -> torch.Tensor:
    """(S, Bd) logit offsets: BLOCKED_LOGIT for the v3 diffuse-field slot in the bands
    centred below cfg.diffuse_min_hz, 0 elsewhere."""
    out = torch.zeros(cfg.slots, cfg.bands)
    if cfg.version == 3 and cfg.diffuse_min_hz > 0:
        low = torch.as_tensor(band_centres_hz(cfg) < cfg.diffuse_min_hz)
        out[cfg.max_sources, low] = BLOCKED_LOGIT
    return out


class GeneratorNet(nn.Module):
    """Predicts convex weights over the hypotheses (see the module docstring)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        pool, expand = band_matrices(cfg)
        self.register_buffer("pool", pool, persistent=False)
        self.register_buffer("expand", expand, persistent=False)
        c0, cs, d = cfg.channels[0], cfg.slot_channels, cfg.cond_dim
        self.sources = SourceEncoder(len(cfg.classes), d, cfg.pos_freqs, cfg.visual_dim,
                                     cfg.geometry_dims, diffuse=cfg.version == 3)
        if cfg.version == 3:  # each bin takes its nearest band's selection
            nearest = torch.zeros_like(expand)
            nearest[torch.arange(expand.shape[0]), expand.argmax(dim=1)] = 1.0
            self.register_buffer("nearest", nearest, persistent=False)
        self.trunk = UNet(2, cfg.channels)  # log band power + the band's position
        self.slot_in = nn.Conv2d(c0 + HYP_CUES, cs, 1)
        if cfg.share_prior:  # both start at zero effect beside the bias's scale
            self.share_in = nn.Conv2d(1, cs, 1)
            nn.init.zeros_(self.share_in.weight)
            nn.init.zeros_(self.share_in.bias)
            self.share_scale = nn.Parameter(torch.tensor(SHARE_SCALE_INIT))
        self.slot_film = FiLM(d, cs)
        self.slot_out = nn.Conv2d(cs, cs, 1)
        self.sigma = nn.Sequential(SinusoidalEmbedding(SIGMA_FREQS),
                                   nn.Linear(2 * SIGMA_FREQS, d), nn.GELU(), nn.Linear(d, d))
        self.head_in = nn.Conv2d(cs + AGREEMENT, cs, 1)
        self.head_film = FiLM(d, cs)
        self.head_out = nn.Conv2d(cs, 1, 1)
        # Start at the renderer: the mixture slot's logit is raised until learnt otherwise.
        self.mixture_bias = nn.Parameter(torch.tensor(MIXTURE_BIAS_INIT))
        self.register_buffer("blocked", blocked_cells(cfg), persistent=False)

    def log_shares(self, shares: torch.Tensor | None, b: int, tn: int, device
                   ) -> torch.Tensor:
        """(B, S, Tn, Bd) log of the source slots' floored shares (B, K, Tn, Bd); 0 for
        the other slots, and everywhere without shares (no separation: no preference)."""
        out = torch.zeros(b, self.cfg.slots, tn, self.cfg.bands, device=device)
        if shares is not None:
            if shares.shape[-2] != tn:
                raise ValueError(f"shares have {shares.shape[-2]} frames, window {tn}")
            out[:, :self.cfg.max_sources] = torch.log(shares.float().clamp_min(SHARE_FLOOR))
        return out

    def encode(self, mono: torch.Tensor, hyp_spec: torch.Tensor, cond: SlotConditions,
               shares: torch.Tensor | None = None) -> Encoded:
        """mono (B, T, F), hyp_spec (B, S, 2, T, F) complex, normalised; shares (B, K, Tn,
        Bd): the source slots' separation shares (cfg.share_prior; else ignored)."""
        b, s = hyp_spec.shape[:2]
        hyps = Hypotheses.from_spec(hyp_spec, self.pool, self.cfg.time_pool)
        feats = mono_features(mono, self.pool, self.cfg.time_pool)  # (B, 1, Tn, Bd)
        band = torch.linspace(-1, 1, feats.shape[-1], device=feats.device)
        feats = torch.cat([feats, band.expand_as(feats)], dim=1)
        trunk = self.trunk(feats)  # (B, C, Tn, Bd)
        cues = hypothesis_cues(hyps, mono, self.pool, self.cfg.time_pool)  # (B, S, 4, Tn, Bd)
        tn = trunk.shape[-2]
        if cond.present.shape[-1] != tn:
            raise ValueError(f"conditions have {cond.present.shape[-1]} frames, window {tn}")
        x = torch.cat([trunk.unsqueeze(1).expand(-1, s, -1, -1, -1), cues], dim=2)
        x = self.slot_in(x.flatten(0, 1))
        prior = None
        if self.cfg.share_prior:
            log_w = self.log_shares(shares, b, tn, x.device)
            x = x + self.share_in(log_w.flatten(0, 1)[:, None])
            prior = self.share_scale * log_w
        e = self.sources(cond).flatten(0, 1)  # (B S, Tn, D)
        x = self.slot_out(F.gelu(self.slot_film(x, e)))
        extra = torch.ones(b, self.cfg.extra_slots, tn, dtype=torch.bool,
                           device=cond.present.device)
        present = torch.cat([cond.present, extra], dim=1)
        return Encoded(x.unflatten(0, (b, s)), present, hyps, prior)

    def logits(self, enc: Encoded, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Slot logits (B, S, Tn, Bd) for the estimate x (B, 2, T, F) at noise sigma (B,)."""
        b, s = enc.slot_maps.shape[:2]
        agree = agreement_features(x, enc.hyps, self.pool, self.cfg.time_pool)
        h = self.head_in(torch.cat([enc.slot_maps, agree], dim=2).flatten(0, 1))
        e = self.sigma(torch.log(sigma) / 4.0).repeat_interleave(s, dim=0)  # (B S, D)
        h = self.head_out(F.gelu(self.head_film(h, e))).squeeze(1).unflatten(0, (b, s))
        h = LOGIT_LIMIT * torch.tanh(h / LOGIT_LIMIT)
        bias = torch.zeros(s, device=h.device, dtype=h.dtype)
        bias[-1] = 1.0
        h = h + (bias * self.mixture_bias)[None, :, None, None] + self.blocked[:, None]
        return h if enc.prior is None else h + enc.prior.to(h.dtype)

    def weights(self, enc: Encoded, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over the present slots (v3: the selection, straight-through), back to
        STFT frames and bins: (B, S, T, F)."""
        masked = logits.masked_fill(~enc.present[..., None], float("-inf"))
        if self.cfg.version == 3:
            soft = torch.softmax(masked / self.cfg.select_temperature, dim=1)
            hard = F.one_hot(masked.argmax(dim=1), masked.shape[1]).movedim(-1, 1)
            w = hard.to(soft.dtype) + (soft - soft.detach())  # exactly one-hot forward
            expand = self.nearest
        else:
            w, expand = torch.softmax(masked, dim=1), self.expand
        w = w.repeat_interleave(self.cfg.time_pool, dim=2)[:, :, : enc.hyps.re.shape[-2]]
        return w @ expand.T

    def denoise(self, enc: Encoded, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The denoised estimate (B, 2, T, F): sum_s w_s R_s."""
        return enc.hyps.mix(self.weights(enc, self.logits(enc, x, sigma)))


class GuidedDenoiser:
    """D(x, sigma) for the samplers, with classifier-free guidance.

    The null condition (every source dropped) leaves only the mixture slot, so the
    unconditional estimate is the mixture render itself: guided = R_mix + g (D - R_mix),
    and guidance costs no extra network pass.
    """

    def __init__(self, net: GeneratorNet, guidance: float = 1.0):
        self.net, self.guidance = net, guidance

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, enc: Encoded) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device)
        sigma = sigma.expand(x.shape[0]) if sigma.dim() == 0 else sigma
        d = self.net.denoise(enc, x, sigma)
        if self.guidance == 1.0:
            return d
        mix = enc.mixture
        return mix + self.guidance * (d - mix)
