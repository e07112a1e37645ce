"""Source localization: tracked detections -> smoothed direction and distance tracks."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from binaural.spatial.geometry import Camera


@dataclass(frozen=True)
class Detection:
    """One tracked box in one sampled frame (pixels, x1 y1 x2 y2)."""

    t: float
    track_id: int
    label: str
    confidence: float
    box: tuple[float, float, float, float]
    # The detector's visual embedding of this box's crop (class scores, pooled features),
    # computed for a sample of each track's detections (models/detector.py); else None.
    embedding: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SourceTrack:
    """A visible sound source over time, in the truth JSON's schema.

    `embedding` is the mean visual embedding of the source's crops and `embedding_source`
    the detector (and embedding recipe) that made it; both empty where none was computed.
    """

    source_id: int
    source_class: str
    detector_label: str
    confidence: float
    times_s: np.ndarray
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    distance_m: np.ndarray
    boxes: np.ndarray  # (T, 4)
    embedding: np.ndarray | None = field(default=None, compare=False)
    embedding_source: str = ""
    # Per time the probability that this object is the one sounding (binaural.spatial.
    # association); None where no association ran. JSON: "sounding_p" per track point.
    sounding: np.ndarray | None = field(default=None, compare=False)

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.times_s, self.azimuth_deg, self.elevation_deg, self.distance_m

    def to_json(self) -> dict:
        out = {
            "id": self.source_id,
            "class": self.source_class,
            "detector_label": self.detector_label,
            "confidence": round(float(self.confidence), 4),
            "track": [
                {
                    "t": round(float(t), 4),
                    "azimuth_deg": round(float(a), 3),
                    "elevation_deg": round(float(e), 3),
                    "distance_m": round(float(d), 3),
                    "box": [round(float(x), 1) for x in b],
                }
                | ({} if p is None else {"sounding_p": round(float(p), 4)})
                for t, a, e, d, b, p in zip(
                    self.times_s, self.azimuth_deg, self.elevation_deg, self.distance_m,
                    self.boxes,
                    [None] * len(self.times_s) if self.sounding is None else self.sounding,
                )
            ],
        }
        if self.embedding is not None:
            out["embedding"] = {"source": self.embedding_source,
                                "values": [round(float(v), 5) for v in self.embedding]}
        return out

    @classmethod
    def from_json(cls, data: Mapping) -> SourceTrack:
        track = data["track"]
        embedding = data.get("embedding")
        return cls(
            source_id=int(data.get("id", 0)),
            source_class=str(data["class"]),
            detector_label=str(data.get("detector_label", data["class"])),
            confidence=float(data.get("confidence", 1.0)),
            times_s=np.array([p["t"] for p in track], dtype=np.float64),
            azimuth_deg=np.array([p["azimuth_deg"] for p in track], dtype=np.float64),
            elevation_deg=np.array([p["elevation_deg"] for p in track], dtype=np.float64),
            distance_m=np.array([p["distance_m"] for p in track], dtype=np.float64),
            boxes=np.array([p.get("box", [0, 0, 0, 0]) for p in track], dtype=np.float64),
            embedding=(np.asarray(embedding["values"], np.float32) if embedding else None),
            embedding_source=str(embedding["source"]) if embedding else "",
            sounding=(np.array([p["sounding_p"] for p in track], dtype=np.float64)
                      if track and all("sounding_p" in p for p in track) else None),
        )


def smooth(values: np.ndarray, times_s: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average over a time window (handles uneven sampling and ends)."""
    if window_s <= 0 or len(values) < 3:
        return values.copy()
    out = np.empty_like(values, dtype=np.float64)
    for i, t in enumerate(times_s):
        near = np.abs(times_s - t) <= window_s / 2
        out[i] = values[near].mean()
    return out


def build_tracks(
    detections: Iterable[Detection],
    camera: Camera,
    class_map: Mapping[str, str],
    class_heights_m: Mapping[str, float],
    smoothing_s: float,
    min_track_s: float,
    max_sources: int,
    embedding_source: str = "",
) -> list[SourceTrack]:
    """Group detections by tracker id, keep sound-making classes, convert with the camera.

    Tracks shorter than `min_track_s` are dropped; of the rest the `max_sources` with the
    largest summed confidence are kept. A track's embedding is the mean of its detections'
    embeddings (None where none has one), tagged with `embedding_source`. Positions are
    smoothed over `smoothing_s`
    (distance is smoothed in log space: box heights jitter multiplicatively).
    """
    by_id: dict[int, list[Detection]] = defaultdict(list)
    for d in detections:
        if d.label in class_map:
            by_id[d.track_id].append(d)
    candidates = []
    for track_id, dets in by_id.items():
        dets.sort(key=lambda d: d.t)
        times = np.array([d.t for d in dets])
        if len(dets) < 2 or times[-1] - times[0] < min_track_s:
            continue
        label = Counter(d.label for d in dets).most_common(1)[0][0]
        source_class = class_map[label]
        boxes = np.array([d.box for d in dets], dtype=np.float64)
        height_m = class_heights_m.get(source_class, 1.0)
        az, el, dist = camera.box_to_position(boxes, height_m)
        embedded = [d.embedding for d in dets if d.embedding is not None]
        embedding = np.mean(embedded, axis=0).astype(np.float32) if embedded else None
        candidates.append(
            (
                sum(d.confidence for d in dets),
                SourceTrack(
                    source_id=int(track_id),
                    source_class=source_class,
                    detector_label=label,
                    confidence=float(np.mean([d.confidence for d in dets])),
                    times_s=times,
                    azimuth_deg=smooth(az, times, smoothing_s),
                    elevation_deg=smooth(el, times, smoothing_s),
                    distance_m=np.exp(smooth(np.log(dist), times, smoothing_s)),
                    boxes=boxes,
                    embedding=embedding,
                    embedding_source=embedding_source if embedded else "",
                ),
            )
        )
    candidates.sort(key=lambda c: -c[0])
    return [t for _, t in candidates[:max_sources]]


def dominant_azimuth(tracks: list[SourceTrack], times_s: np.ndarray) -> np.ndarray:
    """Azimuth of the source expected loudest (nearest) at each time; NaN where none."""
    best = np.full(len(times_s), np.inf)
    az = np.full(len(times_s), np.nan)
    for tr in tracks:
        inside = (times_s >= tr.times_s[0]) & (times_s <= tr.times_s[-1])
        d = np.interp(times_s, tr.times_s, tr.distance_m)
        better = inside & (d < best)
        az[better] = np.interp(times_s[better], tr.times_s, tr.azimuth_deg)
        best[better] = d[better]
    return az
