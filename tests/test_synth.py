"""Synthetic scenes: outputs, truth schema, sprites where the truth says, a true mono
(the v2 options are in test_synth_v2.py)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from synth_support import (
    ANGLE_TOL_DEG,
    CFG,
    LEFT_SOURCE_SEED,
    TWO_SOURCE_SEED,
    max_correlation,
)

from binaural.constants import LEFT, RIGHT
from binaural.io.audio import read_wav
from binaural.io.video import iter_audio, iter_frames, probe, write_video
from binaural.spatial.config import DEFAULT_CLASS_HEIGHTS_M
from binaural.spatial.geometry import Camera
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, spatialize
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import (
    PEAK_LEVEL,
    plan_scene,
    synthesize,
    synthesize_scene,
)
from binaural.synth.sprites import SPRITE_ASPECT, draw_background

SAMPLE_FPS = 5.0
SPRITE_DIFF = 40  # max-channel RGB difference that counts as "not the backdrop"
MIN_SPRITE_FILL = 0.25  # every sprite covers at least this share of its box
MAX_DOWNMIX_CORRELATION = 0.99
MAX_RENDER_ERROR_DB = -25.0
TRACK_KEYS = {"t", "azimuth_deg", "elevation_deg", "distance_m", "box", "sounding"}
SOURCE_KEYS = {"id", "class", "gain", "silent", "audio", "sounding", "gaps", "track"}
TRUTH_KEYS = {"name", "seed", "fov_deg", "width", "height", "fps", "sample_rate", "duration_s",
              "hrtf", "hrtf_digest", "room", "mono", "mono_description", "microphone",
              "ambience_db", "noise_db", "sources"}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory, kemar: HRTFSet) -> dict:
    out = tmp_path_factory.mktemp("synth")
    truths = {
        sources: synthesize_scene(CFG, kemar, out, f"scene{sources}", seed, sources)
        for sources, seed in ((1, LEFT_SOURCE_SEED), (2, TWO_SOURCE_SEED))
    }
    return {"dir": out, "truth": truths}


def _paths(scenes: dict, sources: int) -> tuple[Path, Path, Path]:
    d, name = scenes["dir"], f"scene{sources}"
    return d / f"{name}.mp4", d / "truth" / f"{name}.json", d / "truth" / f"{name}.binaural.wav"


def _mono(path: Path) -> np.ndarray:
    return np.concatenate(list(iter_audio(path, CFG.sample_rate, chunk_s=1.0)))


@pytest.mark.parametrize("sources", [1, 2])
def test_outputs_exist_and_agree(scenes: dict, sources: int) -> None:
    video, truth_json, truth_wav = _paths(scenes, sources)
    info = probe(video)
    assert (info.width, info.height, info.fps) == (CFG.width, CFG.height, CFG.video_fps)
    assert info.audio_channels == 1
    binaural, rate = read_wav(truth_wav)
    assert rate == CFG.sample_rate
    n = round(CFG.duration_s * CFG.sample_rate)
    assert binaural.shape == (2, n)
    mono = _mono(video)
    assert mono.shape == (n,)
    # The louder of mono and binaural peaks at PEAK_LEVEL (the mono through AAC, roughly).
    assert np.abs(binaural).max() <= PEAK_LEVEL + 1e-6
    assert max(np.abs(binaural).max(), np.abs(mono).max()) == pytest.approx(PEAK_LEVEL, rel=0.1)
    assert json.loads(truth_json.read_text()) == scenes["truth"][sources]
    assert not list(scenes["dir"].glob("**/*.part*"))  # no temporary files left behind


@pytest.mark.parametrize("sources", [1, 2])
def test_truth_schema(scenes: dict, sources: int) -> None:
    truth = scenes["truth"][sources]
    assert set(truth) == TRUTH_KEYS
    # The v1 configuration: anechoic, the omni capture, every object sounding, no beds.
    assert truth["room"] == {"type": "none"} and truth["mono"] == "omni"
    assert truth["microphone"] is None and truth["ambience_db"] is None
    assert truth["fov_deg"] == CFG.fov_deg
    assert (truth["width"], truth["height"], truth["fps"]) == (CFG.width, CFG.height,
                                                              CFG.video_fps)
    assert truth["sample_rate"] == CFG.sample_rate
    assert len(truth["sources"]) == sources
    frames = round(CFG.duration_s * CFG.video_fps)
    classes = [s["class"] for s in truth["sources"]]
    assert len(set(classes)) == sources and set(classes) <= set(CFG.classes)
    for source in truth["sources"]:
        assert set(source) == SOURCE_KEYS
        assert not source["silent"] and not source["gaps"] and source["audio"] == "builtin"
        assert source["sounding"] and source["sounding"][0][0] < 0.2
        track = source["track"]
        assert len(track) == frames
        assert all(set(p) == TRACK_KEYS for p in track)
        assert all(isinstance(p["sounding"], bool) for p in track)
        np.testing.assert_allclose([p["t"] for p in track], np.arange(frames) / CFG.video_fps,
                                   atol=1e-4)
        dist = np.array([p["distance_m"] for p in track])
        assert np.all((dist >= CFG.distance_m[0] - 1e-3) & (dist <= CFG.distance_m[1] + 1e-3))
        az = np.array([p["azimuth_deg"] for p in track])
        assert np.all(np.abs(az) < CFG.fov_deg / 2)
    assert len(list(iter_frames(_paths(scenes, sources)[0], CFG.video_fps))) == frames


@pytest.mark.parametrize(("sources", "seed"), [(1, LEFT_SOURCE_SEED), (2, TWO_SOURCE_SEED)])
def test_sprites_are_where_the_truth_says(scenes: dict, sources: int, seed: int) -> None:
    camera = Camera(CFG.width, CFG.height, CFG.fov_deg)
    # The backdrop is the next draw from the scene's generator after the plan.
    rng = np.random.default_rng(seed)
    plan_scene(CFG, camera, rng, sources)
    background = draw_background(CFG.height, CFG.width, rng).astype(int)
    truth = scenes["truth"][sources]
    checked = 0
    for t, frame in iter_frames(_paths(scenes, sources)[0], SAMPLE_FPS):
        i = int(round(t * CFG.video_fps))
        diff = np.abs(frame.astype(int) - background).max(axis=-1)
        outside = np.ones(diff.shape, dtype=bool)
        for source in truth["sources"]:
            point = source["track"][i]
            x1, y1, x2, y2 = point["box"]
            inside = diff[int(np.ceil(y1)) : int(y2), int(np.ceil(x1)) : int(x2)]
            assert inside.size > 0
            assert np.mean(inside > SPRITE_DIFF) > MIN_SPRITE_FILL, (source["class"], t)
            outside[max(0, int(y1) - 3) : int(y2) + 4, max(0, int(x1) - 3) : int(x2) + 4] = False
            az, el = camera.unproject((x1 + x2) / 2, (y1 + y2) / 2)
            assert az == pytest.approx(point["azimuth_deg"], abs=ANGLE_TOL_DEG)
            assert el == pytest.approx(point["elevation_deg"], abs=ANGLE_TOL_DEG)
        # Away from the boxes the frame is the backdrop (only codec noise remains).
        assert np.mean(np.abs(diff[outside])) < 8.0, "backdrop reconstruction out of step"
        assert np.mean(diff[outside] > SPRITE_DIFF) < 0.002
        checked += 1
    assert checked == round(CFG.duration_s * SAMPLE_FPS)


@pytest.mark.parametrize("sources", [1, 2])
def test_mono_is_a_capture_not_a_downmix(
    scenes: dict, sources: int, tmp_path: Path, sample_rate: int
) -> None:
    video, _, truth_wav = _paths(scenes, sources)
    binaural, _ = read_wav(truth_wav)
    downmix = binaural.mean(axis=0)
    # Calibration: a downmix stored through the same codec would correlate almost perfectly.
    probe_path = tmp_path / "downmix.mp4"
    frame = np.zeros((CFG.height, CFG.width, 3), dtype=np.uint8)
    write_video(probe_path, [frame] * 4, CFG.video_fps, downmix, sample_rate)
    assert max_correlation(_mono(probe_path), downmix) > 0.999
    assert max_correlation(_mono(video), downmix) < MAX_DOWNMIX_CORRELATION


def test_rendering_the_mono_along_the_truth_track_gives_the_truth(
    scenes: dict, kemar: HRTFSet
) -> None:
    """One source: truth = spatialize(mono, HRIR(truth track)), up to the mono's codec."""
    video, _, truth_wav = _paths(scenes, 1)
    track = scenes["truth"][1]["sources"][0]["track"]
    times, az, el = (np.array([p[k] for p in track]) for k in ("t", "azimuth_deg",
                                                                "elevation_deg"))
    rendered = spatialize(_mono(video), direction_filter(kemar, times, az, el), kemar.taps,
                          CFG.sample_rate)
    truth, _ = read_wav(truth_wav)
    error_db = 10 * np.log10(np.sum((rendered - truth) ** 2, axis=-1) / np.sum(truth**2, axis=-1))
    # About -37 dB here; a track 2 deg off already gives about -16 dB.
    assert np.all(error_db < MAX_RENDER_ERROR_DB)


def test_source_on_the_left_is_louder_in_the_left_ear(scenes: dict) -> None:
    truth = scenes["truth"][1]
    az = np.array([p["azimuth_deg"] for p in truth["sources"][0]["track"]])
    assert np.all(az > 5.0), "the seed no longer puts the source on the left"
    binaural, _ = read_wav(_paths(scenes, 1)[2])
    energy = np.sum(binaural.astype(np.float64) ** 2, axis=-1)
    assert 10 * np.log10(energy[LEFT] / energy[RIGHT]) > 2.0


def test_synthesize_is_deterministic_by_seed(tmp_path: Path, kemar: HRTFSet) -> None:
    cfg = replace(CFG, scenes=1, max_sources=2)
    first = synthesize(cfg, kemar, tmp_path / "a")
    second = synthesize(cfg, kemar, tmp_path / "b")
    assert first == second
    (name,) = [t["name"] for t in first]
    rel = f"truth/{name}.json"
    assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    # Compared as samples: libsndfile's PEAK chunk carries a timestamp.
    rel = f"truth/{name}.binaural.wav"
    np.testing.assert_array_equal(read_wav(tmp_path / "a" / rel)[0],
                                  read_wav(tmp_path / "b" / rel)[0])
    np.testing.assert_array_equal(_mono(tmp_path / "a" / f"{name}.mp4"),
                                  _mono(tmp_path / "b" / f"{name}.mp4"))


def test_other_seeds_give_other_scenes() -> None:
    camera = Camera(CFG.width, CFG.height, CFG.fov_deg)
    plans = [plan_scene(CFG, camera, np.random.default_rng(s), 1)[0] for s in range(4)]
    assert len({p.azimuth_deg for p in plans}) == 4


@pytest.mark.parametrize("sources", [2, 3])
def test_sources_keep_apart_and_do_not_cross(sources: int) -> None:
    """Each sprite's angular extent stays clear of the others' at both ends of the path."""
    cfg = SynthConfig()
    camera = Camera(cfg.width, cfg.height, cfg.fov_deg)
    for seed in range(40):
        plans = plan_scene(cfg, camera, np.random.default_rng(seed), sources)
        for end in (0, 1):
            spans = []
            for p in plans:
                half_m = DEFAULT_CLASS_HEIGHTS_M[p.source_class] * SPRITE_ASPECT[p.source_class] / 2
                half_deg = np.degrees(np.arctan(half_m / p.distance_m[end])) + p.wobble_deg
                spans.append((p.azimuth_deg[end] - half_deg, p.azimuth_deg[end] + half_deg))
            spans.sort()
            for (_, hi), (lo, _) in zip(spans, spans[1:]):
                assert hi <= lo + 1e-6, (seed, end, spans)
            assert spans[0][0] >= -cfg.fov_deg / 2 and spans[-1][1] <= cfg.fov_deg / 2
