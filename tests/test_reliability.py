"""Whether a video's detections can be trusted (binaural.spatial.reliability), and what
the report and the CLI then say."""

from __future__ import annotations

import pytest

from binaural.spatial.config import DEFAULT_CLASS_MAP, LocalizeConfig
from binaural.spatial.reliability import assess_detections
from binaural.spatial.tracks import Detection
from flows.cli import _agreement_cell

CFG = LocalizeConfig()


def _track(track_id, labels, confidence=0.9, start=0.0, dt=0.2):
    return [Detection(start + i * dt, track_id, lab, confidence, (0.0, 0.0, 10.0, 10.0))
            for i, lab in enumerate(labels)]


def _assess(detections):
    return assess_detections(detections, DEFAULT_CLASS_MAP, CFG.short_track_s,
                             CFG.min_mean_confidence, CFG.max_label_flicker,
                             CFG.max_short_tracks)


def test_steady_confident_long_tracks_are_reliable():
    result = _assess(_track(1, ["person"] * 20) + _track(2, ["violin"] * 20))
    assert result.reliable and result.reasons == ()
    assert result.tracks == 2 and result.detections == 40
    assert result.mean_confidence == pytest.approx(0.9)
    assert result.label_flicker == 0.0 and result.short_track_fraction == 0.0


def test_a_class_that_flickers_on_one_track_is_a_reason():
    labels = ["violin", "piano", "trumpet", "violin"] * 5  # half the time off "violin"
    result = _assess(_track(1, labels))
    assert not result.reliable
    assert result.label_flicker == pytest.approx(0.5)
    assert any("flicker" in r for r in result.reasons)


def test_cat_and_dog_are_one_sound_class_and_do_not_flicker():
    assert _assess(_track(1, ["dog", "cat"] * 10)).label_flicker == 0.0


def test_low_confidence_and_many_short_tracks_are_reasons():
    weak = _assess(_track(1, ["person"] * 20, confidence=0.35))
    assert [r.split(" (")[0] for r in weak.reasons] == ["low detection confidence"]
    short = [d for k in range(6) for d in _track(k, ["piano"] * 3, start=2.0 * k)]
    many = _assess(short + _track(9, ["person"] * 20))
    assert many.short_track_fraction == pytest.approx(6 / 7)
    assert [r.split(" (")[0] for r in many.reasons] == ["many short tracks"]


def test_labels_outside_the_class_map_and_no_detections_say_nothing():
    assert _assess(_track(1, ["kite", "bench"] * 10)).tracks == 0
    nothing = _assess([])
    assert nothing.reliable and nothing.mean_confidence is None
    assert nothing.to_json()["reliable"] is True


def test_the_cli_prints_no_agreement_figure_for_unreliable_detections():
    good = {"agreement_with_detection_deg": 2.04, "detections_reliable": True}
    assert _agreement_cell(good) == "2.0"
    assert _agreement_cell(good | {"detections_reliable": False}) == "unreliable"
    assert _agreement_cell({"agreement_with_detection_deg": None}) == "-"
