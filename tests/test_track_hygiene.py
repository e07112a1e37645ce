"""One track per object: duplicate ids merged, fragments bridged, crossings kept apart
(binaural.spatial.track_hygiene)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from binaural.spatial.config import DEFAULT_CLASS_MAP, LocalizeConfig
from binaural.spatial.track_hygiene import relink_tracks
from binaural.spatial.tracks import Detection

CFG = LocalizeConfig()
DT = 0.2


def _walk(track_id, times, x0, vx, label="person", height=100.0, y=50.0, conf=0.9):
    return [Detection(float(t), track_id, label, conf,
                      (x0 + vx * t - 20, y, x0 + vx * t + 20, y + height)) for t in times]


def _relink(detections, **over):
    cfg = replace(CFG, **over)
    return relink_tracks(detections, DEFAULT_CLASS_MAP, cfg.duplicate_iou, cfg.bridge_gap_s,
                         cfg.bridge_distance, cfg.bridge_size_ratio)


def _ids(detections):
    return sorted({d.track_id for d in detections})


def test_a_track_lost_for_a_second_and_found_where_it_was_heading_is_one_track():
    before = np.arange(0, 2, DT)
    after = np.arange(3, 5, DT)  # hidden from 2 s to 3 s, still walking at 50 px/s
    dets = _walk(1, before, 100, 50) + _walk(7, after, 100, 50)
    out = _relink(dets)
    assert _ids(out) == [1] and len(out) == len(dets)
    assert [d.t for d in out] == sorted(d.t for d in dets)


def test_a_new_track_elsewhere_too_late_or_of_another_size_stays_apart():
    first = _walk(1, np.arange(0, 2, DT), 100, 50)
    elsewhere = _walk(2, np.arange(3, 5, DT), 500, 50)
    too_late = _walk(3, np.arange(5, 7, DT), 400, 50)  # 2.2 s after track 2 ended
    smaller = _walk(4, np.arange(7.4, 9, DT), 400 + 50 * 7.4, 0, height=40)
    assert _ids(_relink(first + elsewhere)) == [1, 2]
    assert _ids(_relink(elsewhere + too_late)) == [2, 3]
    assert _ids(_relink(too_late + smaller)) == [3, 4]


def test_another_class_is_never_a_continuation():
    dets = _walk(1, np.arange(0, 2, DT), 100, 50) + _walk(2, np.arange(2.4, 4, DT), 100, 50,
                                                          label="violin")
    assert _ids(_relink(dets)) == [1, 2]


def test_two_ids_on_one_object_at_once_become_one_keeping_the_surer_box():
    times = np.arange(0, 3, DT)
    main = _walk(1, times, 100, 30, conf=0.9)
    second = _walk(2, times[5:10], 102, 30, conf=0.95)  # the same person, a second id
    out = _relink(main + second)
    assert _ids(out) == [1] and len(out) == len(main)
    assert sorted(d.confidence for d in out).count(0.95) == 5


def test_two_people_crossing_keep_their_own_tracks():
    """Crossing boxes overlap only around the crossing: not duplicates; and neither id
    ends, so nothing is bridged."""
    times = np.arange(0, 4, DT)
    a = _walk(1, times, 100, 100)  # left to right
    b = _walk(2, times, 500, -100)  # right to left, crossing at t = 2 s
    out = _relink(a + b)
    assert _ids(out) == [1, 2]
    for tid, sign in ((1, 1), (2, -1)):
        xs = [(d.box[0] + d.box[2]) / 2 for d in out if d.track_id == tid]
        assert np.all(sign * np.diff(xs) > 0)  # each id keeps one direction of travel


def test_a_swap_at_a_crossing_is_not_bridged_into_the_wrong_person():
    """The tracker loses both at the crossing and starts new ids: each continues the
    person heading its way, not the one nearest to where it ended."""
    before, after = np.arange(0, 1.8, DT), np.arange(2.4, 4, DT)
    dets = (_walk(1, before, 100, 100) + _walk(2, before, 500, -100)
            + _walk(3, after, 100, 100) + _walk(4, after, 500, -100))
    out = _relink(dets)
    assert _ids(out) == [1, 2]
    for tid, sign in ((1, 1), (2, -1)):
        xs = [(d.box[0] + d.box[2]) / 2 for d in out if d.track_id == tid]
        assert np.all(sign * np.diff(xs) > 0)


@pytest.mark.parametrize("labels", [("kite",), ()])
def test_labels_outside_the_class_map_pass_through(labels):
    dets = [d for lab in labels for d in _walk(5, np.arange(0, 1, DT), 0, 0, label=lab)]
    assert _relink(dets) == sorted(dets, key=lambda d: (d.t, d.track_id))


def test_drawn_people_crossing_in_front_of_the_real_detectors_stay_two_tracks():
    """The default detectors and ByteTrack on two drawn people crossing (one passes in
    front of the other): after relinking, two person tracks, one per walker, each
    heading its own way."""
    from binaural.synth.sprites import draw_background, render_frame
    from flows.params import load_params
    from models.builders import build_detector

    detector = build_detector(replace(load_params().detector, device="cpu", threads=2))
    background = draw_background(360, 640, np.random.default_rng(3))
    frames = []
    for k in range(25):  # 5 s at 5 fps
        x = 100 + 18 * k
        # the later sprite is drawn over the earlier one: b walks in front of a
        frames.append((k * DT, render_frame(background, [("person", x, 190, 170),
                                                         ("person", 640 - x, 200, 180)])[0]))
    raw = detector.track(frames)
    out = _relink(raw)
    people = [d for d in out if d.label == "person"]
    spans = {tid: [d for d in people if d.track_id == tid] for tid in _ids(people)}
    long = {tid: ds for tid, ds in spans.items() if ds[-1].t - ds[0].t >= 3.0}
    assert len(long) == 2, {k: (v[0].t, v[-1].t) for k, v in spans.items()}
    directions = sorted(np.sign(ds[-1].box[0] - ds[0].box[0]) for ds in long.values())
    assert directions == [-1, 1]
    assert len(_ids(people)) <= len({d.track_id for d in raw if d.label == "person"})


VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"  # Debian opencv-doc


@pytest.mark.skipif(not Path(VTEST).is_file(), reason=f"{VTEST} absent (apt-get install "
                    "opencv-doc): no real pedestrians")
def test_real_pedestrians_get_fewer_ids_and_none_teleports():
    """12 s of vtest.avi's pedestrians, the pose model alone at the size its small people
    need: relinking leaves fewer ids, no two on one person at once, and no id whose
    person jumps further than walking allows between two sightings."""
    from binaural.io.video import iter_frames
    from binaural.spatial.box_merge import iou_matrix
    from flows.params import load_params
    from models.builders import build_detector

    cfg = load_params().detector
    pose = replace(cfg.models[0], imgsz=1280)
    detector = build_detector(replace(cfg, models=(pose,), device="cpu", threads=2))
    frames = [(t, f) for t, f in iter_frames(VTEST, 5.0) if t < 12.0]
    raw = detector.track(frames)
    out = _relink(raw)
    assert len(_ids(out)) < len(_ids(raw))
    tracks = {tid: [d for d in out if d.track_id == tid] for tid in _ids(out)}
    for tid, dets in tracks.items():
        for a, b in zip(dets, dets[1:]):
            height = a.box[3] - a.box[1]
            moved = np.hypot((a.box[0] + a.box[2] - b.box[0] - b.box[2]) / 2,
                             (a.box[1] + a.box[3] - b.box[1] - b.box[3]) / 2)
            assert moved <= height * (1.0 + (b.t - a.t)), (tid, a.t, b.t)
        for other, odets in tracks.items():
            if other <= tid:
                continue
            at = {d.t: d for d in odets}
            shared = [(d, at[d.t]) for d in dets if d.t in at]
            same = sum(iou_matrix(np.array([x.box]), np.array([y.box]))[0, 0]
                       >= CFG.duplicate_iou for x, y in shared)
            assert not shared or same * 2 < len(shared)
