"""One track per object: tracker ids relinked after tracking, before tracks are built.

ByteTrack gives an object a new id when it loses it for longer than its buffer or when
the Kalman prediction drifts off (a person turning, a box that changes shape), and, with
several detectors, two ids can follow one object at once. Two rules, on the detections of
the sound-source classes, each between ids of the same sound class:
- duplicates: two ids whose boxes overlap by IoU >= duplicate_iou in at least half of the
  frames they share are one object; the longer id keeps it, and at shared times the more
  confident box;
- fragments: an id that starts within bridge_gap_s after another ended continues it when
  its first box is where the earlier one was heading (constant velocity from its last
  boxes; centre within bridge_distance box heights) and of a like size (height ratio
  within bridge_size_ratio). Pairs are linked closest first, each end and start once.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np

from binaural.spatial.box_merge import iou_matrix
from binaural.spatial.tracks import Detection

VELOCITY_BOXES = 3  # last boxes of a track that give its velocity


def _centre_height(box) -> tuple[np.ndarray, float]:
    b = np.asarray(box, np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]), float(b[3] - b[1])


def _merge_duplicates(tracks: dict[int, list[Detection]], duplicate_iou: float
                      ) -> dict[int, list[Detection]]:
    ids = sorted(tracks, key=lambda k: (-len(tracks[k]), k))  # longer ids absorb shorter
    for a in ids:
        if a not in tracks:
            continue
        for b in ids:
            if b == a or b not in tracks:
                continue
            at_a = {d.t: d for d in tracks[a]}
            shared = [(at_a[d.t], d) for d in tracks[b] if d.t in at_a]
            if not shared:
                continue
            overlaps = [iou_matrix(np.array([x.box]), np.array([y.box]))[0, 0] >= duplicate_iou
                        for x, y in shared]
            if sum(overlaps) * 2 < len(shared):
                continue
            for d in tracks.pop(b):
                if d.t not in at_a or d.confidence > at_a[d.t].confidence:
                    at_a[d.t] = dataclasses.replace(d, track_id=a)
            tracks[a] = sorted(at_a.values(), key=lambda d: d.t)
    return tracks


def _bridge_fragments(tracks: dict[int, list[Detection]], gap_s: float, distance: float,
                      size_ratio: float) -> dict[int, list[Detection]]:
    candidates = []
    for a, da in tracks.items():
        last = da[-VELOCITY_BOXES:]
        end_c, end_h = _centre_height(last[-1].box)
        span = last[-1].t - last[0].t
        velocity = ((end_c - _centre_height(last[0].box)[0]) / span if span > 0
                    else np.zeros(2))
        for b, db in tracks.items():
            gap = db[0].t - da[-1].t
            if b == a or not 0 < gap <= gap_s:
                continue
            start_c, start_h = _centre_height(db[0].box)
            ratio = max(start_h, end_h) / max(min(start_h, end_h), 1e-9)
            jump = np.linalg.norm(start_c - (end_c + velocity * gap)) / max(end_h, 1e-9)
            if ratio <= size_ratio and jump <= distance:
                candidates.append((jump, gap, a, b))
    ended, started, parent = set(), set(), {}
    for _, _, a, b in sorted(candidates):
        if a not in ended and b not in started:
            ended.add(a), started.add(b)
            parent[b] = a
    for b in sorted(parent, key=lambda k: tracks[k][0].t):
        root = parent[b]
        while root in parent:
            root = parent[root]
        tracks[root] = tracks[root] + [dataclasses.replace(d, track_id=root) for d in tracks[b]]
    for b in parent:
        del tracks[b]
    return tracks


def relink_tracks(
    detections: Iterable[Detection],
    class_map: Mapping[str, str],
    duplicate_iou: float,
    bridge_gap_s: float,
    bridge_distance: float,
    bridge_size_ratio: float,
) -> list[Detection]:
    """The detections with duplicate and fragment ids relinked (other labels as they are),
    in time order."""
    by_key: dict[str, dict[int, list[Detection]]] = defaultdict(lambda: defaultdict(list))
    rest = []
    for d in detections:
        if d.label in class_map:
            by_key[class_map[d.label]][d.track_id].append(d)
        else:
            rest.append(d)
    out = list(rest)
    for tracks in by_key.values():
        tracks = {k: sorted(v, key=lambda d: d.t) for k, v in tracks.items()}
        tracks = _merge_duplicates(tracks, duplicate_iou)
        tracks = _bridge_fragments(tracks, bridge_gap_s, bridge_distance, bridge_size_ratio)
        out.extend(d for v in tracks.values() for d in v)
    return sorted(out, key=lambda d: (d.t, d.track_id))
