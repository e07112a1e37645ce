"""The generator network's configuration and its three size presets.

A checkpoint stores `ModelConfig.to_dict()` beside its weights and is rebuilt from it
(models/generator.py); nothing here reads YAML: params.yaml's `train.size` names a preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from binaural.spatial.config import SOUND_SOURCE_CLASSES


@dataclass(frozen=True)
class ModelConfig:
    """Shapes of the prior-refinement diffusion generator (models/generator_net.py).

    Attributes:
        sample_rate: Audio rate (Hz) the model works at.
        n_fft, hop: The complex STFT the output is formed in (Hann window).
        bands: Mel-spaced bands the network sees and predicts weights for.
        time_pool: STFT frames averaged into one network frame.
        max_sources: K, the source slots (one more slot holds the mixture render).
        classes: The class vocabulary of the learned class embedding.
        channels: Trunk U-Net channels per level (its depth is len(channels)).
        cond_dim: Width of a source's condition vector.
        slot_channels: Width of the per-slot feature maps.
        pos_freqs: Sinusoidal frequencies per position coordinate.
        sigma_data: Scale the STFTs are normalised to (EDM's sigma_data).
        visual_dim: Length of a source's visual embedding (the detector's class scores and
            pooled crop features, models/detector.py); 0: the model takes none.
        visual_source: The detector embedding recipe (`Detector.embedding_source`) it was
            trained with; embeddings from any other are not used (the slot's visual part
            is left null, as in guidance dropout).
        version: 2: K anechoic per-source hypotheses + the mixture render, convex weights
            per band (blends); 3 (rooms): K per-source hypotheses with the renderer's
            direct/diffuse split, a diffuse-field hypothesis, the gated mixture (activity
            x association), per-slot sounding probability and box centre conditions, and
            one hypothesis selected per band and frame (straight-through) so ITD and ILD
            come from one direction. Checkpoints without the key are version 2.
        select_temperature: Softmax temperature of the selection's gradient (version 3).
        diffuse_min_hz: Version 3: bands centred below this (Hz) never select the
            diffuse-field slot (its logit is pushed far down in training and inference
            alike); 0: every band may. Checkpoints without the key: 0.
        share_prior: The source slots get the renderer's separation shares of each cell
            (models/share_prior.py) as a feature and, times a learnt scale, as a bias on
            their logits. Checkpoints without the key: False.
    """

    sample_rate: int = 48000
    n_fft: int = 1024
    hop: int = 512
    bands: int = 64
    time_pool: int = 2
    max_sources: int = 3
    # The class embedding's vocabulary (index 0 is the null / unknown class).
    classes: tuple[str, ...] = SOUND_SOURCE_CLASSES
    channels: tuple[int, ...] = (16, 32, 64)
    cond_dim: int = 64
    slot_channels: int = 16
    pos_freqs: int = 6
    sigma_data: float = 0.5
    visual_dim: int = 0
    visual_source: str = ""
    version: int = 2
    select_temperature: float = 0.5
    diffuse_min_hz: float = 0.0
    share_prior: bool = False

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise ValueError(f"model version {self.version}: this code knows 2 and 3")
        if self.n_fft % self.hop:
            raise ValueError("n_fft must be a multiple of hop")
        if self.diffuse_min_hz < 0 or (self.diffuse_min_hz > 0 and self.version != 3):
            raise ValueError("diffuse_min_hz: >= 0, and only version 3 has a diffuse slot")
        if self.max_sources < 1 or self.bands < 4 or not self.channels:
            raise ValueError("max_sources >= 1, bands >= 4 and at least one level needed")

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def extra_slots(self) -> int:
        """Hypotheses after the K source slots: the mixture (v2); diffuse, mixture (v3)."""
        return 2 if self.version == 3 else 1

    @property
    def slots(self) -> int:
        return self.max_sources + self.extra_slots

    @property
    def geometry_dims(self) -> int:
        """Per-slot box features: width, height, log aspect, confidence; v3 adds the box
        centre (x, y) and the sounding probability with its known flag."""
        return 8 if self.version == 3 else 4

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (a weights_only checkpoint can hold them)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown} (a checkpoint of a newer "
                             "generator version than this code knows)")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


PRESETS: dict[str, ModelConfig] = {
    # Tests: a forward pass in milliseconds.
    "tiny": ModelConfig(bands=16, channels=(8, 16), cond_dim=16, slot_channels=8, pos_freqs=3),
    # The shipped default: trains on a 2-core CPU in about an hour.
    "small": ModelConfig(bands=64, channels=(16, 32, 64), cond_dim=64, slot_channels=16),
    # GPU training.
    "base": ModelConfig(bands=128, hop=256, time_pool=2, channels=(64, 128, 256, 256), cond_dim=128,
                        slot_channels=64, pos_freqs=8),
}


def preset(name: str, version: int = 2) -> ModelConfig:
    """The named preset (tiny, small, base) of a model version (2, 3)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model size {name!r}; known: {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], version=version)
