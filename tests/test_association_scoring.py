"""Scoring against the sounding source at each time (binaural.eval.association) and the
per-group table (binaural.eval.groups), on hand-made tracks and truths."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from binaural.eval.association import (
    association_accuracy,
    heard_azimuth,
    heard_direction_error_deg,
    truth_per_window,
)
from binaural.eval.direction import DirectionTrack
from binaural.eval.groups import group_table, group_table_md
from binaural.spatial.tracks import SourceTrack

if "sounding" in {f.name for f in dataclasses.fields(SourceTrack)}:
    Track = SourceTrack
else:  # until the localization estimates it: the same field, as the association reads it
    @dataclasses.dataclass(frozen=True)
    class Track(SourceTrack):
        sounding: np.ndarray | None = None

T = np.arange(0.0, 6.0001, 0.2)  # track samples (s)
LEFT_BOX, RIGHT_BOX = (100.0, 50.0, 200.0, 300.0), (440.0, 50.0, 540.0, 300.0)


def track(box, azimuth, sounding=None, source_id=0, times=T, shift=0.0) -> SourceTrack:
    n = len(times)
    boxes = np.tile(np.asarray(box, np.float64) + [shift, 0, shift, 0], (n, 1))
    kwargs = {} if sounding is None else {"sounding": np.asarray(sounding, np.float64)}
    cls = Track if sounding is not None else SourceTrack
    return cls(source_id=source_id, source_class="person", detector_label="person",
               confidence=0.9, times_s=times, azimuth_deg=np.full(n, azimuth),
               elevation_deg=np.zeros(n), distance_m=np.full(n, 3.0), boxes=boxes, **kwargs)


def turn_taking_truth():
    """Left person speaks 0-2 s and 4-5 s, right person 2-4 s; nobody 5-6 s."""
    truth = {"sources": [{"sounding": [[0.0, 2.0], [4.0, 5.0]], "silent": False},
                         {"sounding": [[2.0, 4.0]], "silent": False}]}
    return truth, [track(LEFT_BOX, 20.0), track(RIGHT_BOX, -20.0, source_id=1)]


def test_heard_azimuth_follows_the_turns_and_is_nan_without_one_speaker():
    truth, tracks = turn_taking_truth()
    az = heard_azimuth(truth, tracks, np.array([0.5, 2.5, 4.5, 5.5]))
    assert az[:3].tolist() == [20.0, -20.0, 20.0]
    assert np.isnan(az[3])
    both = {"sources": [{"silent": False}, {"silent": False}]}  # no spans: both all along
    assert np.isnan(heard_azimuth(both, tracks, np.array([1.0]))).all()


def test_a_silent_distractor_is_never_the_heard_source():
    truth = {"sources": [{"sounding": [[0.0, 6.0]]}, {"sounding": [], "silent": True}]}
    tracks = [track(LEFT_BOX, 15.0), track(RIGHT_BOX, -15.0, source_id=1)]
    assert (heard_azimuth(truth, tracks, T[:-1]) == 15.0).all()


def test_heard_direction_error_scores_each_turn_against_its_speaker():
    truth, tracks = turn_taking_truth()
    times = np.arange(0.125, 6.0, 0.125)
    heard = np.where(times < 2.0, 18.0, np.where(times < 4.0, -20.0, 20.0))
    direction = DirectionTrack(times, heard, np.zeros_like(times), np.zeros_like(times),
                               np.ones_like(times, dtype=bool))
    # windows in turn 1 are 2 deg off, the others exact: the median is 0
    assert heard_direction_error_deg(direction, truth, tracks) == pytest.approx(0.0)
    stuck = dataclasses.replace(direction, azimuth_deg=np.full_like(times, 20.0))
    # a renderer stuck on the left person: 40 deg off in the right one's turn (16 of 40
    # scored windows), exact elsewhere
    assert heard_direction_error_deg(stuck, truth, tracks) == pytest.approx(0.0)
    assert heard_direction_error_deg(dataclasses.replace(
        stuck, azimuth_deg=np.full_like(times, -20.0)), truth, tracks) == pytest.approx(40.0)


def test_truth_per_window_marks_the_majority_speaker_and_silence():
    truth, tracks = turn_taking_truth()
    assert truth_per_window(truth, tracks, 6.0) == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, None, None]


def probabilities(left_on, right_on):
    left = np.where(left_on(T), 0.9, 0.1)
    right = np.where(right_on(T), 0.8, 0.05)
    return left, right


def test_association_accuracy_is_perfect_when_the_sounding_track_is_the_speaker():
    truth, truth_tracks = turn_taking_truth()
    left, right = probabilities(lambda t: (t < 2.0) | ((t >= 4.0) & (t < 5.0)),
                                lambda t: (t >= 2.0) & (t < 4.0))
    predicted = [track(LEFT_BOX, 19.0, left, shift=5.0), track(RIGHT_BOX, -21.0, right, 1)]
    result = association_accuracy(predicted, truth, truth_tracks, 6.0)
    assert result == {"association_accuracy": 1.0, "association_windows": 12,
                      "sound_windows": 10}


def test_association_accuracy_counts_a_track_stuck_on_one_person_and_a_false_claim():
    truth, truth_tracks = turn_taking_truth()
    # the left track claims every window, even the silent last second
    left, right = probabilities(lambda t: t >= 0.0, lambda t: t < 0.0)
    predicted = [track(LEFT_BOX, 20.0, left), track(RIGHT_BOX, -20.0, right, 1)]
    result = association_accuracy(predicted, truth, truth_tracks, 6.0)
    assert result["association_accuracy"] == pytest.approx(6 / 12)  # left's 6 windows only
    # a track on nobody (no box overlap) is never the speaker
    stray = [track((600.0, 0.0, 640.0, 40.0), 0.0, np.full(len(T), 0.9))]
    assert association_accuracy(stray, truth, truth_tracks, 6.0)["association_accuracy"] \
        == pytest.approx(0.0)
    # no track at all: only the silent windows are right
    assert association_accuracy([], truth, truth_tracks, 6.0)["association_accuracy"] \
        == pytest.approx(2 / 12)


def test_association_is_not_applicable_without_a_sounding_estimate():
    truth, truth_tracks = turn_taking_truth()
    assert association_accuracy([track(LEFT_BOX, 20.0)], truth, truth_tracks, 6.0) is None


def test_group_table_takes_medians_and_pools_windows():
    def entry(group, heard, assoc):
        return {"group": group, "n_sources": 1, "association": assoc,
                "systems": {"dsp": {"heard_direction_error_deg": heard,
                                    "band_ild_error_db": 1.0}}}

    clips = {"a": entry("1 person", 2.0, {"association_accuracy": 1.0,
                                          "association_windows": 10, "sound_windows": 9}),
             "b": entry("1 person", 4.0, {"association_accuracy": 0.5,
                                          "association_windows": 30, "sound_windows": 30}),
             "c": entry("1 person", 30.0, None),
             "d": entry("turn-taking", 9.0, None)}
    table = group_table(clips, ["dsp"])
    assert list(table) == ["1 person", "turn-taking"]
    assert table["1 person"]["systems"]["dsp"]["heard_direction_error_deg"] == 4.0
    assert table["1 person"]["association_accuracy"] == pytest.approx((10 + 15) / 40)
    assert table["turn-taking"]["association_accuracy"] is None
    lines = group_table_md(table, ["dsp"])
    assert "| turn-taking | 1 | dsp | 9.00 | n/a |" in lines[-1]
    assert group_table({"x": {"n_sources": 1, "systems": {}}}, ["dsp"]) is None


def test_the_report_groups_clips_by_their_named_group(tmp_path):
    from binaural.eval.report import metrics_document, write_report_md

    def entry(group, heard):
        values = {"heard_direction_error_deg": heard, "band_ild_error_db": 2.0}
        return {"group": group, "n_sources": 1, "systems": {"dsp": values},
                "reference": {"heard_direction_error_deg": 0.5}}

    clips = {"a": entry("1 person", 1.0), "b": entry("distractor static", 20.0),
             "c": entry("1 person", 3.0)}
    document = metrics_document(["dsp"], clips, {}, {"dataset": "real", "split": "all"})
    assert list(document["aggregate"]) == ["all", "1 person", "distractor static"]
    assert document["counts"] == {"all": 3, "1 person": 2, "distractor static": 1}
    assert document["groups"]["1 person"]["systems"]["dsp"]["heard_direction_error_deg"] == 2.0
    write_report_md(tmp_path / "report.md", document)
    report = (tmp_path / "report.md").read_text()
    assert "## Per group" in report and "## Group: distractor static (1)" in report
    assert "| distractor static | 1 | dsp | 20.00 | n/a |" in report
