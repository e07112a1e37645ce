"""Files that are only a little wrong, as archives hold them: rotated phone clips,
anamorphic pixels, damaged streams, silent tracks. Every fixture is generated."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from binaural.eval.direction import direction_track
from binaural.eval.silence import LevelMeter
from binaural.eval.truth import truth_direction_errors
from binaural.io.audio import read_wav
from binaural.io.damage import Damage, judge
from binaural.io.outputs import write_json
from binaural.io.video import MediaError, iter_audio, iter_frames, probe, remux
from binaural.pipeline.stages import render_video
from binaural.spatial.generator import DSPGenerator
from binaural.spatial.geometry import Camera
from binaural.spatial.localization import localize_video
from binaural.synth.config import SynthConfig
from binaural.synth.edge_media import (
    EXPECTED,
    WARNED,
    with_pauses,
    write_clip,
    write_damaged,
    write_displayed,
    write_edge_cases,
    write_scene_clip,
    write_truncated,
)
from binaural.synth.scenes import render_scene
from flows.params import load_params

RATE = 48000
MEGAMIND = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"  # one corrupt AC3 frame


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
    from models.builders import build_detector

    return build_detector(replace(load_params().detector, device="cpu", threads=2))


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
    report = render_video(path, loc, DSPGenerator(kemar, params.render), tmp_path,
                          "phone.out", params.scene, params.evaluate)
    assert report["video"] | {"fps": None, "codec": None} == {
        "width": 320, "height": 180, "fps": None, "codec": None, "display_width": 180,
        "display_height": 320, "rotation_deg": -90}
    assert [s["class"] for s in report["sources"]] == [scene.truth["sources"][0]["class"]]
    errors = truth_direction_errors(tmp_path / "phone.out.binaural.wav",
                                    tmp_path / "phone.json", params.evaluate)
    assert errors.size > 10 and np.median(errors) < 5.0


def _decoded(path: Path, damage: Damage | None = None) -> np.ndarray:
    return np.concatenate(list(iter_audio(path, RATE, 1.0, damage)))


def test_a_corrupt_audio_packet_becomes_silence_of_its_length(tmp_path: Path) -> None:
    clean, broken = tmp_path / "clean.mkv", tmp_path / "broken.mkv"
    write_damaged(clean)
    write_damaged(broken, corrupt_at_s=(1.5,))
    damage = Damage("audio")
    x, y = _decoded(clean), _decoded(broken, damage)
    assert damage.packets == 1 and 1.45 < damage.times_s[0] <= 1.5
    assert damage.lost_s == pytest.approx(1536 / RATE)  # one AC3 frame
    assert y.shape == x.shape  # same length: the picture stays in sync
    at = int(damage.times_s[0] * RATE)
    assert np.abs(y[at + 64: at + 1536 - 64]).max() == 0.0  # silence where it was lost
    # The rest is the same sound in the same place (the AC3 decoder's state after the
    # error leaves small differences, not a shift).
    after = slice(at + 2 * 1536, at + 2 * 1536 + RATE // 2)
    lags = range(-48, 49)
    best = max(lags, key=lambda lag: float(np.dot(np.roll(y, lag)[after], x[after])))
    assert best == 0 and np.corrcoef(x[after], y[after])[0, 1] > 0.99
    assert "1 undecodable audio packet at 1.50 s" in damage.describe()


def test_a_file_cut_short_is_padded_and_its_end_named(tmp_path: Path) -> None:
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    write_damaged(whole)
    write_truncated(cut, whole, keep=0.6)
    damage = Damage("audio")
    y = _decoded(cut, damage)
    assert y.shape == _decoded(whole).shape
    assert damage.ended_at_s is not None and 0.5 < damage.ended_at_s < 2.5
    assert damage.lost_s == pytest.approx(probe(whole).duration_s - damage.ended_at_s, abs=1e-3)
    assert "before its stated end" in damage.describe()


def test_too_much_lost_fails_with_the_damage_named() -> None:
    damage = Damage("audio")
    damage.packet(1.0, 0.5)
    assert "0.500 s" in judge(damage, 10.0, 0.2)
    with pytest.raises(ValueError, match="over the 2% allowed"):
        judge(damage, 10.0, 0.02)
    assert judge(Damage("video"), 10.0, 0.2) is None


def test_the_level_meter_finds_silence_and_pauses() -> None:
    meter = LevelMeter(RATE, 0.25)
    for piece in np.array_split(with_pauses(4.0, RATE), 7):  # chunking must not matter
        meter.add(piece)
    assert meter.loud_fraction(-55.0) == pytest.approx(0.5)
    loud = meter.loud_at(np.array([0.5, 1.5, 2.5, 3.5]), -55.0)
    assert loud.tolist() == [True, False, True, False]
    silent = LevelMeter(RATE, 0.25)
    silent.add(np.zeros(RATE, np.float32))
    silent.add(1e-5 * np.ones(RATE, np.float32))  # -100 dBFS
    assert silent.peak_dbfs() == pytest.approx(-100.0, abs=0.01)


@pytest.fixture(scope="module")
def edge_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("edge")
    write_scene_clip(folder / "good.mp4", 2.0, 1)
    write_edge_cases(folder, folder / "good.mp4")
    return folder


def _remaster(path: Path, detector, kemar, dest: Path, progress=None) -> dict:
    params = load_params()
    loc = localize_video(path, detector, params.scene, params.localize)
    return render_video(path, loc, DSPGenerator(kemar, params.render), dest, path.stem,
                        params.scene, params.evaluate, progress=progress)


@pytest.mark.parametrize("name", sorted(WARNED))
def test_odd_files_are_remastered_with_their_warning(edge_dir, detector, kemar, tmp_path, name):
    report = _remaster(edge_dir / name, detector, kemar, tmp_path)
    assert EXPECTED[name][0]
    assert any(WARNED[name] in w for w in report["warnings"]), report["warnings"]
    assert report["duration_s"] == pytest.approx(probe(edge_dir / name).duration_s, abs=0.01)


def test_a_silent_track_has_no_direction_figure(edge_dir, detector, kemar, tmp_path):
    report = _remaster(edge_dir / "silent_audio.mp4", detector, kemar, tmp_path)
    assert report["metrics"]["agreement_with_detection_deg"] is None
    assert report["metrics"]["direction_judged_fraction"] == 0.0
    assert report["metrics"]["input_peak_dbfs"] < -100


def test_long_pauses_show_in_the_judged_share(edge_dir, detector, kemar, tmp_path):
    done: list[float] = []
    report = _remaster(edge_dir / "pauses.mp4", detector, kemar, tmp_path, done.append)
    assert 0.3 < report["metrics"]["direction_judged_fraction"] < 0.6
    assert done == sorted(done) and done[-1] == pytest.approx(report["duration_s"])
    assert not any("silent" in w for w in report["warnings"])


def test_a_file_cut_in_half_fails_naming_the_loss(edge_dir, detector, kemar, tmp_path):
    with pytest.raises(MediaError, match="damaged beyond use") as err:
        _remaster(edge_dir / "cut_half.mkv", detector, kemar, tmp_path)
    assert "before its stated end" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not Path(MEGAMIND).is_file(),
                    reason=f"{MEGAMIND} missing (Debian package opencv-doc)")
def test_megamind_with_its_corrupt_ac3_frame_is_remastered(detector, kemar, tmp_path):
    report = _remaster(Path(MEGAMIND), detector, kemar, tmp_path)
    assert report["damage"]["audio"]["packets"] == 1
    assert report["damage"]["audio"]["lost_s"] == pytest.approx(0.032, abs=1e-3)
    assert any("undecodable audio packet" in w for w in report["warnings"])
    assert report["duration_s"] == pytest.approx(11.26, abs=0.01)


def test_sync_holds_after_a_corrupt_packet(tmp_path, kemar, detector):
    """A scene whose audio loses a packet mid-way: the output still follows the truth's
    direction after the damaged point (the rest of the audio was not shifted)."""
    params = load_params()
    cfg = replace(SynthConfig(), max_sources=1, duration_s=4.0, width=320, height=180)
    scene = render_scene(cfg, kemar, "damaged", 5, 1)
    path = tmp_path / "damaged.mkv"
    write_clip(path, scene.frames(), cfg.video_fps, scene.mono, cfg.sample_rate,
               audio_codec="ac3", corrupt_audio_at_s=(2.0,), container="matroska")
    localize = replace(params.localize, fov_deg=scene.truth["fov_deg"])
    loc = localize_video(path, detector, params.scene, localize)
    report = render_video(path, loc, DSPGenerator(kemar, params.render), tmp_path, "out",
                          params.scene, params.evaluate)
    assert any("undecodable audio packet at 1.9" in w or "at 2.0" in w
               for w in report["warnings"]), report["warnings"]
    out, _ = read_wav(tmp_path / "out.binaural.wav")
    track = direction_track(out, RATE, params.evaluate)
    source = scene.truth["sources"][0]["track"]
    truth = np.interp(track.times_s, [p["t"] for p in source], [p["azimuth_deg"] for p in source])
    after = track.valid & (track.times_s > 2.2)
    assert after.sum() > 8
    assert np.median(np.abs(track.azimuth_deg - truth)[after]) < 5.0
