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
    """Per-window |azimuth heard in the output (ITD) - true azimuth| for scenes with one
    sounding source (visible silent objects are ignored), over the windows where it sounds.

    Raises:
        ValueError: the scene has more than one sounding source (no single true direction).
    """
    data, sources = load_truth(truth_json)
    spans = [s.get("sounding") for s in data["sources"]]
    sounding = [(src, span) for src, span in zip(sources, spans) if span is None or span]
    if len(sounding) != 1:
        raise ValueError(f"{truth_json}: {len(sounding)} sounding sources; the direction "
                         "check needs one")
    src, span = sounding[0]
    audio, sr = read_wav(binaural_wav)
    track = direction_track(audio, sr, cfg)
    truth_az = np.interp(track.times_s, src.times_s, src.azimuth_deg)
    use = track.valid.copy()
    if span:
        use &= np.any([(track.times_s >= a) & (track.times_s <= b) for a, b in span], axis=0)
    return np.abs(track.azimuth_deg - truth_az)[use]
