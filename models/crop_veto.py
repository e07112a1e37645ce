"""The person veto, looked at again on an upscaled crop: is an instrument box a person?

The frame pass of the veto model (the pose model, params `detector.models[].veto_conf`)
sees a small or low-contrast person at too few pixels: it may miss her entirely, and a
later model's instrument box on her body then survives the merge (held-out vtest: a
walker in a red jacket our model calls a violin, whom the pose model at the frame's size
hardly sees). The crop around the box, enlarged so its long side is `imgsz` but by at
most `max_scale` (about the reference pass's 1.7, models.real_people), gives her the
pixels a reference pass at 1280 would. The rule is the merge's own: a person from
veto_conf up overlapping the box by IoU >= cross_class_iou makes it a second name for the
body. A held instrument, far smaller than its player, survives as it does in the merge.

The crop spans `margin` box sizes beyond the box on each side: a player larger than the
crop is clipped to it, and a clipped box filling the whole crop overlaps the box by
1 / (1 + 2 margin)^2 (1/9 at 1.0), well under cross_class_iou, so a player cut down to
the crop does not veto what she holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from binaural.spatial.box_merge import iou_matrix


def crop_window(box: Sequence[float], margin: float, height: int, width: int
                ) -> tuple[int, int, int, int]:
    """The pixel window (x1, y1, x2, y2) of a box grown by `margin` of its width and
    height on each side, clipped to the frame (width x height)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return (max(0, int(np.floor(x1 - dx))), max(0, int(np.floor(y1 - dy))),
            min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy))))


def crop_scale(shape: tuple[int, int], imgsz: int, max_scale: float) -> float:
    """The enlargement of a crop of `shape` (h, w): its long side to imgsz, but at most
    max_scale (enlarged further, a lone tiny violin's scroll and body pass for a person)."""
    return min(imgsz / max(shape), max_scale)


def resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    """The image scaled by `scale` (at least 1 x 1 pixel)."""
    import cv2

    h, w = bgr.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)


class CropVeto:
    """Looks for a person covering a box on the crop around it.

    `find_people`: BGR crop -> (n, 4) pixel boxes of the people in it from veto_conf up
    (the veto model's pass at the crop size, models.detector.DetectorModelRunner).
    """

    def __init__(self, find_people: Callable[[np.ndarray], np.ndarray], margin: float,
                 cross_iou: float, same_iou: float = 0.5) -> None:
        if margin < 0:
            raise ValueError(f"detector.verify_margin {margin} < 0")
        self.find_people, self.margin, self.cross_iou = find_people, margin, cross_iou
        self.same_iou = same_iou

    def people(self, bgr: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """(n, 4) frame-pixel boxes of the people found on the crop around `box`."""
        x1, y1, x2, y2 = crop_window(box, self.margin, *bgr.shape[:2])
        if x2 - x1 < 2 or y2 - y1 < 2:
            return np.zeros((0, 4))
        found = np.asarray(self.find_people(np.ascontiguousarray(bgr[y1:y2, x1:x2])),
                           np.float64).reshape(-1, 4)
        return found + np.array([x1, y1, x1, y1], np.float64)

    def is_person(self, bgr: np.ndarray, box: Sequence[float],
                  seen: np.ndarray | None = None) -> bool:
        """Whether a person on the crop overlaps the box by IoU >= cross_iou, leaving out
        the people the frame pass saw (`seen`, (m, 4); IoU >= same_iou: the same one): the
        merge judged those on their whole box, which the crop may cut down to the box (a
        violin held to the face of a player filling a close-up)."""
        people = self.people(bgr, box)
        if seen is not None and len(seen) and len(people):
            people = people[iou_matrix(people, seen).max(axis=1) < self.same_iou]
        box_arr = np.asarray(box[:4], np.float64)[None]
        return bool(len(people)) and bool(iou_matrix(box_arr, people).max() >= self.cross_iou)


class TrackLooks:
    """When a track is looked at: its first look at once, then one every `every_s`, at
    most `max_looks`; a track once found to be a person is not looked at again."""

    def __init__(self, every_s: float, max_looks: int) -> None:
        self.every_s, self.max_looks = every_s, max_looks
        self._looks: dict[int, tuple[float, int]] = {}  # track id -> (last look, count)
        self.vetoed: set[int] = set()

    def due(self, track_id: int, t: float) -> bool:
        if track_id in self.vetoed:
            return False
        last, count = self._looks.get(track_id, (-np.inf, 0))
        return count < self.max_looks and t - last >= self.every_s

    def record(self, track_id: int, t: float, person: bool) -> None:
        _, count = self._looks.get(track_id, (-np.inf, 0))
        self._looks[track_id] = (t, count + 1)
        if person:
            self.vetoed.add(track_id)
