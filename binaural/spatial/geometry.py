"""Pinhole camera model between image boxes and (azimuth, elevation, distance).

The camera sits at the listener's head and looks along azimuth 0. Image x grows to
the right and y downwards; the left of the image is the listener's left (positive
azimuth, SOFA convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with square pixels and its principal point at the centre."""

    width: int
    height: int
    fov_deg: float

    @property
    def focal_px(self) -> float:
        return (self.width / 2.0) / np.tan(np.radians(self.fov_deg) / 2.0)

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0

    def project(
        self, azimuth_deg: np.ndarray, elevation_deg: np.ndarray, distance_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Direction and distance -> image point (u, v) and depth along the optical axis."""
        az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
        el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
        r = np.asarray(distance_m, dtype=np.float64)
        forward = r * np.cos(el) * np.cos(az)
        left = r * np.cos(el) * np.sin(az)
        up = r * np.sin(el)
        if np.any(forward <= 0):
            raise ValueError("point behind the camera cannot be projected")
        u = self.cx - self.focal_px * left / forward
        v = self.cy - self.focal_px * up / forward
        return u, v, forward

    def unproject(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image point -> (azimuth_deg, elevation_deg) of the ray through it."""
        du = self.cx - np.asarray(u, dtype=np.float64)
        dv = self.cy - np.asarray(v, dtype=np.float64)
        az = np.degrees(np.arctan2(du, self.focal_px))
        el = np.degrees(np.arctan2(dv, np.hypot(self.focal_px, du)))
        return az, el

    def box_height_px(
        self, object_height_m: float, azimuth_deg: np.ndarray, elevation_deg: np.ndarray,
        distance_m: np.ndarray,
    ) -> np.ndarray:
        """Pixel height of an object of the given real height at that place."""
        _, _, depth = self.project(azimuth_deg, elevation_deg, distance_m)
        return self.focal_px * object_height_m / depth

    def box_to_position(
        self, box: np.ndarray, object_height_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (..., 4) as x1, y1, x2, y2 -> azimuth_deg, elevation_deg, distance_m.

        Distance comes from the box height against the class's typical height: the
        depth along the optical axis is f * H / h_px, turned into range along the ray.
        """
        box = np.asarray(box, dtype=np.float64)
        u = (box[..., 0] + box[..., 2]) / 2.0
        v = (box[..., 1] + box[..., 3]) / 2.0
        h_px = np.maximum(box[..., 3] - box[..., 1], 1.0)
        az, el = self.unproject(u, v)
        depth = self.focal_px * object_height_m / h_px
        distance = depth / (np.cos(np.radians(el)) * np.cos(np.radians(az)))
        return az, el, distance
