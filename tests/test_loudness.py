"""Tests of binaural/delivery/loudness.py and of the delivered loudness in render_video."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from binaural.delivery.config import DeliveryConfig
from binaural.delivery.loudness import (
    Limiter,
    LoudnessMeter,
    TruePeakMeter,
    limit_wav,
    master_wav,
    measure_wav,
)
from binaural.eval.config import EvaluateConfig
from binaural.io.audio import read_wav, write_wav
from binaural.io.config import SceneConfig
from binaural.spatial.config import RenderConfig
from binaural.synth.config import SynthConfig

SR = 48000


def true_peak_dbtp(audio: np.ndarray) -> float:
    """An independent 4x-oversampled true-peak reading, (C, N) -> dBTP."""
    return float(20 * np.log10(np.abs(resample_poly(audio, 4, 1, axis=-1)).max()))


def program(seconds: float = 12.0, seed: int = 0) -> np.ndarray:
    """Stereo test programme: modulated noise left, a gated tone right, one transient."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR) + 123
    t = np.arange(n) / SR
    x = np.stack([0.1 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 0.5 * t)),
                  0.3 * np.sin(2 * np.pi * 997 * t) * (t % 2 < 1)])
    x[:, 5 * SR:5 * SR + 50] = 0.9
    return x


@pytest.mark.parametrize("chunk", [1000, 4800, 48000 * 10])
def test_streaming_meter_equals_pyloudnorm(chunk):
    x = program()
    meter, peak = LoudnessMeter(SR), TruePeakMeter()
    for start in range(0, x.shape[1], chunk):
        meter.add(x[:, start:start + chunk])
        peak.add(x[:, start:start + chunk])
    assert meter.integrated() == pytest.approx(
        pyloudnorm.Meter(SR).integrated_loudness(x.T), abs=0.01)
    assert 20 * np.log10(peak.finish()) == pytest.approx(true_peak_dbtp(x), abs=1e-6)


def test_dual_mono_weighting_is_two_equal_channels():
    x = program()[0]
    mono = LoudnessMeter(SR, (2.0,))
    mono.add(x[None])
    stereo = LoudnessMeter(SR)
    stereo.add(np.stack([x, x]))
    assert mono.integrated() == pytest.approx(stereo.integrated(), abs=1e-9)


@pytest.mark.parametrize("target", [-23.0, -16.0, -9.0])
def test_master_reaches_the_target_under_the_ceiling(tmp_path, target):
    src, dest = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(src, program(), SR)
    report = master_wav(src, dest, target, Limiter(ceiling_dbtp=-1.0), SR * 3)
    out, sr = read_wav(dest)
    independent = pyloudnorm.Meter(sr).integrated_loudness(out.T.astype(np.float64))
    assert abs(independent - report["output_lufs"]) < 0.05
    assert abs(independent - target) < 1.0
    assert true_peak_dbtp(out) <= -1.0
    assert report["output_true_peak_dbtp"] <= -1.0
    # the raw programme peaks above 0 dBTP: only the loudest target needs the limiter
    assert (report["limiter_max_reduction_db"] > 1.0) == (target == -9.0)


def test_limiter_is_not_a_clipper(tmp_path):
    """A 1 kHz tone pushed 6 dB over the ceiling comes out as a tone: no harmonics."""
    t = np.arange(4 * SR) / SR
    tone = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t)] * 2)
    tone[:, SR:3 * SR] *= 2.0  # 0 dBFS in the middle, ceiling -6 dBTP
    src, dest = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(src, tone, SR)
    report = master_wav(src, dest, None, Limiter(ceiling_dbtp=-6.0), SR)
    out, _ = read_wav(dest)
    assert true_peak_dbtp(out) <= -6.0
    assert report["limiter_max_reduction_db"] == pytest.approx(6.0, abs=0.3)
    middle = out[0, int(1.5 * SR):int(2.5 * SR)] * np.hanning(SR)
    spectrum = np.abs(np.fft.rfft(middle))
    harmonics = max(spectrum[3000], spectrum[5000], spectrum[2000])
    assert 20 * np.log10(harmonics / spectrum[1000]) < -80
    clipped = np.clip(tone[0, int(1.5 * SR):int(2.5 * SR)], -0.5, 0.5) * np.hanning(SR)
    clip_spec = np.abs(np.fft.rfft(clipped))
    assert 20 * np.log10(clip_spec[3000] / clip_spec[1000]) > -30  # what clipping gives


def test_measure_wav_reads_in_chunks(tmp_path):
    x = program(seconds=5.0)
    write_wav(tmp_path / "x.wav", x, SR)
    lufs, peak = measure_wav(tmp_path / "x.wav", 7000)
    assert lufs == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(x.T), abs=0.01)
    assert peak == pytest.approx(true_peak_dbtp(x), abs=1e-4)


@pytest.fixture(scope="module")
def scene(tmp_path_factory, kemar):
    from binaural.synth.scenes import synthesize

    src = tmp_path_factory.mktemp("scene")
    cfg = replace(SynthConfig(), scenes=1, seed=7, max_sources=1, duration_s=3.0)
    truth = synthesize(cfg, kemar, src)[0]
    return src, truth["id"] if "id" in truth else sorted(src.glob("*.mp4"))[0].stem


def localization(video: Path, truth_json: Path):
    from binaural.eval.truth import load_truth
    from binaural.io.video import probe
    from binaural.spatial.localization import Localization

    _, tracks = load_truth(truth_json)
    return Localization(info=probe(video), tracks=tracks, detector_version="truth",
                        thumbnail=np.zeros((2, 2, 3), np.uint8), fov_deg=65.0)


@pytest.mark.parametrize("target", [None, -16.0])
def test_render_video_delivers_the_loudness_it_reports(tmp_path, scene, kemar, target):
    from binaural.io.video import iter_audio
    from binaural.pipeline.stages import render_video
    from binaural.spatial.generator import DSPGenerator

    src, name = scene
    video = src / f"{name}.mp4"
    remaster = DeliveryConfig(loudness_lufs=target, true_peak_dbtp=-1.0)
    report = render_video(video, localization(video, src / "truth" / f"{name}.json"),
                          DSPGenerator(kemar, RenderConfig()), tmp_path, name, SceneConfig(),
                          EvaluateConfig(), delivery=remaster)
    loud = report["loudness"]
    out, sr = sf.read(str(tmp_path / f"{name}.binaural.wav"), always_2d=True)
    independent = pyloudnorm.Meter(sr).integrated_loudness(out)
    mono = np.concatenate(list(iter_audio(video, sr, 10.0)))
    input_lufs = pyloudnorm.Meter(sr).integrated_loudness(np.stack([mono, mono], axis=1))
    assert loud["input_lufs"] == pytest.approx(input_lufs, abs=0.05)
    assert abs(independent - loud["output_lufs"]) < 1.0
    assert abs(independent - (input_lufs if target is None else target)) < 1.0
    assert true_peak_dbtp(out.T) <= -1.0 and loud["output_true_peak_dbtp"] <= -1.0
    assert not list(tmp_path.glob(".*unmastered*"))  # the unmastered render is gone


def test_silence_is_delivered_as_silence(tmp_path):
    write_wav(tmp_path / "in.wav", np.zeros((2, SR)), SR)
    report = master_wav(tmp_path / "in.wav", tmp_path / "out.wav", -16.0, Limiter(), SR)
    out, _ = read_wav(tmp_path / "out.wav")
    assert not out.any() and out.shape == (2, SR)
    assert report["output_lufs"] is None and report["gain_db"] == 0.0


@pytest.mark.parametrize("gain_db", [-20.0, 0.0, 12.0])
def test_known_source_peak_skips_only_what_cannot_limit(tmp_path, gain_db):
    """With the source's true peak given, a source far under the ceiling skips the
    per-sample true peaks and one that reaches it is limited as before: the written
    file and the figures are the same, bit for bit, either way."""
    src = tmp_path / "in.wav"
    sf.write(src, (0.3 * program(4.0)).T, SR, subtype="FLOAT")
    _, peak_db = measure_wav(src, SR)
    limiter, gain = Limiter(ceiling_dbtp=-1.0), 10 ** (gain_db / 20)
    plain = limit_wav(src, tmp_path / "plain.wav", gain, limiter, SR)
    known = limit_wav(src, tmp_path / "known.wav", gain, limiter, SR,
                      src_true_peak=10 ** (peak_db / 20))
    assert known == plain
    assert np.array_equal(sf.read(tmp_path / "known.wav")[0], sf.read(tmp_path / "plain.wav")[0])
    assert (plain[2] > 0) == (gain_db > 0)  # only the loud case is limited at all
