"""A small fake EVAL_DIR (docs/formats.md) for the listening-test tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE_HZ = 48000
SYSTEMS = ("mono", "dsp", "model")
# clip id -> (visual azimuth in deg (+ = left), has a reference)
CLIPS = {"clip-a": (30.0, True), "clip-b": (-45.0, False), "clip-c": (0.0, True)}
PAN_DEG = {"mono": 0.0, "dsp": 20.0, "model": -20.0}  # offset of each system's pan


def _burst(duration_s: float, pan_deg: float, seed: int) -> np.ndarray:
    """Noise bursts panned by level (+ = left), float32 stereo (T, 2)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * SAMPLE_RATE_HZ)
    envelope = (np.arange(n) // (SAMPLE_RATE_HZ // 8)) % 2 == 0
    noise = 0.2 * rng.standard_normal(n) * envelope
    theta = np.deg2rad(np.clip(pan_deg, -90.0, 90.0))
    left, right = np.cos(np.pi / 4 - theta / 2), np.sin(np.pi / 4 - theta / 2)
    return np.stack([noise * left, noise * right], axis=1).astype(np.float32)


def _frame(path: Path, azimuth_deg: float) -> None:
    """A 320x180 frame with a bright box where the source is (left of image = left)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 180), (40, 70, 110))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 120, 320, 180], fill=(70, 110, 60))
    u = 160 - azimuth_deg / 60.0 * 160
    draw.rectangle([u - 18, 70, u + 18, 140], fill=(235, 200, 60))
    img.save(path)


def make_eval_dir(root: Path, duration_s: float = 0.5) -> Path:
    """Write EVAL_DIR with three clips (two with a reference) and return it."""
    eval_dir = root / "eval"
    for k, (clip, (azimuth, has_ref)) in enumerate(CLIPS.items()):
        d = eval_dir / "clips" / clip
        d.mkdir(parents=True)
        info = {"clip": clip, "n_sources": 1, "systems": list(SYSTEMS), "has_reference": has_ref,
                "visual_azimuth_deg": azimuth, "duration_s": duration_s}
        (d / "info.json").write_text(json.dumps(info))
        _frame(d / "frame.png", azimuth)
        for j, system in enumerate(SYSTEMS):
            pan = 0.0 if system == "mono" else azimuth + PAN_DEG[system]
            sf.write(d / f"{system}.wav", _burst(duration_s, pan, 10 * k + j), SAMPLE_RATE_HZ,
                     subtype="FLOAT")
        if has_ref:
            sf.write(d / "reference.wav", _burst(duration_s, azimuth, 10 * k + 9),
                     SAMPLE_RATE_HZ, subtype="FLOAT")
    (eval_dir / "metrics.json").write_text(json.dumps({"systems": list(SYSTEMS)}))
    return eval_dir


def expected_answers_per_system() -> dict[str, int]:
    """How many responses each system gets from one complete session."""
    counts = {s: len(CLIPS) for s in SYSTEMS}
    counts["reference"] = sum(has_ref for _, has_ref in CLIPS.values())
    return counts
