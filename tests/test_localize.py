"""Tracked detections -> source tracks: grouping, class mapping, filtering, geometry."""

import numpy as np
import pytest

from binaural.spatial.geometry import Camera
from binaural.spatial.tracks import Detection, SourceTrack, build_tracks

CAMERA = Camera(320, 180, 65.0)
CLASS_MAP = {"person": "person", "cat": "dog", "guitar": "guitar"}
HEIGHTS = {"person": 1.7, "dog": 0.6, "guitar": 1.0}
FPS = 5.0


def _box(u: float, v: float, h: float, aspect: float = 0.4) -> tuple[float, ...]:
    return (u - aspect * h / 2, v - h / 2, u + aspect * h / 2, v + h / 2)


def _track(track_id: int, label: str, frames: int, confidence: float = 0.9,
           u: float = 160.0, v: float = 90.0, h: float = 60.0, t0: float = 0.0
           ) -> list[Detection]:
    return [Detection(t0 + i / FPS, track_id, label, confidence, _box(u, v, h))
            for i in range(frames)]


def _build(detections: list[Detection], min_track_s: float = 0.4, max_sources: int = 4,
           smoothing_s: float = 0.0) -> list[SourceTrack]:
    return build_tracks(detections, CAMERA, CLASS_MAP, HEIGHTS, smoothing_s=smoothing_s,
                        min_track_s=min_track_s, max_sources=max_sources)


def test_detections_are_grouped_by_track_id() -> None:
    a = _track(1, "person", 6, u=80.0)
    b = _track(2, "guitar", 6, u=240.0)
    interleaved = [d for pair in zip(b[::-1], a) for d in pair]  # shuffled in time and id
    tracks = {t.source_id: t for t in _build(interleaved)}
    assert set(tracks) == {1, 2}
    assert tracks[1].source_class == "person" and tracks[2].source_class == "guitar"
    for t in tracks.values():
        assert t.times_s.shape == t.azimuth_deg.shape == t.distance_m.shape == (6,)
        assert np.all(np.diff(t.times_s) > 0)
        assert t.boxes.shape == (6, 4)
    assert np.all(tracks[1].azimuth_deg > 0)  # left of the image: the listener's left
    assert np.all(tracks[2].azimuth_deg < 0)


def test_classes_are_mapped_and_unmapped_labels_dropped() -> None:
    dets = _track(1, "cat", 6) + _track(2, "tree", 6) + _track(3, "person", 6)
    tracks = {t.source_id: t for t in _build(dets)}
    assert set(tracks) == {1, 3}
    assert tracks[1].source_class == "dog"
    assert tracks[1].detector_label == "cat"


def test_the_majority_label_names_the_track() -> None:
    dets = _track(1, "person", 5) + _track(1, "guitar", 2, t0=1.0)
    (track,) = _build(dets)
    assert track.source_class == "person"
    assert track.times_s.size == 7


def test_short_tracks_are_dropped() -> None:
    dets = (_track(1, "person", 2)  # 0.2 s
            + _track(2, "person", 3)  # 0.4 s, just long enough
            + _track(3, "person", 1)  # a single detection
            + _track(4, "person", 10))
    assert {t.source_id for t in _build(dets, min_track_s=0.4)} == {2, 4}
    assert {t.source_id for t in _build(dets, min_track_s=1.0)} == {4}


def test_the_most_confident_sources_are_kept() -> None:
    dets = (_track(1, "person", 5, confidence=0.4)
            + _track(2, "person", 5, confidence=0.9)
            + _track(3, "person", 5, confidence=0.6)
            + _track(4, "person", 15, confidence=0.35))  # many weak detections: 5.25 summed
    kept = _build(dets, max_sources=2)
    assert [t.source_id for t in kept] == [4, 2]
    assert kept[1].confidence == pytest.approx(0.9)


def test_a_box_at_the_image_centre_is_straight_ahead() -> None:
    h = 60.0
    (track,) = _build(_track(1, "person", 5, u=CAMERA.cx, v=CAMERA.cy, h=h))
    np.testing.assert_allclose(track.azimuth_deg, 0.0, atol=1e-9)
    np.testing.assert_allclose(track.elevation_deg, 0.0, atol=1e-9)
    np.testing.assert_allclose(track.distance_m, CAMERA.focal_px * HEIGHTS["person"] / h)


def test_positions_follow_the_camera_model() -> None:
    dets = [Detection(i / FPS, 1, "person", 0.9, _box(40.0 + 40 * i, 70.0, 50.0 + 10 * i))
            for i in range(6)]
    (track,) = _build(dets)
    az, el, dist = CAMERA.box_to_position(np.array([d.box for d in dets]), HEIGHTS["person"])
    np.testing.assert_allclose(track.azimuth_deg, az)
    np.testing.assert_allclose(track.elevation_deg, el)
    np.testing.assert_allclose(track.distance_m, dist)


def test_smoothing_removes_jitter_but_keeps_the_mean() -> None:
    jitter = np.array([1, -1] * 5, dtype=float) * 8.0
    dets = [Detection(i / FPS, 1, "person", 0.9, _box(160.0 + jitter[i], 90.0, 60.0))
            for i in range(10)]
    raw, smooth = _build(dets)[0], _build(dets, smoothing_s=0.6)[0]
    assert np.std(smooth.azimuth_deg) < 0.5 * np.std(raw.azimuth_deg)
    assert np.mean(smooth.azimuth_deg) == pytest.approx(np.mean(raw.azimuth_deg), abs=0.5)


def test_source_track_json_round_trip() -> None:
    (track,) = _build(_track(7, "cat", 6, u=100.0, v=80.0, h=45.0), smoothing_s=0.6)
    data = track.to_json()
    assert data["id"] == 7 and data["class"] == "dog" and data["detector_label"] == "cat"
    assert set(data["track"][0]) == {"t", "azimuth_deg", "elevation_deg", "distance_m", "box"}
    back = SourceTrack.from_json(data)
    assert (back.source_id, back.source_class, back.detector_label) == (7, "dog", "cat")
    assert back.confidence == pytest.approx(track.confidence, abs=1e-4)
    np.testing.assert_allclose(back.times_s, track.times_s, atol=1e-4)
    np.testing.assert_allclose(back.azimuth_deg, track.azimuth_deg, atol=1e-3)
    np.testing.assert_allclose(back.elevation_deg, track.elevation_deg, atol=1e-3)
    np.testing.assert_allclose(back.distance_m, track.distance_m, atol=1e-3)
    np.testing.assert_allclose(back.boxes, track.boxes, atol=0.05)
    assert back.to_json() == data


def test_source_track_from_truth_json_without_detector_fields() -> None:
    data = {"class": "piano", "track": [
        {"t": 0.0, "azimuth_deg": 10.0, "elevation_deg": -2.0, "distance_m": 3.0},
        {"t": 0.04, "azimuth_deg": 11.0, "elevation_deg": -2.0, "distance_m": 3.1},
    ]}
    track = SourceTrack.from_json(data)
    assert track.detector_label == "piano" and track.confidence == 1.0
    assert track.boxes.shape == (2, 4)
    times, az, el, dist = track.as_tuple()
    np.testing.assert_allclose(az, [10.0, 11.0])
    np.testing.assert_allclose(dist, [3.0, 3.1])


def test_a_track_carries_the_mean_of_its_detections_embeddings() -> None:
    dets = _track(3, "person", 6)
    vectors = [np.full(4, 1.0, np.float32), np.full(4, 3.0, np.float32)]
    dets[1] = Detection(dets[1].t, 3, "person", 0.9, dets[1].box, embedding=vectors[0])
    dets[4] = Detection(dets[4].t, 3, "person", 0.9, dets[4].box, embedding=vectors[1])
    (track,) = build_tracks(dets, CAMERA, CLASS_MAP, HEIGHTS, 0.0, 0.4, 4, "det@x/recipe")
    np.testing.assert_allclose(track.embedding, np.full(4, 2.0))
    assert track.embedding_source == "det@x/recipe"
    back = SourceTrack.from_json(track.to_json())
    np.testing.assert_allclose(back.embedding, track.embedding)
    assert back.embedding_source == "det@x/recipe"
    (bare,) = build_tracks(_track(4, "person", 6), CAMERA, CLASS_MAP, HEIGHTS, 0.0, 0.4, 4,
                           "det@x/recipe")
    assert bare.embedding is None and bare.embedding_source == ""
    assert "embedding" not in bare.to_json()
