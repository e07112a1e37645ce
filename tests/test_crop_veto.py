"""The person veto on an upscaled crop (models.crop_veto), with a stand-in person finder:
the crop's window, the merge's IoU rule in frame pixels, and when a track is looked at."""

from __future__ import annotations

import numpy as np
import pytest

from models.config import DetectorConfig
from models.crop_veto import CropVeto, TrackLooks, crop_scale, crop_window, resized

FRAME = np.zeros((360, 640, 3), np.uint8)


def finder_of(people_in_frame, seen: list | None = None):
    """A person finder that 'sees' fixed frame-pixel boxes, cut to the crop it is given
    (the window is recovered from the last crop_window call the test makes)."""
    def find(crop: np.ndarray) -> np.ndarray:
        if seen is not None:
            seen.append(crop.shape[:2])
        return np.asarray(people_in_frame, np.float64).reshape(-1, 4)
    return find


@pytest.mark.parametrize(("box", "margin", "window"), [
    ((100, 100, 140, 180), 1.0, (60, 20, 180, 260)),   # 3 box sizes wide and high
    ((100, 100, 140, 180), 0.5, (80, 60, 160, 220)),
    ((10, 300, 50, 350), 1.0, (0, 250, 90, 360)),       # clipped to the frame
])
def test_the_crop_window_grows_the_box_by_the_margin_within_the_frame(box, margin, window):
    assert crop_window(box, margin, 360, 640) == window


def test_a_person_the_box_names_is_found_in_frame_pixels():
    box = (100, 100, 140, 180)
    x1, y1, *_ = crop_window(box, 1.0, 360, 640)
    # the finder reports in crop pixels: the person under the box, a little taller
    person_in_crop = (100 - x1 - 4, 100 - y1 - 10, 140 - x1 + 4, 180 - y1 + 30)
    veto = CropVeto(finder_of([person_in_crop]), margin=1.0, cross_iou=0.3)
    people = veto.people(FRAME, box)
    np.testing.assert_allclose(people, [[96, 90, 144, 210]])
    assert veto.is_person(FRAME, box)


def test_a_held_instrument_far_smaller_than_its_player_survives():
    violin = (300, 100, 330, 130)  # 30 x 30 px under a chin
    x1, y1, x2, y2 = crop_window(violin, 1.0, 360, 640)
    # the player fills the whole crop (she is larger than it): IoU 1/9 < 0.3
    veto = CropVeto(finder_of([(0, 0, x2 - x1, y2 - y1)]), margin=1.0, cross_iou=0.3)
    assert not veto.is_person(FRAME, violin)


def test_no_person_no_veto_and_the_finder_sees_the_crop():
    seen: list = []
    veto = CropVeto(finder_of([], seen), margin=1.0, cross_iou=0.3)
    assert not veto.is_person(FRAME, (100, 100, 140, 180))
    assert seen == [(240, 120)]


def test_a_box_outside_the_frame_is_not_looked_at():
    seen: list = []
    veto = CropVeto(finder_of([(0, 0, 5, 5)], seen), margin=1.0, cross_iou=0.3)
    assert not veto.is_person(FRAME, (700, 400, 720, 420))
    assert seen == []


def test_a_track_is_looked_at_first_then_every_interval_at_most_max_times():
    looks = TrackLooks(every_s=1.0, max_looks=2)
    assert looks.due(1, 0.0)
    looks.record(1, 0.0, person=False)
    assert not looks.due(1, 0.5)
    assert looks.due(1, 1.0)
    looks.record(1, 1.0, person=False)
    assert not looks.due(1, 5.0)  # looked at twice: enough
    assert looks.due(2, 0.5)  # another track has its own count
    looks.record(2, 0.5, person=True)
    assert looks.vetoed == {2}
    assert not looks.due(2, 10.0)  # a person already: not looked at again


def test_the_settings_are_checked():
    with pytest.raises(ValueError):
        DetectorConfig(verify_max=0)
    with pytest.raises(ValueError):
        DetectorConfig(verify_margin=-0.5)
    with pytest.raises(ValueError):
        DetectorConfig(verify_conf=0.0)
    with pytest.raises(ValueError):
        CropVeto(finder_of([]), margin=-1.0, cross_iou=0.3)


@pytest.mark.parametrize(("shape", "scale"), [
    ((93, 57), 1.7),       # a tiny box's crop: enlarged no more than max_scale
    ((300, 198), 480 / 300),
    ((960, 300), 0.5),     # larger than imgsz: shrunk to it
])
def test_a_crop_is_enlarged_to_imgsz_but_by_at_most_max_scale(shape, scale):
    assert crop_scale(shape, 480, 1.7) == pytest.approx(scale)
    assert resized(np.zeros((*shape, 3), np.uint8), scale).shape[:2] == (
        round(shape[0] * scale), round(shape[1] * scale))


def test_a_person_the_frame_pass_saw_is_left_to_the_merge():
    """The crop may cut a seen player down to the box she holds; the merge judged her on
    her whole box, so only people the frame pass missed veto on the crop."""
    violin = (100, 100, 140, 180)
    x1, y1, *_ = crop_window(violin, 1.0, 360, 640)
    cut_down = (100 - x1 - 4, 100 - y1 - 10, 140 - x1 + 4, 180 - y1 + 30)  # in crop px
    veto = CropVeto(finder_of([cut_down]), margin=1.0, cross_iou=0.3, same_iou=0.5)
    on_crop = np.array([[96, 90, 144, 210]], np.float64)  # cut_down in frame pixels
    whole = np.array([[60, 40, 200, 360]], np.float64)  # the player's whole box...
    assert veto.is_person(FRAME, violin, seen=whole)  # ...not the crop's person: vetoes
    assert not veto.is_person(FRAME, violin, seen=on_crop + 2)  # seen: left to the merge
    assert veto.is_person(FRAME, violin, seen=np.zeros((0, 4)))
