"""Reading a synthesized scene's truth and scoring an output against it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from binaural.eval.association import heard_azimuth
from binaural.eval.config import EvaluateConfig
from binaural.eval.direction import direction_track
from binaural.io.audio import read_wav
from binaural.spatial.tracks import SourceTrack


def visual_path(truth_json: str | Path) -> Path:
    """Where a scene's per-source visual embeddings lie: truth/<id>.visual.json."""
    path = Path(truth_json)
    return path.with_name(f"{path.stem}.visual.json")


def load_truth(path: str | Path) -> tuple[dict, list[SourceTrack]]:
    """The truth JSON and its sources as SourceTracks; where truth/<id>.visual.json is
    beside it (scripts/embed_truth.py), each source carries its visual embedding.

    Raises:
        ValueError: the visual file does not list one entry per source.
    """
    data = json.loads(Path(path).read_text())
    tracks = [SourceTrack.from_json(s) for s in data["sources"]]
    vpath = visual_path(path)
    if vpath.is_file():
        visual = json.loads(vpath.read_text())
        vectors = visual["embeddings"]
        if len(vectors) != len(tracks):
            raise ValueError(f"{vpath}: {len(vectors)} embeddings for {len(tracks)} sources")
        tracks = [dataclasses.replace(tr, embedding=np.asarray(v, np.float32),
                                      embedding_source=str(visual["source"]))
                  if v is not None else tr for tr, v in zip(tracks, vectors)]
    return data, tracks


def truth_direction_errors(
    binaural_wav: str | Path, truth_json: str | Path, cfg: EvaluateConfig
) -> np.ndarray:
    """Per-window |azimuth heard in the output (ITD) - azimuth of the source sounding then|
    over the valid windows where exactly one source sounds (visible silent objects are
    ignored; with turn-taking, each turn is scored against its speaker).

    Raises:
        ValueError: no window has exactly one sounding source (no single true direction).
    """
    data, sources = load_truth(truth_json)
    audio, sr = read_wav(binaural_wav)
    track = direction_track(audio, sr, cfg)
    truth_az = heard_azimuth(data, sources, track.times_s)
    if not np.isfinite(truth_az).any():
        raise ValueError(f"{truth_json}: no window with exactly one sounding source; the "
                         "direction check needs one")
    use = track.valid & np.isfinite(truth_az)
    return np.abs(track.azimuth_deg - truth_az)[use]
