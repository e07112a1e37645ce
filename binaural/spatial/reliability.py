"""How far the detections of one video can be trusted.

The report's agreement figure compares the output with the system's own detections; it
says nothing when the detections are wrong. Three signs that they may be, from the
tracked detections of the sound-source classes (thresholds: params `localize`):
- a low mean confidence;
- labels that flicker within one track (the same object called a violin, then a piano):
  the share of a track's detections not carrying its majority label, detection-weighted
  over tracks;
- many short tracks (objects lost and found again, or false alarms): the share of tracks
  shorter than short_track_s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from binaural.spatial.tracks import Detection


@dataclass(frozen=True)
class Reliability:
    """Detection statistics of one video and the reasons they look unreliable."""

    detections: int
    tracks: int
    mean_confidence: float | None
    label_flicker: float | None
    short_track_fraction: float | None
    reasons: tuple[str, ...]

    @property
    def reliable(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict:
        def r(x):
            return None if x is None else round(float(x), 4)

        return {"reliable": self.reliable, "detections": self.detections, "tracks": self.tracks,
                "mean_confidence": r(self.mean_confidence),
                "label_flicker": r(self.label_flicker),
                "short_track_fraction": r(self.short_track_fraction),
                "reasons": list(self.reasons)}


def assess_detections(
    detections: Iterable[Detection],
    class_map: Mapping[str, str],
    short_track_s: float,
    min_confidence: float,
    max_label_flicker: float,
    max_short_tracks: float,
) -> Reliability:
    """Statistics of the detections whose label maps to a sound source, and the reasons
    (empty: reliable) from the thresholds. No detection at all is not a reason: the
    output is then rendered straight ahead and says so."""
    by_id: dict[int, list[Detection]] = defaultdict(list)
    for d in detections:
        if d.label in class_map:
            by_id[d.track_id].append(d)
    dets = [d for track in by_id.values() for d in track]
    if not dets:
        return Reliability(0, 0, None, None, None, ())
    confidence = sum(d.confidence for d in dets) / len(dets)
    off_label = sum(len(t) - Counter(class_map[d.label] for d in t).most_common(1)[0][1]
                    for t in by_id.values())
    flicker = off_label / len(dets)
    spans = [max(d.t for d in t) - min(d.t for d in t) for t in by_id.values()]
    short = sum(s < short_track_s for s in spans) / len(spans)
    reasons = []
    if confidence < min_confidence:
        reasons.append(f"low detection confidence (mean {confidence:.2f} < {min_confidence})")
    if flicker > max_label_flicker:
        reasons.append(f"classes flicker within tracks ({flicker:.0%} of detections off "
                       f"their track's class > {max_label_flicker:.0%})")
    if short > max_short_tracks:
        reasons.append(f"many short tracks ({short:.0%} shorter than {short_track_s} s "
                       f"> {max_short_tracks:.0%})")
    return Reliability(len(dets), len(by_id), confidence, flicker, short, tuple(reasons))
