"""The association's measurements, one value per frame at the analysis rate `fps`:

    track_motion:   per track, the mean absolute grey frame difference inside its box (an
                    integral image per frame difference), and inside each candidate cell of
                    its part that moves with its sound (part_cells) what changed beyond its
                    rigid motion (whole then sub-pixel shift compensated), from frames
                    streamed once (only the previous one kept)
    audio_envelope: the mono's RMS per frame interval [i / fps, (i + 1) / fps), streamed,
                    and the class-activity probability of each track's class there

Frame i is the picture at about i / fps; its difference is to the frame before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy.ndimage import uniform_filter

from binaural.spatial.gate import ActivityModel, ActivityTracker
from binaural.spatial.tracks import SourceTrack

# A person's mouth lies near the top of a full-body box but halfway down a head-and-
# shoulders one: candidate cells (top, bottom as shares of the box's height), each the
# box's middle PERSON_FACE_WIDTH; the association takes per window the cell whose change
# follows the audio best, the same search for every track.
PERSON_PART_ROWS = ((0.0, 0.2), (0.15, 0.35), (0.3, 0.5), (0.45, 0.65))
PERSON_FACE_WIDTH = 0.5
MAX_SHIFT_PX = 2  # rigid motion compensated in the part, per frame (analysis pixels)
MAX_REGION_PX = 4000


def part_cells(box: np.ndarray, source_class: str) -> np.ndarray:
    """The candidate parts (..., len(PERSON_PART_ROWS), 4) of boxes (..., 4) that move
    with the object's sound: for a person the middle PERSON_FACE_WIDTH of each band of
    PERSON_PART_ROWS (the head and mouth at any framing); for any other object the whole
    box (strings, hands, keys and bells lie anywhere on it) as the first cell, the others
    NaN."""
    box = np.asarray(box, dtype=np.float64)
    out = np.full(box.shape[:-1] + (len(PERSON_PART_ROWS), 4), np.nan)
    if source_class != "person":
        out[..., 0, :] = box
        return out
    height = box[..., 3] - box[..., 1]
    margin = (1 - PERSON_FACE_WIDTH) / 2 * (box[..., 2] - box[..., 0])
    for c, (top, bottom) in enumerate(PERSON_PART_ROWS):
        out[..., c, 0], out[..., c, 2] = box[..., 0] + margin, box[..., 2] - margin
        out[..., c, 1] = box[..., 1] + top * height
        out[..., c, 3] = box[..., 1] + bottom * height
    return out


def boxes_at(track: SourceTrack, times_s: np.ndarray) -> np.ndarray:
    """The track's boxes (T, 4) interpolated at `times_s`; NaN outside its span."""
    out = np.full((len(times_s), 4), np.nan)
    inside = (times_s >= track.times_s[0]) & (times_s <= track.times_s[-1])
    for c in range(4):
        out[inside, c] = np.interp(times_s[inside], track.times_s, track.boxes[:, c])
    return out


def _region_means(integral: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of the image under each box (K, 4) in its pixels, from its integral image
    (h + 1, w + 1); NaN for a missing or empty box."""
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    out = np.full(len(boxes), np.nan)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        if not np.isfinite(x1):
            continue
        c0, c1 = int(np.clip(np.floor(x1), 0, w)), int(np.clip(np.ceil(x2), 0, w))
        r0, r1 = int(np.clip(np.floor(y1), 0, h)), int(np.clip(np.ceil(y2), 0, h))
        if c1 <= c0 or r1 <= r0:
            continue
        total = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
        out[k] = total / ((r1 - r0) * (c1 - c0))
    return out


def _residual(here: np.ndarray, previous: np.ndarray) -> float:
    """Mean absolute change of a region beyond a sub-pixel translation (one Lucas-Kanade
    step on lightly blurred pictures, the shift clipped to a pixel)."""
    a, b = uniform_filter(here, 3), uniform_filter(previous, 3)
    gy, gx = np.gradient(0.5 * (a + b))
    change = a - b
    normal = np.array([[np.sum(gx * gx), np.sum(gx * gy)],
                       [np.sum(gx * gy), np.sum(gy * gy)]]) + 1e-3 * np.eye(2)
    shift = np.clip(np.linalg.solve(normal, -np.array([np.sum(gx * change),
                                                       np.sum(gy * change)])), -1.0, 1.0)
    return float(np.mean(np.abs(change + gx * shift[0] + gy * shift[1])))


def _compensated(grey: np.ndarray, previous: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per box (K, 4) in pixels how much its region changed since the previous frame
    beyond the object's rigid motion (a mouth opening, not a head swaying): the best whole
    shift of up to MAX_SHIFT_PX each way, then the sub-pixel rest (_residual). Large
    regions are sampled every few pixels (about MAX_REGION_PX). NaN for a missing box."""
    h, w = grey.shape
    m = MAX_SHIFT_PX
    out = np.full(len(boxes), np.nan)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        if not np.isfinite(x1):
            continue
        c0, c1 = int(np.clip(np.floor(x1), m, w - m)), int(np.clip(np.ceil(x2), m, w - m))
        r0, r1 = int(np.clip(np.floor(y1), m, h - m)), int(np.clip(np.ceil(y2), m, h - m))
        step = max(1, int(np.sqrt(max(r1 - r0, 0) * max(c1 - c0, 0) / MAX_REGION_PX)))
        if c1 - c0 < 4 * step or r1 - r0 < 4 * step:
            continue
        here = grey[r0:r1:step, c0:c1:step]
        shifted = (previous[r0 + dy:r1 + dy:step, c0 + dx:c1 + dx:step]
                   for dy in range(-m, m + 1) for dx in range(-m, m + 1))
        best = min(shifted, key=lambda prev: float(np.mean(np.abs(here - prev))))
        out[k] = _residual(here, best)
    return out


def track_motion(frames: Iterable[tuple[float, np.ndarray]], tracks: Sequence[SourceTrack],
                 display_size: tuple[int, int], fps: float, n_frames: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Motion energies of grey frames (time_s, (h, w)) whose picture is the shown one
    (boxes are in `display_size` pixels): box (K, n_frames) and part cells (K, C, n_frames)
    (part_cells); NaN where a track or cell is absent or no frame difference was measured."""
    cells = len(PERSON_PART_ROWS)
    box = np.full((len(tracks), n_frames), np.nan)
    part = np.full((len(tracks), cells, n_frames), np.nan)
    times = np.arange(n_frames) / fps
    per_track = [boxes_at(tr, times) for tr in tracks]
    parts = [part_cells(b, tr.source_class) for b, tr in zip(per_track, tracks)]
    previous = None
    for t, grey in frames:
        i = int(round(t * fps))
        if previous is not None and previous.shape == grey.shape and 0 <= i < n_frames:
            diff = np.abs(grey - previous)
            integral = np.zeros((diff.shape[0] + 1, diff.shape[1] + 1))
            integral[1:, 1:] = diff.cumsum(axis=0).cumsum(axis=1)
            sx, sy = grey.shape[1] / display_size[0], grey.shape[0] / display_size[1]
            scale = np.array([sx, sy, sx, sy])
            box[:, i] = _region_means(integral, np.array([b[i] for b in per_track]) * scale)
            here = np.array([p[i] for p in parts]).reshape(-1, 4) * scale
            part[:, :, i] = _compensated(grey, previous, here).reshape(len(tracks), cells)
        previous = grey
    return box, part


def audio_envelope(chunks: Iterable[np.ndarray], sample_rate: int, fps: float, n_frames: int,
                   classes: Sequence[str], activity: ActivityModel | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The mono's RMS per frame interval (n_frames,) and the activity probability of each
    class in `classes` at the interval's centre (len(classes), n_frames): 0.5 without a
    model or for a class it does not know."""
    power = np.zeros(n_frames)
    count = np.zeros(n_frames)
    probs = np.full((len(classes), n_frames), 0.5)
    tracker = ActivityTracker(activity, sample_rate) if activity is not None else None
    index = {c: i for i, c in enumerate(activity.classes)} if activity is not None else {}
    offset = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float64).reshape(-1)
        bins = ((offset + np.arange(chunk.size)) * fps / sample_rate).astype(np.int64)
        keep = bins < n_frames
        power += np.bincount(bins[keep], chunk[keep] ** 2, n_frames)
        count += np.bincount(bins[keep], minlength=n_frames)
        if tracker is not None:
            tracker.update(chunk)
            lo = int(np.ceil(offset * fps / sample_rate - 0.5))
            hi = min(n_frames, int((offset + chunk.size) * fps / sample_rate - 0.5) + 1)
            if hi > lo:
                at = tracker.at((np.arange(max(lo, 0), hi) + 0.5) / fps)
                for k, c in enumerate(classes):
                    if c in index:
                        probs[k, max(lo, 0):hi] = at[:, index[c]]
        offset += chunk.size
    return np.sqrt(power / np.maximum(count, 1)), probs
