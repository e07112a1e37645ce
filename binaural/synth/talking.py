"""Making a real person in a still "talk": the mouth opened by a voice's envelope, and the
person pasted into a frame.

    mouth_from_keypoints: the mouth's centre and width from COCO pose keypoints (the face
                          when nose and an eye are seen, else the shoulders)
    envelope_per_frame:   a voice's opening per video frame in [0, 1] (RMS over the frame,
                          over its 95th percentile)
    open_mouth:           the crop with its mouth open by `opening` (a dark ellipse growing
                          downward: the open mouth and the dropped jaw)
    paste:                a crop into a frame with feathered edges

Pure numpy.
"""

from __future__ import annotations

import numpy as np

# COCO keypoints of the pose model
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 2, 5, 6
FACE_TO_MOUTH = 0.75  # mouth below the nose by this x the face scale
MOUTH_PER_FACE = 0.9  # mouth width / face scale
SHOULDER_TO_MOUTH = 0.45  # mouth above the shoulders' midpoint by this x their width
MOUTH_PER_SHOULDERS = 0.22
MIN_MOUTH_PX = 3.0
OPEN_HEIGHT = 0.55  # the open mouth's height at full voice / its width
FEATHER = 0.06  # paste: edge ramp / the crop's smaller side
ENVELOPE_PERCENTILE = 95.0


def mouth_from_keypoints(xy: np.ndarray, conf: np.ndarray, min_conf: float,
                         need_face: bool = True) -> tuple[tuple[float, float], float] | None:
    """((x, y), width) of the mouth from one person's keypoints (17, 2) and confidences
    (17,); None when the face (nose and an eye) is not seen and, unless need_face, neither
    are both shoulders (a person seen from behind)."""
    xy, conf = np.asarray(xy, np.float64), np.asarray(conf, np.float64)
    eyes = [k for k in (LEFT_EYE, RIGHT_EYE) if conf[k] >= min_conf]
    if conf[NOSE] >= min_conf and eyes:
        nose, eye_mid = xy[NOSE], xy[eyes].mean(axis=0)
        spread = float(np.linalg.norm(xy[LEFT_EYE] - xy[RIGHT_EYE])) if len(eyes) == 2 else 0.0
        face = max(spread, 1.2 * float(np.linalg.norm(nose - eye_mid)), MIN_MOUTH_PX)
        return (float(nose[0]), float(nose[1] + FACE_TO_MOUTH * face)), MOUTH_PER_FACE * face
    if not need_face and conf[LEFT_SHOULDER] >= min_conf and conf[RIGHT_SHOULDER] >= min_conf:
        mid = (xy[LEFT_SHOULDER] + xy[RIGHT_SHOULDER]) / 2.0
        width = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER]))
        if width < MIN_MOUTH_PX / MOUTH_PER_SHOULDERS:
            return None
        return ((float(mid[0]), float(mid[1] - SHOULDER_TO_MOUTH * width)),
                MOUTH_PER_SHOULDERS * width)
    return None


def envelope_per_frame(voice: np.ndarray, sample_rate: int, fps: float, frames: int
                       ) -> np.ndarray:
    """Opening per video frame in [0, 1]: the voice's RMS over each frame's span divided
    by its ENVELOPE_PERCENTILE-th percentile over the loud frames (all zeros for silence)."""
    step = sample_rate / fps
    rms = np.zeros(frames)
    for i in range(frames):
        a, b = int(round(i * step)), int(round((i + 1) * step))
        piece = voice[a:b]
        rms[i] = float(np.sqrt(np.mean(piece**2))) if piece.size else 0.0
    loud = rms[rms > 1e-6]
    if loud.size == 0:
        return np.zeros(frames)
    return np.clip(rms / max(np.percentile(loud, ENVELOPE_PERCENTILE), 1e-9), 0.0, 1.0)


def open_mouth(image: np.ndarray, mouth: tuple[float, float], width: float, opening: float,
               darkening: float) -> np.ndarray:
    """A copy of `image` with the mouth open by `opening` in [0, 1]: a soft dark ellipse
    under the mouth's centre, `width` wide, growing downward to OPEN_HEIGHT x width."""
    if opening <= 0.0:
        return image
    out = image.astype(np.float32)
    half_w = width / 2.0
    half_h = max(0.5, opening * OPEN_HEIGHT * width / 2.0)
    cx, cy = mouth[0], mouth[1] + half_h * 0.5  # the jaw drops: the ellipse grows down
    x0, x1 = int(np.floor(cx - half_w - 1)), int(np.ceil(cx + half_w + 1))
    y0, y1 = int(np.floor(cy - half_h - 1)), int(np.ceil(cy + half_h + 1))
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return image
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    radius = np.sqrt(((xs + 0.5 - cx) / half_w) ** 2 + ((ys + 0.5 - cy) / half_h) ** 2)
    inside = np.clip(1.5 - radius, 0.0, 1.0)  # 1 inside, a half-radius soft rim
    gain = 1.0 - darkening * min(1.0, 0.4 + 0.6 * opening) * inside
    out[y0:y1, x0:x1] *= gain[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def feather_mask(height: int, width: int) -> np.ndarray:
    """(H, W) alpha: 1 inside, linear ramps FEATHER x the smaller side wide at the edges."""
    ramp = max(1.0, FEATHER * min(height, width))
    y = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5) / ramp
    x = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5) / ramp
    return np.clip(np.minimum(y[:, None], x[None, :]), 0.0, 1.0).astype(np.float32)


def paste(frame: np.ndarray, crop: np.ndarray, x0: int, y0: int) -> None:
    """Blend `crop` into `frame` (in place) with its top-left corner at (x0, y0); the parts
    outside the frame are dropped."""
    h, w = crop.shape[:2]
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + w, frame.shape[1]), min(y0 + h, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    alpha = feather_mask(h, w)[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0, None]
    part = crop[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
    under = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = np.clip(alpha * part + (1 - alpha) * under + 0.5, 0,
                                      255).astype(np.uint8)
