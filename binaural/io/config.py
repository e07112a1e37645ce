"""Scene extraction settings (params.yaml `scene`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneConfig:
    """Scene extraction: how frames and audio are read from a video."""

    fps: float = 5.0
    sample_rate: int = 48000
    chunk_s: float = 10.0
    min_duration_s: float = 0.5
