"""Counting instrument boxes on reference people (models.real_people), per frame and
through a tracking run's replay, with stand-in detectors."""

from __future__ import annotations

import numpy as np

from binaural.spatial.tracks import Detection
from models.real_people import TrackedReplay, count_on_people

PERSON = (100.0, 100.0, 140.0, 200.0)
ON_HER = (102.0, 110.0, 138.0, 190.0)  # a second name for her body (IoU 0.72)
ELSEWHERE = (400.0, 100.0, 430.0, 130.0)


class Tracking:
    """Per frame index: the detections a tracking run gives (a violin track on her in
    frame 1 only, a guitar elsewhere in frames 0 and 2)."""

    def track(self, frames):
        out = []
        for t, _ in frames:
            k = round(t * 2.0)
            out.append(Detection(t=t, track_id=1, label="person", confidence=0.9, box=PERSON))
            if k == 1:
                out.append(Detection(t=t, track_id=2, label="violin", confidence=0.5,
                                     box=ON_HER))
            if k in (0, 2):
                out.append(Detection(t=t, track_id=3, label="guitar", confidence=0.6,
                                     box=ELSEWHERE))
        return out


def test_a_replay_gives_each_frame_its_own_tracked_detections_and_they_are_counted():
    frames = [np.zeros((360, 640, 3), np.uint8)] * 3
    replay = TrackedReplay(Tracking(), frames, fps=2.0)
    assert [lab for lab, _, _ in replay.detect(frames[0])] == ["person", "guitar"]
    assert [lab for lab, _, _ in replay.detect(frames[1])] == ["person", "violin"]
    replay = TrackedReplay(Tracking(), frames, fps=2.0)
    refs = [np.array([PERSON])] * 3
    figures = count_on_people(replay, frames, refs, cross_iou=0.3)
    assert figures["instrument boxes"] == 3
    assert figures["people called an instrument"] == 1
    assert figures["parts of people called an instrument"] == 1
    assert figures["people found"] == 3
    assert replay.seconds >= 0.0
