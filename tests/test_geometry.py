"""Pinhole camera: image points and boxes <-> azimuth, elevation and distance."""

import numpy as np
import pytest

from binaural.spatial.geometry import Camera

CAMERAS = [Camera(320, 180, 65.0), Camera(640, 360, 90.0), Camera(1920, 1080, 40.0)]
DIRECTIONS = [(0.0, 0.0), (20.0, 0.0), (-15.0, 8.0), (25.0, -10.0), (-30.0, -12.0)]
ANGLE_TOL_DEG = 1e-9


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: f"{c.width}x{c.height}@{c.fov_deg}")
@pytest.mark.parametrize(("azimuth", "elevation"), DIRECTIONS)
def test_project_then_unproject_recovers_direction(
    camera: Camera, azimuth: float, elevation: float
) -> None:
    u, v, depth = camera.project(azimuth, elevation, 3.0)
    az, el = camera.unproject(u, v)
    assert az == pytest.approx(azimuth, abs=ANGLE_TOL_DEG)
    assert el == pytest.approx(elevation, abs=ANGLE_TOL_DEG)
    assert depth > 0


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: f"{c.width}x{c.height}@{c.fov_deg}")
@pytest.mark.parametrize(("u", "v"), [(0.0, 0.0), (10.5, 170.0), (300.0, 90.0), (160.0, 5.0)])
def test_unproject_then_project_recovers_pixel(camera: Camera, u: float, v: float) -> None:
    az, el = camera.unproject(u, v)
    u2, v2, _ = camera.project(az, el, 2.0)
    assert u2 == pytest.approx(u, abs=1e-9)
    assert v2 == pytest.approx(v, abs=1e-9)


def test_left_of_listener_is_left_of_image() -> None:
    camera = CAMERAS[0]
    u, v, _ = camera.project(20.0, 0.0, 2.0)
    assert u < camera.cx
    assert v == pytest.approx(camera.cy)
    u, _, _ = camera.project(-20.0, 0.0, 2.0)
    assert u > camera.cx


def test_up_is_above_image_centre() -> None:
    camera = CAMERAS[0]
    u, v, _ = camera.project(0.0, 10.0, 2.0)
    assert v < camera.cy  # image y grows downwards
    assert u == pytest.approx(camera.cx)
    _, v, _ = camera.project(0.0, -10.0, 2.0)
    assert v > camera.cy


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: f"{c.width}x{c.height}@{c.fov_deg}")
def test_image_edges_are_half_the_field_of_view(camera: Camera) -> None:
    az, el = camera.unproject(np.array([0.0, camera.width]), np.array([camera.cy, camera.cy]))
    np.testing.assert_allclose(az, [camera.fov_deg / 2, -camera.fov_deg / 2], atol=1e-9)
    np.testing.assert_allclose(el, 0.0, atol=1e-9)


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: f"{c.width}x{c.height}@{c.fov_deg}")
@pytest.mark.parametrize(("azimuth", "elevation"), DIRECTIONS)
@pytest.mark.parametrize("distance", [1.5, 4.0, 9.0])
def test_box_to_position_recovers_distance(
    camera: Camera, azimuth: float, elevation: float, distance: float
) -> None:
    object_height_m = 1.7
    u, v, _ = camera.project(azimuth, elevation, distance)
    h = camera.box_height_px(object_height_m, azimuth, elevation, distance)
    box = np.array([u - 0.2 * h, v - h / 2, u + 0.2 * h, v + h / 2])
    az, el, dist = camera.box_to_position(box, object_height_m)
    assert az == pytest.approx(azimuth, abs=1e-6)
    assert el == pytest.approx(elevation, abs=1e-6)
    assert dist == pytest.approx(distance, rel=1e-9)


def test_box_to_position_is_vectorised_and_nearer_is_bigger() -> None:
    camera = CAMERAS[0]
    boxes = np.array([[150.0, 60.0, 170.0, 120.0], [140.0, 30.0, 180.0, 150.0]])
    az, el, dist = camera.box_to_position(boxes, 1.7)
    assert az.shape == el.shape == dist.shape == (2,)
    assert dist[1] == pytest.approx(dist[0] / 2)  # twice the height, half the depth


@pytest.mark.parametrize("azimuth", [95.0, -100.0, 120.0, 180.0, -135.0])
def test_behind_camera_raises(azimuth: float) -> None:
    with pytest.raises(ValueError, match="behind the camera"):
        CAMERAS[0].project(azimuth, 0.0, 2.0)

