"""Tests of the FOA deliverables: binaural/spatial/ambisonics.py, binaural/io/spatial_media.py,
binaural/delivery/foa.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest

from binaural.delivery.config import DeliveryConfig
from binaural.eval.config import EvaluateConfig
from binaural.eval.direction import direction_track
from binaural.io.audio import read_wav
from binaural.io.config import SceneConfig
from binaural.io.spatial_media import box_tree, read_sa3d, tag_ambisonic
from binaural.io.video import video_packets
from binaural.spatial.ambisonics import (
    build_foa_spatializer,
    decode_binaural,
    intensity_direction,
    sn3d_gains,
    virtual_speakers,
)
from binaural.spatial.render import drain
from binaural.spatial.scene_render import render_scene
from binaural.spatial.tracks import SourceTrack

SR = 48000
SA3D_PATH = "moov/trak/mdia/minf/stbl/stsd/mp4a/SA3D"


def shipped_params():
    from flows.params import load_params

    return load_params()


def static_track(azimuth: float, elevation: float = 0.0, seconds: float = 3.0):
    times = np.array([0.0, seconds])
    return SourceTrack(0, "person", "person", 0.9, times, np.full(2, azimuth),
                       np.full(2, elevation), np.full(2, 2.0), np.zeros((2, 4)))


def test_sn3d_gains_are_ambix():
    g = sn3d_gains(np.array([0.0, 90.0, 0.0, 180.0, -90.0]), np.array([0, 0, 90.0, 0, 0]))
    # ACN order W, Y, Z, X; SN3D: unit gain on each first-order axis
    np.testing.assert_allclose(g, [[1, 0, 0, 1], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, -1],
                                   [1, -1, 0, 0]], atol=1e-12)
    # sampled on a 5-design: SN3D powers of a diffuse field, W 1 and 1/3 per dipole
    s = virtual_speakers()
    y = sn3d_gains(s[:, 0], s[:, 1])
    np.testing.assert_allclose(y.T @ y / len(s), np.diag([1, 1 / 3, 1 / 3, 1 / 3]), atol=1e-12)


@pytest.mark.parametrize("azimuth,elevation", [(40.0, 0.0), (-25.0, 10.0), (120.0, -20.0)])
def test_encoder_intensity_points_at_the_source(kemar, azimuth, elevation):
    rng = np.random.default_rng(1)
    mono = (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)
    enc = build_foa_spatializer(kemar, [static_track(azimuth, elevation)],
                                shipped_params().render, SR)
    foa = np.concatenate(list(drain(enc, [mono[i:i + SR] for i in range(0, mono.size, SR)])),
                         axis=1)
    assert foa.shape == (4, mono.size)
    az, el = intensity_direction(foa)
    assert abs(az - azimuth) < 1.0 and abs(el - elevation) < 1.0
    # W is the omni capture: the mono's energy
    assert np.mean(foa[0] ** 2) / np.mean(mono ** 2) == pytest.approx(1.0, rel=0.05)


def test_diffuse_part_is_decorrelated_and_directionless(kemar):
    """With every frame judged late (direct fraction at its floor) the FOA is mostly the
    diffuse field: its dipoles are decorrelated from W and carry 1/3 of W's power."""
    params = shipped_params()
    render = replace(params.render, reverb_model="", direct_floor=0.0, late_scale=50.0,
                     min_t60_s=0.0, fallback_t60_s=1.0)
    rng = np.random.default_rng(2)
    mono = (0.1 * rng.standard_normal(4 * SR)).astype(np.float32)
    enc = build_foa_spatializer(kemar, [static_track(60.0)], render, SR)
    enc.last_t60_s = 1.0
    enc.t60 = None  # keep the T60 fixed: a diffuse-dominated mix by construction
    foa = np.concatenate(list(drain(enc, [mono])), axis=1)
    w, y, z, x = foa.astype(np.float64)
    direct = sn3d_gains(np.array([60.0]), np.array([0.0]))[0]
    # the direction's share of the intensity is far below that of a direct-only encoding
    intensity = np.array([np.mean(w * x), np.mean(w * y), np.mean(w * z)])
    assert np.linalg.norm(intensity) < 0.5 * np.mean(w * w) * np.linalg.norm(direct[[3, 1, 2]])
    for dipole in (x, y, z):
        ratio = np.mean(dipole ** 2) / np.mean(w ** 2)
        assert 0.2 < ratio < 0.6


@pytest.mark.parametrize("azimuth", [40.0, -25.0])
def test_binaural_decode_agrees_with_the_direct_render(kemar, azimuth):
    params = shipped_params()
    rng = np.random.default_rng(3)
    mono = (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)
    track = static_track(azimuth)
    foa = np.concatenate(list(drain(build_foa_spatializer(kemar, [track], params.render, SR),
                                    [mono])), axis=1)
    direct = render_scene(mono, kemar, [track], params.render, SR)
    heard_direct = direction_track(direct, SR, EvaluateConfig())
    heard_decoded = direction_track(decode_binaural(foa, kemar), SR, EvaluateConfig())
    a = np.median(heard_direct.azimuth_deg[heard_direct.valid])
    b = np.median(heard_decoded.azimuth_deg[heard_decoded.valid])
    assert np.sign(a) == np.sign(b) == np.sign(azimuth)
    assert abs(a - b) < 10.0


def _faststart_mp4(path: Path, channels: int = 4) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=SR, layout="4.0")
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 9, np.uint8),
                                               format="rgb24")
            for p in v.encode(frame):
                out.mux(p)
        t = np.arange(SR) / SR
        audio = np.stack([np.sin(2 * np.pi * f * t) * 0.2 for f in (300, 500, 700, 900)])
        for start in range(0, SR, 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(
                audio[:, start:start + 1024], np.float32), format="fltp", layout="4.0")
            fr.sample_rate, fr.pts = SR, start
            for p in a.encode(fr):
                out.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                out.mux(p)


def _packets(path: Path) -> list[tuple[str, bytes]]:
    with av.open(str(path)) as c:
        return [(p.stream.type, bytes(p)) for p in c.demux() if p.size]


def test_tagging_moves_chunk_offsets_when_moov_comes_first(tmp_path):
    src, dest = tmp_path / "fast.mp4", tmp_path / "tagged.mp4"
    _faststart_mp4(src)
    tops = [p for p, _ in box_tree(src) if "/" not in p]
    assert tops.index("moov") < tops.index("mdat")  # the case that needs the offset shift
    tag_ambisonic(src, dest)
    assert _packets(dest) == _packets(src)  # every packet still found where it lies
    assert dest.stat().st_size == src.stat().st_size + 8 + 12 + 16
    with pytest.raises(ValueError, match="no audio track of 2 channels"):
        tag_ambisonic(src, tmp_path / "x.mp4", channels=2)


@pytest.fixture(scope="module")
def foa_scene(tmp_path_factory, kemar):
    """A synthesized one-source scene in a room (the shipped synthesis settings)."""
    from binaural.synth.scenes import synthesize

    src = tmp_path_factory.mktemp("foa_scene")
    cfg = replace(shipped_params().synth, scenes=1, seed=21, max_sources=1, duration_s=3.0,
                  heads=(), silent_object_prob=0.0)
    synthesize(cfg, kemar, src)
    return src, sorted(src.glob("*.mp4"))[0].stem


def test_render_video_writes_tagged_foa(tmp_path, foa_scene, kemar):
    from binaural.eval.truth import load_truth
    from binaural.io.video import probe
    from binaural.pipeline.stages import render_video
    from binaural.spatial.generator import DSPGenerator
    from binaural.spatial.localization import Localization

    src, name = foa_scene
    video = src / f"{name}.mp4"
    truth, tracks = load_truth(src / "truth" / f"{name}.json")
    loc = Localization(info=probe(video), tracks=tracks, detector_version="truth",
                       thumbnail=np.zeros((2, 2, 3), np.uint8), fov_deg=truth.get("fov_deg", 65))
    params = shipped_params()
    report = render_video(video, loc, DSPGenerator(kemar, params.render), tmp_path, name,
                          SceneConfig(), EvaluateConfig(),
                          delivery=DeliveryConfig(outputs=("binaural", "foa")), hrtf=kemar,
                          render=params.render)
    assert report["outputs"]["foa_wav"] == f"{name}.foa.wav"
    foa, sr = read_wav(tmp_path / f"{name}.foa.wav")
    assert foa.shape[0] == 4 and report["foa"]["true_peak_dbtp"] <= -1.0
    w_as_heard = np.stack([foa[0], foa[0]], axis=1).astype(np.float64)
    w_lufs = pyloudnorm.Meter(sr).integrated_loudness(w_as_heard)
    assert abs(w_lufs - report["loudness"]["target_lufs"]) < 1.0
    # per half second, the intensity vector points at the source's true azimuth
    win = sr // 2
    errors = []
    for start in range(0, foa.shape[1] - win, win):
        seg = foa[:, start:start + win]
        if np.mean(seg[0] ** 2) < 1e-3 * np.mean(foa[0] ** 2):
            continue
        az, _ = intensity_direction(seg)
        truth_az = np.interp((start + win / 2) / sr, tracks[0].times_s, tracks[0].azimuth_deg)
        errors.append(abs((az - truth_az + 180) % 360 - 180))
    assert len(errors) >= 4 and np.median(errors) < 10.0
    # the MP4: the video copied, one 4-channel track, the SA3D box in its sample entry
    mp4 = tmp_path / f"{name}.foa.mp4"
    assert SA3D_PATH in [p for p, _ in box_tree(mp4)]
    assert read_sa3d(mp4) == {"version": 0, "ambisonic_type": 0, "ambisonic_order": 1,
                              "channel_ordering": 0, "normalization": 0, "num_channels": 4,
                              "channel_map": [0, 1, 2, 3]}
    assert video_packets(mp4) == video_packets(video)
    with av.open(str(mp4)) as c:
        (audio,) = c.streams.audio
        assert audio.codec_context.channels == 4
        decoded = np.concatenate([f.to_ndarray() for f in c.decode(audio)], axis=1)
    n = min(decoded.shape[1], foa.shape[1]) - 4096
    for ch in range(4):  # AAC round trip keeps each ACN channel in its place (encoder delay)
        corr = max(np.corrcoef(decoded[ch, 2048:n], foa[ch, 2048 - k:n - k])[0, 1]
                   for k in (0, 1024, 2048))
        assert corr > 0.9, (ch, corr)
    json.dumps(report)  # the report stays serialisable


def test_box_dump_command(tmp_path, capsys):
    from binaural.io.spatial_media import main as dump

    src, dest = tmp_path / "fast.mp4", tmp_path / "tagged.mp4"
    _faststart_mp4(src)
    tag_ambisonic(src, dest)
    assert dump([str(dest)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "              SA3D (36 bytes)" in out
    assert out[-1].startswith("SA3D: {'version': 0, 'ambisonic_type': 0, 'ambisonic_order': 1")
