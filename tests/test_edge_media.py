"""Files that are only a little wrong, as archives hold them: rotated phone clips,
anamorphic pixels, damaged streams, silent tracks. Every fixture is generated."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from binaural.config import SynthConfig
from binaural.edge_media import write_displayed
from binaural.geometry import Camera
from binaural.outputs import write_json
from binaural.pipeline import localize_video, render_video
from binaural.synth import render_scene
from binaural.truth import truth_direction_errors
from binaural.video import iter_frames, probe, remux
from flows.params import load_params

RATE = 48000


def _bright_on_the_left(height: int, width: int, n: int = 10):
    """Shown pictures: a bright block in the left fifth, vertically centred."""
    for _ in range(n):
        img = np.full((height, width, 3), 30, np.uint8)
        img[height // 3: 2 * height // 3, 5: width // 5] = 250
        yield img


@pytest.mark.parametrize(("rotation", "sar"), [
    (-90, Fraction(1)), (90, Fraction(1)), (180, Fraction(1)), (0, Fraction(2)),
    (-90, Fraction(4, 3)),
])
def test_frames_are_the_picture_as_shown(tmp_path: Path, rotation: int, sar: Fraction) -> None:
    path = tmp_path / "shown.mp4"
    write_displayed(path, _bright_on_the_left(320, 180), 25, np.zeros(RATE), RATE,
                    rotation, sar)
    info = probe(path)
    assert info.display_size == (180, 320)
    assert info.rotation_deg == rotation
    assert info.sample_aspect == pytest.approx(float(sar))
    assert (info.width, info.height) != (180, 320) or rotation == 180  # coded otherwise
    _, rgb = next(iter_frames(path, 5.0))
    assert rgb.shape == (320, 180, 3)
    columns = np.where(rgb.mean(axis=(0, 2)) > 60)[0]
    rows = np.where(rgb.mean(axis=(1, 2)) > 50)[0]
    assert columns.max() < 180 // 4  # still on the left of the shown picture
    assert 90 < rows.mean() < 230  # and vertically in the middle
    # On the left of the shown picture means on the listener's left: positive azimuth.
    az, _ = Camera(*info.display_size, 65.0).unproject(columns.mean(), rows.mean())
    assert az > 15.0


def test_the_remuxed_mp4_keeps_the_rotation(tmp_path: Path) -> None:
    src, dest = tmp_path / "phone.mp4", tmp_path / "out.mp4"
    write_displayed(src, _bright_on_the_left(320, 180), 25, np.zeros(RATE), RATE, -90)
    remux(src, iter([np.zeros((2, RATE), np.float32)]), dest, RATE)
    info = probe(dest)
    assert (info.rotation_deg, info.display_size) == (-90, (180, 320))


@pytest.fixture(scope="module")
def detector():
    from models.detector import Detector

    cfg = load_params().detector
    return Detector(weights=cfg.weights, conf=cfg.conf, iou=cfg.iou, imgsz=cfg.imgsz,
                    device="cpu", threads=2)


@pytest.mark.parametrize("seed", [5, 8])  # a source on the right (-22 deg), one on the left
def test_a_portrait_phone_clip_is_heard_where_it_is_shown(tmp_path, kemar, detector, seed):
    params = load_params()
    cfg = replace(SynthConfig(), max_sources=1, duration_s=3.0, width=180, height=320)
    scene = render_scene(cfg, kemar, "phone", seed, 1)
    path = tmp_path / "phone.mp4"
    write_displayed(path, scene.frames(), cfg.video_fps, scene.mono, cfg.sample_rate, -90)
    write_json(tmp_path / "phone.json", scene.truth)
    localize = replace(params.localize, fov_deg=scene.truth["fov_deg"])
    loc = localize_video(path, detector, params.scene, localize)
    report = render_video(path, loc, kemar, tmp_path, "phone.out", params.scene,
                          params.render, params.evaluate)
    assert report["video"] | {"fps": None, "codec": None} == {
        "width": 320, "height": 180, "fps": None, "codec": None, "display_width": 180,
        "display_height": 320, "rotation_deg": -90}
    assert [s["class"] for s in report["sources"]] == [scene.truth["sources"][0]["class"]]
    errors = truth_direction_errors(tmp_path / "phone.out.binaural.wav",
                                    tmp_path / "phone.json", params.evaluate)
    assert errors.size > 10 and np.median(errors) < 5.0
