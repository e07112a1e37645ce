"""Merging several detectors' boxes in one frame (binaural.spatial.box_merge)."""

from __future__ import annotations

import numpy as np
import pytest

from binaural.spatial.box_merge import FrameBoxes, iou_matrix, merge_frame


def _boxes(*items):
    return FrameBoxes(np.array([b for b, _, _ in items], np.float64).reshape(-1, 4),
                      np.array([c for _, c, _ in items]), tuple(lab for _, _, lab in items))


def test_iou_of_known_boxes():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 50 / 150, 0.0, 0.0])


def test_one_object_seen_by_two_detectors_is_kept_once_with_the_higher_confidence():
    pose = _boxes(((100, 50, 160, 250), 0.6, "person"))
    own = _boxes(((102, 55, 162, 245), 0.9, "person"), ((400, 50, 460, 250), 0.8, "person"))
    merged, origin = merge_frame([pose, own], same_iou=0.5, cross_iou=0.3)
    assert merged.labels == ("person", "person")
    assert sorted(merged.confidences) == pytest.approx([0.8, 0.9])  # the 0.6 copy went
    assert list(origin) == [1, 1]


def test_a_person_is_not_also_an_instrument_but_a_held_instrument_stays():
    person = (100, 50, 200, 350)
    pose = _boxes((person, 0.7, "person"))
    own = _boxes(((105, 60, 195, 340), 0.95, "piano"),  # the whole person called a piano
                 ((150, 80, 190, 140), 0.8, "violin"),  # a violin under the chin: kept
                 ((500, 50, 600, 350), 0.9, "trumpet"))  # elsewhere: kept
    merged, origin = merge_frame([pose, own], same_iou=0.5, cross_iou=0.3)
    assert merged.labels == ("person", "trumpet", "violin")  # by detector, then confidence
    assert list(origin) == [0, 1, 1]


def test_the_list_order_decides_a_cross_class_conflict():
    a = _boxes(((0, 0, 100, 100), 0.4, "dog"))
    b = _boxes(((0, 0, 100, 100), 0.9, "car"))
    assert merge_frame([a, b], 0.5, 0.3)[0].labels == ("dog",)
    assert merge_frame([b, a], 0.5, 0.3)[0].labels == ("car",)


def test_nothing_in_gives_nothing_out():
    empty = _boxes()
    merged, origin = merge_frame([empty, empty], 0.5, 0.3)
    assert len(merged) == 0 and merged.boxes.shape == (0, 4) and origin.shape == (0,)


def test_one_detector_naming_one_object_twice_keeps_the_more_confident_name():
    """Per-class NMS lets one model call a walker both `person` and `violin` (seen on
    held-out real frames); a violin it finds held by a person it also finds stays."""
    own = _boxes(((100, 50, 160, 250), 0.68, "person"),
                 ((102, 60, 158, 170), 0.31, "violin"),  # the jacket: IoU 0.5 with her
                 ((120, 60, 140, 90), 0.9, "violin"))  # a held violin: small, kept
    merged, _ = merge_frame([own], same_iou=0.5, cross_iou=0.3)
    assert sorted(merged.labels) == ["person", "violin"]
    assert max(merged.confidences) == pytest.approx(0.9)
    weak_person = _boxes(((100, 50, 160, 250), 0.2, "person"),
                         ((102, 60, 158, 170), 0.31, "violin"))
    assert merge_frame([weak_person], 0.5, 0.3)[0].labels == ("violin",)


def test_veto_only_boxes_veto_a_later_detector_but_are_never_kept():
    pose = FrameBoxes(np.array([[100, 50, 160, 250], [400, 50, 460, 250]], np.float64),
                      np.array([0.12, 0.15]), ("person", "person"), np.array([True, True]))
    own = _boxes(((102, 60, 158, 170), 0.5, "violin"),  # on the unsure person: vetoed
                 ((120, 60, 140, 90), 0.9, "trumpet"),  # small, held: kept
                 ((402, 55, 458, 245), 0.4, "person"))  # same label: not vetoed, kept
    merged, origin = merge_frame([pose, own], same_iou=0.5, cross_iou=0.3)
    assert merged.labels == ("trumpet", "person")
    assert list(origin) == [1, 1]
    alone = merge_frame([pose], 0.5, 0.3)[0]
    assert len(alone) == 0 and alone.boxes.shape == (0, 4)
