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
    # Damaged streams are concealed (audio: silence of the lost length; video: skipped);
    # an item fails when a stream lost more than this share of the duration.
    max_lost_fraction: float = 0.2
    # A track whose level (RMS over evaluate.window_s) never reaches this is silent: no
    # direction figure; only windows at or above it count as judged.
    silence_dbfs: float = -55.0
