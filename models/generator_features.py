"""What the generator network sees: STFTs, mel-band pooling, per-slot conditions.

Shapes: B batch, S = cfg.slots slots (K sources, then v2 the mixture render, v3 the diffuse
field and the gated mixture), T STFT frames,
F = n_fft / 2 + 1 bins, Tn = ceil(T / time_pool) network frames, Bd bands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from binaural.constants import MIN_DISTANCE_M
from binaural.spatial.gate import hz_to_mel, mel_to_hz
from binaural.spatial.tracks import SourceTrack
from models.generator_config import ModelConfig

EPS = 1e-8
ILD_SCALE_DB = 10.0  # ILD features in units of 10 dB


def stft(x: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(..., N) real -> (..., T, F) complex, Hann window, centred frames."""
    shape = x.shape[:-1]
    window = torch.hann_window(cfg.n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x.reshape(-1, x.shape[-1]), cfg.n_fft, cfg.hop, window=window,
                      center=True, return_complex=True)
    return spec.transpose(-1, -2).reshape(*shape, spec.shape[-1], spec.shape[-2])


def istft(spec: torch.Tensor, length: int, cfg: ModelConfig) -> torch.Tensor:
    """(..., T, F) complex -> (..., length) real (inverse of stft)."""
    shape = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    window = torch.hann_window(cfg.n_fft, device=spec.device, dtype=spec.real.dtype)
    out = torch.istft(flat, cfg.n_fft, cfg.hop, window=window, center=True, length=length)
    return out.reshape(*shape, length)


def band_centres_mel(cfg: ModelConfig) -> np.ndarray:
    """Centres of the network's mel bands, in mel: evenly spaced from 0 Hz to Nyquist."""
    return np.linspace(hz_to_mel(0.0), hz_to_mel(cfg.sample_rate / 2.0), cfg.bands)


def band_centres_hz(cfg: ModelConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the network's mel bands."""
    return mel_to_hz(band_centres_mel(cfg))


def band_matrices(cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooling (Bd, F) and expansion (F, Bd) matrices between bins and mel-spaced bands.

    Expansion interpolates linearly (in mel) between band centres, so each bin's weights
    sum to one and convex band weights stay convex per bin; pooling is its transpose with
    rows normalised (a triangular mel filterbank averaging power).
    """
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, cfg.freq_bins)
    position = np.interp(hz_to_mel(freqs), band_centres_mel(cfg), np.arange(cfg.bands))
    expand = np.zeros((cfg.freq_bins, cfg.bands))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, cfg.bands - 1)
    frac = position - low
    expand[np.arange(cfg.freq_bins), low] += 1.0 - frac
    expand[np.arange(cfg.freq_bins), high] += frac
    pool = expand.T / np.maximum(expand.T.sum(axis=1, keepdims=True), EPS)
    return (torch.tensor(pool, dtype=torch.float32), torch.tensor(expand, dtype=torch.float32))


def pool_frames(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average (..., T, Bd) over groups of `factor` frames (the last group padded)."""
    if factor == 1:
        return x
    t = x.shape[-2]
    pad = (-t) % factor
    if pad:
        x = torch.cat([x, x[..., -1:, :].expand(*x.shape[:-2], pad, x.shape[-1])], dim=-2)
    return x.reshape(*x.shape[:-2], -1, factor, x.shape[-1]).mean(dim=-2)


def split_complex(spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous real and imaginary parts (real arithmetic is several times faster)."""
    return spec.real.contiguous(), spec.imag.contiguous()


def to_bands(x: torch.Tensor, pool: torch.Tensor, factor: int) -> torch.Tensor:
    """A real per-bin quantity (..., T, F) averaged into network cells (..., Tn, Bd)."""
    return pool_frames(x @ pool.T, factor)


def mono_features(mono: torch.Tensor, pool: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, T, F) complex -> (B, 1, Tn, Bd): log band power of the (normalised) mono."""
    re, im = split_complex(mono)
    return torch.log(to_bands(re * re + im * im, pool, factor) + EPS).unsqueeze(1) / 4.0


@dataclass
class Hypotheses:
    """The S hypotheses, (B, S, 2, T, F) real and imaginary parts, and their band powers
    (B, S, 2, Tn, Bd)."""

    re: torch.Tensor
    im: torch.Tensor
    power: torch.Tensor

    @classmethod
    def from_spec(cls, spec: torch.Tensor, pool: torch.Tensor, factor: int) -> Hypotheses:
        re, im = split_complex(spec)
        return cls(re, im, to_bands(re * re + im * im, pool, factor))

    def mix(self, w: torch.Tensor) -> torch.Tensor:
        """sum_s w_s R_s for weights (B, S, T, F): (B, 2, T, F) complex."""
        w = w.unsqueeze(2)
        return torch.complex((w * self.re).sum(dim=1), (w * self.im).sum(dim=1))

    def slot(self, s: int) -> torch.Tensor:
        """Hypothesis s, (B, 2, T, F) complex."""
        return torch.complex(self.re[:, s], self.im[:, s])


def hypothesis_cues(hyps: Hypotheses, mono: torch.Tensor, pool: torch.Tensor, factor: int
                    ) -> torch.Tensor:
    """(B, S, 4, Tn, Bd): each hypothesis's band ILD, IPD (cos, sin) and level against the
    mono."""
    e_l, e_r = hyps.power[:, :, 0], hyps.power[:, :, 1]
    lr, li, rr, ri = hyps.re[:, :, 0], hyps.im[:, :, 0], hyps.re[:, :, 1], hyps.im[:, :, 1]
    cross_re = to_bands(lr * rr + li * ri, pool, factor)
    cross_im = to_bands(li * rr - lr * ri, pool, factor)
    norm = torch.sqrt(e_l * e_r + EPS)
    m_re, m_im = split_complex(mono)
    e_m = to_bands(m_re * m_re + m_im * m_im, pool, factor).unsqueeze(1)
    ild = 10.0 * torch.log10((e_l + EPS) / (e_r + EPS)) / ILD_SCALE_DB
    level = torch.log((e_l + e_r + EPS) / (2 * e_m + EPS))
    return torch.stack([ild, cross_re / norm, cross_im / norm, level], dim=2)


def agreement_features(x: torch.Tensor, hyps: Hypotheses, pool: torch.Tensor, factor: int
                       ) -> torch.Tensor:
    """How well each hypothesis explains the current estimate x (B, 2, T, F): per ear, the
    band correlation and the log power ratio -> (B, S, 4, Tn, Bd)."""
    xr, xi = split_complex(x)
    e_x = to_bands(xr * xr + xi * xi, pool, factor).unsqueeze(1)  # (B, 1, 2, Tn, Bd)
    cross = to_bands(xr.unsqueeze(1) * hyps.re + xi.unsqueeze(1) * hyps.im, pool, factor)
    corr = cross / torch.sqrt(e_x * hyps.power + EPS)
    ratio = torch.log((e_x + EPS) / (hyps.power + EPS)) / 4.0
    return torch.cat([corr, ratio], dim=2)


# ---------------------------------------------------------------- conditions


@dataclass
class SlotConditions:
    """Per-slot conditions at the network frame rate (K source slots; the mixture slot
    has none).

    Attributes:
        class_index: (B, K) long, 0 = null/unknown, i = cfg.classes[i - 1].
        geometry: (B, K, Tn, G): box width / frame width, box height / frame height,
            log aspect (w / h), detector confidence; version 3 (G = 8) adds the box centre
            (x / width - 0.5, y / height - 0.5), the probability that the track sounds
            (SourceTrack.sounding; 0.5 where unknown) and whether it is known (1 / 0).
        position: (B, K, Tn, 3): azimuth (rad), elevation (rad), log distance (m).
        present: (B, K, Tn) bool: the source is tracked at that frame.
        visual: (B, K, cfg.visual_dim): the detector's visual embedding of the source;
            all zeros where there is none (null).
    """

    class_index: torch.Tensor
    geometry: torch.Tensor
    position: torch.Tensor
    present: torch.Tensor
    visual: torch.Tensor

    FIELDS = ("class_index", "geometry", "position", "present", "visual")

    def to(self, device: str | torch.device) -> SlotConditions:
        return SlotConditions(*(getattr(self, f).to(device) for f in self.FIELDS))

    @staticmethod
    def stack(items: Sequence[SlotConditions]) -> SlotConditions:
        return SlotConditions(*(torch.cat([getattr(c, f) for c in items])
                                for f in SlotConditions.FIELDS))


def network_frame_times(n_samples: int, cfg: ModelConfig, start_s: float = 0.0) -> np.ndarray:
    """Centre times (s) of the network frames of a window of n_samples starting at start_s."""
    frames = n_samples // cfg.hop + 1  # centred STFT
    tn = math.ceil(frames / cfg.time_pool)
    centre_frame = np.arange(tn) * cfg.time_pool + (cfg.time_pool - 1) / 2.0
    return start_s + centre_frame * cfg.hop / cfg.sample_rate


def class_index(name: str, cfg: ModelConfig) -> int:
    return cfg.classes.index(name) + 1 if name in cfg.classes else 0


def usable_embedding(track: SourceTrack, cfg: ModelConfig) -> np.ndarray | None:
    """The track's visual embedding when the model takes it: the same recipe (detector
    weights, layer, crop size) and length it was trained with; else None."""
    e = track.embedding
    if (cfg.visual_dim == 0 or e is None or len(e) != cfg.visual_dim
            or track.embedding_source != cfg.visual_source):
        return None
    return np.asarray(e, np.float32)


def slot_conditions(tracks: Sequence[SourceTrack], times_s: np.ndarray,
                    frame_size: tuple[int, int], cfg: ModelConfig) -> SlotConditions:
    """The first K tracks as slot conditions at `times_s`; missing slots are absent."""
    k, tn = cfg.max_sources, len(times_s)
    visual = torch.zeros(1, k, cfg.visual_dim)
    cls = torch.zeros(1, k, dtype=torch.long)
    geometry = torch.zeros(1, k, tn, cfg.geometry_dims)
    position = torch.zeros(1, k, tn, 3)
    present = torch.zeros(1, k, tn, dtype=torch.bool)
    width, height = frame_size
    for j, tr in enumerate(list(tracks)[:k]):
        t = tr.times_s
        inside = (times_s >= t[0]) & (times_s <= t[-1])
        az = np.interp(times_s, t, np.unwrap(np.radians(tr.azimuth_deg)))
        el = np.radians(np.interp(times_s, t, tr.elevation_deg))
        dist = np.interp(times_s, t, np.maximum(tr.distance_m, MIN_DISTANCE_M))
        boxes = np.stack([np.interp(times_s, t, tr.boxes[:, i]) for i in range(4)], axis=1)
        bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
        bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        geo = [bw / width, bh / height, np.log(bw / bh), np.full(tn, tr.confidence)]
        if cfg.version == 3:
            known = tr.sounding is not None
            p = np.interp(times_s, t, tr.sounding) if known else np.full(tn, 0.5)
            geo += [(boxes[:, 0] + boxes[:, 2]) / 2 / width - 0.5,
                    (boxes[:, 1] + boxes[:, 3]) / 2 / height - 0.5, p,
                    np.full(tn, float(known))]
        geo = np.stack(geo, axis=1)
        cls[0, j] = class_index(tr.source_class, cfg)
        geometry[0, j] = torch.tensor(geo, dtype=torch.float32)
        position[0, j] = torch.tensor(np.stack([az, el, np.log(dist)], axis=1),
                                      dtype=torch.float32)
        present[0, j] = torch.tensor(inside)
        embedding = usable_embedding(tr, cfg)
        if embedding is not None:
            visual[0, j] = torch.from_numpy(embedding)
    return SlotConditions(cls, geometry, position, present, visual)


def sounding_present(tracks: Sequence[SourceTrack], times_s: np.ndarray,
                     present: torch.Tensor, min_sounding: float) -> torch.Tensor:
    """`present` (B, K, Tn) kept only where the slot's track sounds with probability at
    least `min_sounding` (SourceTrack.sounding, the association; a track without one is
    kept); at a frame where that would leave no present slot, the most likely one stays.
    For a model trained on scenes where every visible object sounds (version 2)."""
    k = present.shape[1]
    slots = list(tracks)[:k]
    if all(tr.sounding is None for tr in slots):
        return present
    p = np.ones((k, len(times_s)))
    for j, tr in enumerate(slots):
        if tr.sounding is not None:
            p[j] = np.interp(times_s, tr.times_s, tr.sounding)
    was = present[0].numpy()
    keep = was & (p >= min_sounding)
    lost = was.any(axis=0) & ~keep.any(axis=0)
    best = np.argmax(np.where(was, p, -1.0), axis=0)
    keep[best[lost], np.flatnonzero(lost)] = True
    return torch.from_numpy(keep)[None]


def null_conditions(cond: SlotConditions) -> SlotConditions:
    """The null condition of guidance: every source dropped (no class, no box, no position,
    no slot), so the model can only return the mixture render."""
    return SlotConditions(*(torch.zeros_like(getattr(cond, f)) for f in SlotConditions.FIELDS))


def drop_conditions(cond: SlotConditions, p_visual: float, p_all: float,
                    generator: torch.Generator | None = None) -> SlotConditions:
    """Guidance dropout for training: per slot, the visual part (class, box, embedding)
    becomes null with p_visual (the model must survive a detector swap); per example, every
    condition becomes null with p_all (the unconditional branch of guidance)."""
    b, k = cond.class_index.shape
    device = cond.class_index.device
    drop_visual = torch.rand(b, k, generator=generator).to(device) < p_visual
    drop_all = torch.rand(b, generator=generator).to(device) < p_all
    keep = ~(drop_visual | drop_all[:, None])
    keep_pos = ~drop_all[:, None, None, None]
    return SlotConditions(
        cond.class_index * keep,
        cond.geometry * keep[:, :, None, None],
        cond.position * keep_pos,
        cond.present & ~drop_all[:, None, None],
        cond.visual * keep[:, :, None],
    )
