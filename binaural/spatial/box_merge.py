"""Merging the boxes of several detectors in one frame, before tracking.

Each detector reports boxes already named by its class map (so "person" from the pose
model and "person" from a COCO model are the same label). Two rules, in the order the
detectors are listed (the earlier one is the specialist and wins):
- the same label, overlapping by IoU >= `same_iou`: one object seen twice; the box with
  the higher confidence is kept;
- different labels, overlapping by IoU >= `cross_iou`: one object given two names; the
  earlier detector's box is kept (a person the pose model found is not also a violin).
  Objects held or played by a person overlap the person's box far less than that, so
  a violin under a chin or a guitar on a lap survive. Two labels of one detector on one
  object (its NMS is per class): the more confident name is kept (measured on held-out
  real frames: our detector's `person` over a walker, with a weaker `violin` on her red
  jacket).
A detector's veto-only boxes (below its detection threshold) take no part but the veto:
they drop a later detector's box of another label overlapping them by IoU >= `cross_iou`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameBoxes:
    """One detector's boxes in one frame: (n, 4) x1 y1 x2 y2 pixels, (n,) confidences,
    n labels."""

    boxes: np.ndarray
    confidences: np.ndarray
    labels: tuple[str, ...]
    veto_only: np.ndarray | None = None  # (n,) bool: boxes that only veto (None: none)

    def __len__(self) -> int:
        return len(self.labels)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of `a` (n, 4) with every box of `b` (m, 4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def merge_frame(per_detector: list[FrameBoxes], same_iou: float, cross_iou: float
                ) -> tuple[FrameBoxes, np.ndarray]:
    """The merged boxes of one frame, and for each the index of the detector it came
    from. Boxes keep their detector's order, then their own (highest confidence first)."""
    boxes, confs, labels, origin, veto = [], [], [], [], []
    for k, found in enumerate(per_detector):
        for i in np.argsort(-np.asarray(found.confidences), kind="stable"):
            boxes.append(np.asarray(found.boxes[i], np.float64))
            confs.append(float(found.confidences[i]))
            labels.append(found.labels[i])
            origin.append(k)
            veto.append(found.veto_only is not None and bool(found.veto_only[i]))
    n = len(labels)
    if n == 0:
        return FrameBoxes(np.zeros((0, 4)), np.zeros(0), ()), np.zeros(0, int)
    overlap = iou_matrix(np.array(boxes), np.array(boxes))
    keep = np.ones(n, bool)
    # Greedy, strongest claim first: earlier detector, then higher confidence for the
    # same label (a same-label duplicate from a later detector may still win on confidence).
    order = sorted(range(n), key=lambda i: (origin[i], -confs[i]))
    for i in order:
        if not keep[i]:
            continue
        for j in range(n):
            if j == i or not keep[j]:
                continue
            if labels[j] == labels[i]:
                if (not veto[i] and not veto[j] and overlap[i, j] >= same_iou
                        and (confs[j], -origin[j]) < (confs[i], -origin[i])):
                    keep[j] = False
            elif overlap[i, j] >= cross_iou and (origin[j] > origin[i] or (
                    origin[j] == origin[i] and not veto[i] and confs[j] < confs[i])):
                keep[j] = False
    idx = np.flatnonzero(keep & ~np.array(veto, bool))
    merged = FrameBoxes(np.array(boxes)[idx].reshape(-1, 4), np.array(confs)[idx],
                        tuple(labels[i] for i in idx))
    return merged, np.array(origin)[idx]
