"""Reading a synthesized scene's truth and scoring an output against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from binaural.audio_io import read_wav
from binaural.config import EvaluateConfig
from binaural.localize import SourceTrack
from binaural.metrics import direction_track


def load_truth(path: str | Path) -> tuple[dict, list[SourceTrack]]:
    """The truth JSON and its sources as SourceTracks."""
    data = json.loads(Path(path).read_text())
    return data, [SourceTrack.from_json(s) for s in data["sources"]]


def truth_direction_errors(
    binaural_wav: str | Path, truth_json: str | Path, cfg: EvaluateConfig
) -> np.ndarray:
    """Per-window |azimuth heard in the output (ITD) - true azimuth| for 1-source scenes.

    Raises:
        ValueError: the scene has more than one source (no single true direction).
    """
    _, sources = load_truth(truth_json)
    if len(sources) != 1:
        raise ValueError(f"{truth_json}: {len(sources)} sources; direction check needs one")
    audio, sr = read_wav(binaural_wav)
    track = direction_track(audio, sr, cfg)
    src = sources[0]
    truth_az = np.interp(track.times_s, src.times_s, src.azimuth_deg)
    return np.abs(track.azimuth_deg - truth_az)[track.valid]
