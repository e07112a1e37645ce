"""Synthesis v2's options: rooms, silent objects and gaps, beds, microphone, downmix
control, users' source audio, heads per scene."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth_support import ANGLE_TOL_DEG, CFG, LEFT_SOURCE_SEED, TWO_SOURCE_SEED, max_correlation

from binaural.constants import LEFT, RIGHT
from binaural.spatial.geometry import Camera
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import (
    draw_scene,
    pick_head,
    render_audio,
    render_scene,
    synthesize,
)
from binaural.synth.silences import FRAME_S, is_sounding
from binaural.synth.source_files import SourceLibrary

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
    assert max_correlation(v2_scene.mono, v2_scene.binaural.mean(axis=0)) < 0.95


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
    assert max_correlation(ears[LEFT], ears[RIGHT]) < 0.4


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
