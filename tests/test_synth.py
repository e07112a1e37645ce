"""Synthetic scenes: outputs, truth schema, sprites where the truth says, a true mono;
then the v2 options: rooms, silent objects and gaps, beds, microphone, downmix control,
users' source audio, heads per scene."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from binaural.constants import LEFT, RIGHT
from binaural.io.audio import read_wav
from binaural.io.video import iter_audio, iter_frames, probe, write_video
from binaural.spatial.config import DEFAULT_CLASS_HEIGHTS_M
from binaural.spatial.geometry import Camera
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, spatialize
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import (
    PEAK_LEVEL,
    draw_scene,
    pick_head,
    plan_scene,
    render_audio,
    render_scene,
    synthesize,
    synthesize_scene,
)
from binaural.synth.silences import FRAME_S, is_sounding
from binaural.synth.source_files import SourceLibrary
from binaural.synth.sprites import SPRITE_ASPECT, draw_background

# 1.6 s at 25 fps is a whole number of frames (40).
CFG = SynthConfig(duration_s=1.6, width=320, height=180, seed=3)
SAMPLE_FPS = 5.0
# Seeds whose plans suit the checks: one source on the listener's left all along, and two
# sources far apart (no occlusion), each with an instrument (no speech synthesizer needed).
LEFT_SOURCE_SEED = 9  # a source on the left that moves further left
TWO_SOURCE_SEED = 5
SPRITE_DIFF = 40  # max-channel RGB difference that counts as "not the backdrop"
MIN_SPRITE_FILL = 0.25  # every sprite covers at least this share of its box
ANGLE_TOL_DEG = 1.0
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


def _max_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Largest normalised cross-correlation over all lags."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    xc = correlate(a, b, mode="full", method="fft")
    return float(xc.max() / np.sqrt(np.sum(a**2) * np.sum(b**2)))


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
    assert _max_correlation(_mono(probe_path), downmix) > 0.999
    assert _max_correlation(_mono(video), downmix) < MAX_DOWNMIX_CORRELATION


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


# ---------------------------------------------------------------- synthesis v2

V2 = replace(CFG, duration_s=2.0, width=160, height=96, video_fps=10, room="shoebox",
             fov_range_deg=(50.0, 90.0), silent_object_prob=1.0, silence_gap_prob=1.0,
             silence_gap_s=(0.6, 0.8), max_silence_gaps=1, ambience_prob=1.0, noise_prob=1.0,
             mic_colour_prob=1.0, max_sources=2)
V2_SEED = 11
SONICOM_1 = "pkg:spatialaudiometrics/example_sofa_1.sofa"
SILENT_RMS = 0.01  # dry RMS re the sounding RMS counted as silence (the -40 dB floor)


@pytest.fixture(scope="module")
def v2_scene(kemar: HRTFSet):
    return render_scene(V2, kemar, "v2", V2_SEED, 2)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2))) if x.size else 0.0


def test_v2_scene_records_its_room_beds_microphone_and_camera(v2_scene) -> None:
    truth = v2_scene.truth
    assert truth["room"]["type"] == "shoebox" and 0.05 < truth["room"]["rt60_s"] < 2.0
    assert truth["ambience_db"] is not None and truth["noise_db"] is not None
    assert truth["microphone"] is not None and truth["mono"] == "omni"
    assert 50.0 <= truth["fov_deg"] <= 90.0
    # Boxes sit where the drawn camera (not the default one) projects the sources.
    camera = Camera(V2.width, V2.height, truth["fov_deg"])
    for source in truth["sources"]:
        for point in source["track"][::5]:
            x1, y1, x2, y2 = point["box"]
            if 0 < x1 and x2 < V2.width:  # not cut by the frame edge
                az, _ = camera.unproject((x1 + x2) / 2, (y1 + y2) / 2)
                assert az == pytest.approx(point["azimuth_deg"], abs=ANGLE_TOL_DEG)
    # A true capture: the mono is not the downmix of the binaural.
    assert _max_correlation(v2_scene.mono, v2_scene.binaural.mean(axis=0)) < 0.95


def test_silent_objects_and_silence_gaps_are_marked_in_the_truth(v2_scene) -> None:
    """sounding false <-> near-zero dry energy of that source at that time."""
    truth, dry = v2_scene.truth, v2_scene.dry.astype(np.float64)
    sr = V2.sample_rate
    t = np.arange(dry.shape[1]) / sr
    silent = [s for s in truth["sources"] if s["silent"]]
    assert len(silent) == 1 and len(truth["sources"]) == 3
    for source in truth["sources"]:
        k = source["id"]
        on = is_sounding(source["sounding"], t)
        if source["silent"]:  # visible (a box in the picture), never heard
            assert source["sounding"] == [] and source["gain"] == 0.0
            assert not np.any(dry[k]) and not any(p["sounding"] for p in source["track"])
            x1, y1, x2, y2 = source["track"][0]["box"]
            assert x2 - x1 > 2 and y2 - y1 > 2
            continue
        level = _rms(dry[k][on])
        assert level > 0 and _rms(dry[k][~on]) < SILENT_RMS * level
        for start, end in source["sounding"]:  # each interval really sounds
            assert _rms(dry[k][(t >= start) & (t < end)]) > 0.05 * level
        (gap,) = source["gaps"]
        inside = (t >= gap[0] + FRAME_S) & (t < gap[1] - FRAME_S)
        assert not np.any(on[inside]) and not np.any(dry[k][inside])
        track_t = np.array([p["t"] for p in source["track"]])
        flags = np.array([p["sounding"] for p in source["track"]])
        np.testing.assert_array_equal(flags, is_sounding(source["sounding"], track_t))
        assert flags.any() and not flags.all()


def _anechoic_one_source() -> SynthConfig:
    return replace(CFG, mic_colour_prob=1.0, max_sources=1)


def test_microphone_colours_the_mono_only_and_downmix_is_exactly_the_mean(
    kemar: HRTFSet
) -> None:
    cfg = _anechoic_one_source()
    plan, _ = draw_scene(cfg, LEFT_SOURCE_SEED, 1)
    assert plan.mic is not None
    mono, binaural, _, _ = render_audio(cfg, kemar, plan, LEFT_SOURCE_SEED)
    plain_mono, plain_binaural, _, _ = render_audio(cfg, kemar, replace(plan, mic=None),
                                                    LEFT_SOURCE_SEED)

    def residual(a: np.ndarray, b: np.ndarray) -> float:
        """Energy of a - (best scale) b, relative to a's."""
        a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
        return float(np.sum((a - (a @ b) / (b @ b) * b) ** 2) / np.sum(a**2))

    assert residual(binaural, plain_binaural) < 1e-10  # the ears are untouched
    assert residual(mono, plain_mono) > 1e-3  # the microphone is not neutral
    downmix_cfg = replace(cfg, mono_mode="downmix")
    dm_mono, dm_binaural, _, _ = render_audio(downmix_cfg, kemar, plan, LEFT_SOURCE_SEED)
    np.testing.assert_array_equal(dm_binaural, binaural)  # the same target as "omni"
    np.testing.assert_array_equal(dm_mono, 0.5 * (binaural[LEFT] + binaural[RIGHT]))
    assert residual(mono, 0.5 * (binaural[LEFT] + binaural[RIGHT])) > 1e-3


def test_the_default_mono_is_the_omni_capture() -> None:
    from flows.params import load_params

    assert SynthConfig().mono_mode == "omni"
    assert load_params().synth.mono_mode == "omni"
    with pytest.raises(ValueError, match="mono_mode"):
        SynthConfig(mono_mode="stereo")


def _tone_library(tmp_path: Path, freq_hz: float) -> Path:
    folder = tmp_path / "audio"
    (folder / "guitar").mkdir(parents=True)
    rate = 22050
    t = np.arange(int(0.7 * rate)) / rate  # shorter than the scene: it loops
    sf.write(folder / "guitar" / "tone.flac", 0.3 * np.sin(2 * np.pi * freq_hz * t), rate)
    return folder


def test_source_audio_folder_supplies_the_sources(tmp_path: Path, kemar: HRTFSet) -> None:
    freq = 523.25
    library = SourceLibrary.from_folder(_tone_library(tmp_path, freq), CFG.classes)
    scene = render_scene(CFG, kemar, "files", TWO_SOURCE_SEED, 2, library)
    (source,) = scene.truth["sources"]  # only the guitar has material
    assert source["class"] == "guitar" and source["audio"] == "tone.flac"
    spectrum = np.abs(np.fft.rfft(scene.mono.astype(np.float64)))
    freqs = np.fft.rfftfreq(scene.mono.size, 1.0 / CFG.sample_rate)
    assert freqs[np.argmax(spectrum)] == pytest.approx(freq, abs=2.0)
    (tmp_path / "audio" / "kazoo").mkdir()
    (tmp_path / "audio" / "kazoo" / "a.wav").write_bytes(
        (tmp_path / "audio" / "guitar" / "tone.flac").read_bytes())
    with pytest.raises(ValueError, match="kazoo"):
        SourceLibrary.from_folder(tmp_path / "audio", CFG.classes)


def test_room_scene_reverberates_with_its_rt60(tmp_path: Path, kemar: HRTFSet) -> None:
    """A click train as source audio: the scene's mono after a click decays with the
    room's RT60, and the ears' late sound is decorrelated."""
    rate = V2.sample_rate
    clicks = np.zeros(2 * rate)
    clicks[[rate // 4, rate + rate // 4]] = 1.0
    folder = tmp_path / "clicks"
    folder.mkdir()
    sf.write(folder / "clicks.wav", clicks, rate)
    cfg = replace(V2, silent_object_prob=0.0, silence_gap_prob=0.0, ambience_prob=0.0,
                  noise_prob=0.0, mic_colour_prob=0.0, absorption=(0.3, 0.3), max_sources=1)
    scene = render_scene(cfg, kemar, "clicks", V2_SEED, 1,
                         SourceLibrary.from_folder(folder, cfg.classes))
    rt60 = scene.truth["room"]["rt60_s"]
    arrival = int(np.argmax(np.abs(scene.mono[: rate])))
    late = scene.mono[arrival + int(0.065 * rate): arrival + int(0.9 * rate)].astype(float)
    energy = np.cumsum(late[::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0])
    i0, i1 = np.argmax(edc <= -5), np.argmax(edc <= -25)
    slope = np.polyfit(np.arange(i0, i1) / rate, edc[i0:i1], 1)[0]
    assert -60.0 / slope == pytest.approx(rt60, rel=0.2)
    ears = scene.binaural[:, arrival + int(0.08 * rate): arrival + int(0.9 * rate)]
    assert _max_correlation(ears[LEFT], ears[RIGHT]) < 0.4


def test_heads_are_drawn_per_scene(tmp_path: Path, kemar: HRTFSet, sample_rate: int) -> None:
    heads = [kemar, *load_heads([SONICOM_1], sample_rate)]
    picks = [pick_head(heads, seed).name for seed in range(40)]
    assert set(picks) == {h.name for h in heads}
    assert picks == [pick_head(heads, seed).name for seed in range(40)]
    cfg = replace(CFG, scenes=3, duration_s=0.4, width=96, height=64, video_fps=5,
                  max_sources=1)
    truths = synthesize(cfg, heads, tmp_path)
    for truth in truths:
        head = pick_head(heads, truth["seed"])
        assert (truth["hrtf"], truth["hrtf_digest"]) == (head.name, head.digest)


def test_cli_flat_layout_takes_the_v2_flags(tmp_path: Path) -> None:
    from flows.cli import main

    folder = _tone_library(tmp_path, 440.0)
    out = tmp_path / "flat"
    code = main(["synth", str(out), "--scenes", "1", "--seed", "2", "--duration", "0.5",
                 "--room", "none", "--hrtf", "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa",
                 "--source-audio", str(folder), "--mono-mode", "downmix"])
    assert code == 0
    (video,) = out.glob("*.mp4")  # the v1 flat layout that remaster and the demo read
    truth = json.loads((out / "truth" / f"{video.stem}.json").read_text())
    assert (out / "truth" / f"{video.stem}.binaural.wav").is_file()
    assert truth["room"] == {"type": "none"} and truth["mono"] == "downmix"
    assert truth["hrtf"] == "MIT_KEMAR_normal_pinna"
    assert [s["audio"] for s in truth["sources"] if not s["silent"]] == ["tone.flac"]
