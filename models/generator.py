"""The diffusion generator of both ear signals (binaural.spatial.generator's protocol) and
its checkpoints.

    load_diffusion_generator(path, device, hrtf, render, generator, label) -> DiffusionGenerator
    DiffusionGenerator.generate(mono_chunks, tracks, sample_rate, frame_size) -> iterator of
        (2, n) float32 chunks whose lengths add up to the input's (streamed: memory is bounded
        by generator.chunk_s, not the video's length)

Which generator a spec names ("dsp", a checkpoint, a registry URI) is decided by
models.builders.build_generator and flows.registry.resolve_model.

The diffusion generator works on windows of chunk_s overlapping by crossfade_s (raised-
cosine crossfade); each window: the DSP hypotheses (models/hypotheses.py) -> STFT ->
`steps` sampler steps of the guided denoiser -> inverse STFT. Where no source was found
it falls back to the renderer (straight ahead), and `fallback_reason` says so. A v2
model's hypotheses are anechoic: its output gets the renderer's room split
(binaural.spatial.room_split; generator.room_split), v3's hypotheses carry it already.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from binaural.spatial.config import RenderConfig
from binaural.spatial.generator import DEFAULT_FRAME_SIZE, DSPGenerator, room_found
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import drain
from binaural.spatial.room_split import RoomSplit
from binaural.spatial.scene_render import load_separation_model
from binaural.spatial.tracks import SourceTrack
from models.checkpoint_meta import checkpoint_identity
from models.config import GeneratorConfig
from models.generator_config import ModelConfig
from models.generator_features import (
    istft,
    network_frame_times,
    slot_conditions,
    sounding_present,
    stft,
    usable_embedding,
)
from models.generator_net import GeneratorNet, GuidedDenoiser
from models.hypotheses import HypothesisStream
from models.sampling import get_sampler, karras_sigmas
from models.share_prior import slot_shares, track_logits

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "binaural-generator/1"
SILENT_RMS = 1e-7  # a window this quiet is passed through as the mixture render


def crossfade_ramps(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raised-cosine fade-in and fade-out of n samples; they sum to one."""
    fade_in = np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / max(n, 1)) ** 2
    return fade_in.astype(np.float32), (1.0 - fade_in).astype(np.float32)


class DiffusionGenerator:
    """The prior-refinement diffusion generator (models/generator_net.py)."""

    def __init__(self, net: GeneratorNet, hrtf: HRTFSet, render: RenderConfig,
                 generator: GeneratorConfig, device: str = "cpu", name: str = "model",
                 version: str = "unversioned", meta: dict | None = None):
        self.net = net.to(device).eval()
        self.cfg: ModelConfig = net.cfg
        if hrtf.sample_rate != self.cfg.sample_rate:
            raise ValueError(f"HRTF at {hrtf.sample_rate} Hz, model at {self.cfg.sample_rate}")
        self.hrtf, self.render, self.settings = hrtf, render, generator
        self.device, self.name, self.version = device, name, version
        self.meta = dict(meta or {})
        self.sampler = get_sampler(generator.sampler)
        self.sigmas = karras_sigmas(generator.steps, generator.sigma_min, generator.sigma_max)
        self.denoiser = GuidedDenoiser(self.net, generator.guidance)
        self._fallback: DSPGenerator | None = None
        self._split: RoomSplit | None = None
        # The share prior's separation model: the renderer's (none: the prior shares alone)
        self._separation = (load_separation_model(render.separation_model)
                            if self.cfg.share_prior and render.separation_model else None)

    def describe(self) -> dict:
        s = self.settings
        return {"name": self.name, "version": self.version, "steps": s.steps,
                "sampler": s.sampler, "guidance": s.guidance, "chunk_s": s.chunk_s,
                "crossfade_s": s.crossfade_s, "hrtf": self.hrtf.name, "device": self.device,
                "size": self.meta.get("size"), "visual_source": self.cfg.visual_source or None,
                "share_prior": self.cfg.share_prior}

    def visual_use(self, tracks: Sequence[SourceTrack]) -> tuple[str, bool]:
        """How the tracks' visual embeddings condition the model, and whether some source
        that should have one goes without (another detector, or no crop)."""
        if not self.cfg.visual_dim:
            return "none (the model takes no visual embedding)", False
        slots = list(tracks)[:self.cfg.max_sources]
        without = [tr for tr in slots if usable_embedding(tr, self.cfg) is None]
        used = len(slots) - len(without)
        if not without:
            return f"used for {used} source(s)", False
        other = sorted({tr.embedding_source or "none" for tr in without})
        return (f"used for {used} of {len(slots)} source(s); the others carry embeddings "
                f"of {', '.join(other)}, the model was trained on {self.cfg.visual_source}",
                True)

    def last_run(self) -> dict:
        """What the renderer found where the last call fell back to it, or what the room
        split found (v2)."""
        if self._fallback is not None:
            return self._fallback.last_run()
        if self._split is None:
            return {}
        return {"room_split": True} | room_found(self.render, self._split.spatializer)

    def fallback_reason(self, tracks: Sequence[SourceTrack]) -> str | None:
        if not tracks:
            return ("no sound source found: rendered by the DSP renderer straight ahead "
                    "instead of the model")
        return None

    @torch.no_grad()
    def window(self, mono: np.ndarray, hyps: np.ndarray, tracks: Sequence[SourceTrack],
               start_s: float, frame_size: tuple[int, int], index: int) -> np.ndarray:
        """One window: mono (n,), hyps (S, 2, n) -> (2, n) float32."""
        cfg, n = self.cfg, mono.shape[0]
        rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) if n else 0.0
        if n < cfg.n_fft or rms < SILENT_RMS:
            return hyps[-1].astype(np.float32)
        dev = self.device
        times = network_frame_times(n, cfg, start_s)
        cond = slot_conditions(tracks, times, frame_size, cfg)
        if cfg.version < 3:  # no sounding condition: a slot is present where its track sounds
            cond.present = sounding_present(tracks, times, cond.present,
                                            self.settings.min_sounding)
        m = stft(torch.from_numpy(np.ascontiguousarray(mono, np.float32)).to(dev)[None], cfg)
        h = stft(torch.from_numpy(np.ascontiguousarray(hyps, np.float32)).to(dev)[None], cfg)
        scale = torch.sqrt((m.abs() ** 2).mean()) / cfg.sigma_data
        cast = (torch.autocast("cuda", dtype=torch.bfloat16) if str(dev).startswith("cuda")
                else nullcontext())
        with cast:
            shares = None
            if cfg.share_prior:  # the window's own separation (chunking changes nothing)
                logits = track_logits(mono, cfg.sample_rate, tracks, self._separation, start_s)
                shares = torch.from_numpy(
                    slot_shares(tracks, times, cfg, self.render, logits))[None].to(dev)
            enc = self.net.encode(m / scale, h / scale, cond.to(dev), shares)
            if cfg.version == 3 and not self.settings.diffuse_slot:
                enc.present[:, cfg.max_sources] = False  # the diffuse-field slot
            gen = torch.Generator(device="cpu").manual_seed(self.settings.seed + index)
            noise = torch.randn(enc.mixture.shape, dtype=torch.complex64, generator=gen)
            x = noise.to(dev) * float(self.sigmas[0])
            out = self.sampler(self.denoiser, x, self.sigmas.to(dev), enc)
        wave = istft(out.to(torch.complex64) * scale, n, cfg)[0]
        return wave.float().cpu().numpy()

    def generate(self, mono_chunks, tracks, sample_rate, frame_size=DEFAULT_FRAME_SIZE):
        if sample_rate != self.cfg.sample_rate:
            raise ValueError(f"model works at {self.cfg.sample_rate} Hz, got {sample_rate}")
        self._split = None
        if not tracks:
            self._fallback = DSPGenerator(self.hrtf, self.render)
            yield from self._fallback.generate(mono_chunks, tracks, sample_rate, frame_size)
            return
        self._fallback = None
        if self.cfg.version < 3 and self.settings.room_split and self.render.reverb:
            self._split = split = RoomSplit(self.hrtf, self.render, sample_rate,
                                            self.settings.room_split_min_hz)
            yield from drain(split, self._generate(split.tap(mono_chunks), tracks,
                                                   sample_rate, frame_size))
            return
        yield from self._generate(mono_chunks, tracks, sample_rate, frame_size)

    def _generate(self, mono_chunks, tracks, sample_rate, frame_size):
        tracks = list(tracks)
        stream = HypothesisStream(tracks, self.hrtf, self.cfg.max_sources, sample_rate,
                                  self.render.block, self.render.neighbours, self.render,
                                  self.cfg.version)
        length = int(round(self.settings.chunk_s * sample_rate))
        fade = int(round(self.settings.crossfade_s * sample_rate))
        fade_in, fade_out = crossfade_ramps(fade)
        mono_buf = np.zeros(0, np.float32)
        hyp_buf = np.zeros((self.cfg.slots, 2, 0), np.float32)
        start = 0  # absolute index of the buffers' first sample
        tail: np.ndarray | None = None  # the last window's end, to crossfade with
        index = 0

        def run(final: bool) -> np.ndarray:
            nonlocal mono_buf, hyp_buf, start, tail, index
            n = mono_buf.shape[0] if final else length
            out = self.window(mono_buf[:n], hyp_buf[..., :n], tracks, start / sample_rate,
                              frame_size, index)
            index += 1
            if tail is not None and fade:
                out[:, :fade] = tail * fade_out + out[:, :fade] * fade_in
            if final:
                tail = None
                return out
            keep = length - fade
            tail = out[:, keep:].copy()
            mono_buf, hyp_buf = mono_buf[keep:], hyp_buf[..., keep:]
            start += keep
            return out[:, :keep]

        # The renderer's output lags its input by up to a block: mono_buf runs ahead of
        # hyp_buf, windows are cut where both are known.
        for chunk in mono_chunks:
            chunk = np.asarray(chunk, np.float32).reshape(-1)
            mono_buf = np.concatenate([mono_buf, chunk])
            hyp_buf = np.concatenate([hyp_buf, stream.push(chunk)], axis=2)
            while hyp_buf.shape[-1] >= length:
                yield run(final=False)
        hyp_buf = np.concatenate([hyp_buf, stream.flush()], axis=2)
        while hyp_buf.shape[-1] >= length:
            yield run(final=False)
        if hyp_buf.shape[-1] > fade or tail is None:
            if hyp_buf.shape[-1]:
                yield run(final=True)
        else:
            yield tail[:, : hyp_buf.shape[-1]]


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, net: GeneratorNet, meta: dict) -> Path:
    """Weights, the model config and plain-typed metadata, loadable with weights_only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "config": net.cfg.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                "meta": dict(meta)}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[GeneratorNet, dict]:
    """The network (its config restored from the checkpoint) and the metadata.

    Raises:
        ValueError: not a generator checkpoint.
    """
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    try:
        cfg = ModelConfig.from_dict(data["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot rebuild this generator: {exc}") from exc
    net = GeneratorNet(cfg)
    net.load_state_dict(data["state_dict"])
    return net.to(device), dict(data.get("meta", {}))


def load_diffusion_generator(path: str | Path, device: str, hrtf: HRTFSet,
                             render: RenderConfig, generator: GeneratorConfig,
                             label: str | None = None) -> DiffusionGenerator:
    """The diffusion generator of a local checkpoint; `label` names a registry version
    ("NAME/v3") that the checkpoint was resolved from (flows.registry)."""
    net, meta = load_checkpoint(path, device)
    name = meta.get("name", Path(path).stem)
    return DiffusionGenerator(net, hrtf, render, generator, device, name=name,
                              version=checkpoint_identity(path, label or name), meta=meta)
