"""Video I/O: probing, decoded audio and frames, writing, remuxing and refusals."""

import os
from pathlib import Path

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from binaural.io.video import (
    MediaError,
    iter_audio,
    iter_frames,
    probe,
    remux,
    video_packets,
    write_video,
)

WIDTH, HEIGHT, FPS = 320, 180, 25
DURATION_S = 1.0
CHUNK_S = 0.3
MIN_CORRELATION = 0.95  # AAC at 128 kb/s keeps tones and most of the noise
FRAME_SIZE = 1024  # AAC samples per frame


def _frames(count: int = int(DURATION_S * FPS)) -> list[np.ndarray]:
    """Frames that differ from each other: a bar moving across a gradient."""
    base = np.linspace(40, 200, WIDTH, dtype=np.uint8)[None, :, None]
    frames = []
    for i in range(count):
        f = np.broadcast_to(base, (HEIGHT, WIDTH, 3)).copy()
        x = 10 * i % WIDTH
        f[:, x : x + 8] = (220, 30, 30)
        frames.append(f)
    return frames


def _tone_and_noise(sample_rate: int, duration_s: float = DURATION_S, freq: float = 440.0,
                    seed: int = 0) -> np.ndarray:
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(n)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * noise).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray, trim: int = 2000) -> float:
    """Zero-lag correlation away from the codec's ramps at both ends."""
    return float(np.corrcoef(a[trim:-trim], b[trim:-trim])[0, 1])


def _read_audio(path: Path, sample_rate: int) -> np.ndarray:
    return np.concatenate(list(iter_audio(path, sample_rate, CHUNK_S)))


def _add_video(out: av.container.OutputContainer) -> av.stream.Stream:
    vs = out.add_stream("libx264", rate=FPS)
    vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    return vs


def _mux_video(out: av.container.OutputContainer, vs: av.stream.Stream) -> None:
    for i, img in enumerate(_frames()):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        for packet in vs.encode(frame):
            out.mux(packet)
    for packet in vs.encode():
        out.mux(packet)


def _mux_audio(out: av.container.OutputContainer, stream: av.stream.Stream,
               audio: np.ndarray, sample_rate: int) -> None:
    """Encode (C, N) float32 audio."""
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    for start in range(0, audio.shape[1], FRAME_SIZE):
        block = np.ascontiguousarray(audio[:, start : start + FRAME_SIZE], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = sample_rate, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def _write(path: Path, audio: np.ndarray | None, sample_rate: int, video: bool = True) -> Path:
    """A file with an optional H.264 stream and an optional AAC track of (C, N) audio."""
    with av.open(str(path), mode="w") as out:
        vs = _add_video(out) if video else None
        if audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            a_stream = out.add_stream("aac", rate=sample_rate, layout=layout)
        if vs is not None:
            _mux_video(out, vs)
        if audio is not None:
            _mux_audio(out, a_stream, audio, sample_rate)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, sample_rate: int) -> tuple[Path, np.ndarray]:
    """A 1 s 320x180 video with a mono tone-plus-noise track, and that track."""
    audio = _tone_and_noise(sample_rate)
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, _frames(), FPS, audio, sample_rate)
    return path, audio


def test_probe_reports_what_was_written(clip: tuple[Path, np.ndarray], sample_rate: int) -> None:
    info = probe(clip[0], min_duration_s=0.5)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.fps == pytest.approx(FPS)
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.03)
    assert (info.audio_rate, info.audio_channels) == (sample_rate, 1)
    assert (info.audio_codec, info.video_codec) == ("aac", "h264")


def test_probe_refuses_a_too_short_video(clip: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(MediaError, match="too short"):
        probe(clip[0], min_duration_s=5.0)


def test_iter_audio_returns_what_was_written(
    clip: tuple[Path, np.ndarray], sample_rate: int
) -> None:
    path, audio = clip
    chunks = list(iter_audio(path, sample_rate, CHUNK_S))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert max(c.size for c in chunks) == int(CHUNK_S * sample_rate)
    decoded = np.concatenate(chunks)
    assert decoded.size == round(probe(path).duration_s * sample_rate)
    assert decoded.size == audio.size
    assert _correlation(decoded, audio) > MIN_CORRELATION  # aligned: no codec delay left
    assert np.std(decoded) == pytest.approx(np.std(audio), rel=0.1)


@pytest.mark.parametrize("chunk_s", [0.01, 0.0213, 0.5])
def test_chunking_does_not_change_the_audio(
    clip: tuple[Path, np.ndarray], sample_rate: int, chunk_s: float
) -> None:
    whole = np.concatenate(list(iter_audio(clip[0], sample_rate, 10.0)))
    chunked = np.concatenate(list(iter_audio(clip[0], sample_rate, chunk_s)))
    np.testing.assert_array_equal(chunked, whole)


def test_stereo_is_mixed_to_mono(tmp_path: Path, sample_rate: int) -> None:
    left = _tone_and_noise(sample_rate, freq=440.0, seed=1)
    right = _tone_and_noise(sample_rate, freq=1250.0, seed=2)
    path = _write(tmp_path / "stereo.mp4", np.stack([left, right]), sample_rate)
    assert probe(path).audio_channels == 2
    decoded = _read_audio(path, sample_rate)
    mix = (left + right) / 2
    assert decoded.size == mix.size
    assert _correlation(decoded, mix) > MIN_CORRELATION
    # The average of the channels: a mono recording stored twice keeps its level.
    assert np.std(decoded) == pytest.approx(np.std(mix), rel=0.1)


def test_identical_channels_mix_to_the_same_signal(tmp_path: Path, sample_rate: int) -> None:
    audio = _tone_and_noise(sample_rate)
    path = _write(tmp_path / "dual_mono.mp4", np.stack([audio, audio]), sample_rate)
    decoded = _read_audio(path, sample_rate)
    assert _correlation(decoded, audio) > MIN_CORRELATION
    assert np.std(decoded) == pytest.approx(np.std(audio), rel=0.1)


def test_other_rates_are_resampled(tmp_path: Path, sample_rate: int) -> None:
    low_rate = 8000
    audio = _tone_and_noise(low_rate, freq=300.0)
    path = tmp_path / "8k.mp4"
    write_video(path, _frames(), FPS, audio, low_rate)
    assert probe(path).audio_rate == low_rate
    decoded = _read_audio(path, sample_rate)
    assert decoded.size == round(DURATION_S * sample_rate)
    expected = resample_poly(audio, sample_rate // low_rate, 1)
    assert _correlation(decoded, expected) > MIN_CORRELATION
    # Nothing above the original Nyquist frequency appears.
    spectrum = np.abs(np.fft.rfft(decoded)) ** 2
    freqs = np.fft.rfftfreq(decoded.size, 1 / sample_rate)
    assert spectrum[freqs > 0.55 * low_rate].sum() < 0.01 * spectrum.sum()


def test_iter_frames_samples_at_the_requested_rate(clip: tuple[Path, np.ndarray]) -> None:
    frames = list(iter_frames(clip[0], fps=5.0))
    times = [t for t, _ in frames]
    np.testing.assert_allclose(times, [0.0, 0.2, 0.4, 0.6, 0.8], atol=1e-6)
    written = _frames()
    for t, img in frames:
        assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
        expected = written[int(round(t * FPS))]
        assert np.abs(img.astype(int) - expected).mean() < 6.0  # the frame shown at t


def test_iter_frames_at_the_video_rate_gives_every_frame(clip: tuple[Path, np.ndarray]) -> None:
    assert len(list(iter_frames(clip[0], fps=FPS))) == int(DURATION_S * FPS)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to compare")
def test_written_bytes_do_not_depend_on_the_core_count(tmp_path: Path, sample_rate: int) -> None:
    """x264 cuts a frame into one slice per core unless told its thread count."""
    cores = os.sched_getaffinity(0)
    audio = _tone_and_noise(sample_rate)
    write_video(tmp_path / "all.mp4", _frames(), FPS, audio, sample_rate)
    try:
        os.sched_setaffinity(0, {min(cores)})
        write_video(tmp_path / "one.mp4", _frames(), FPS, audio, sample_rate)
    finally:
        os.sched_setaffinity(0, cores)
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "all.mp4").read_bytes()


def test_write_video_refuses_no_frames(tmp_path: Path, sample_rate: int) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "none.mp4", [], FPS, np.zeros(100), sample_rate)


def _decode_track(path: Path, index: int) -> np.ndarray:
    """Audio track `index` decoded as it is stored, (C, N) (codec priming included)."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[index]
        return np.concatenate([f.to_ndarray() for f in c.decode(stream)], axis=1)


def test_remux_copies_video_and_puts_binaural_first(
    clip: tuple[Path, np.ndarray], tmp_path: Path, sample_rate: int
) -> None:
    src, mono = clip
    left = _tone_and_noise(sample_rate, freq=440.0, seed=3)
    right = _tone_and_noise(sample_rate, freq=1250.0, seed=4)
    binaural = np.stack([left, right])
    cuts = [1, 1500, 4000, 20000, 20001]  # uneven pieces
    dest = tmp_path / "out.mp4"
    remux(src, np.split(binaural, cuts, axis=1), dest, sample_rate)

    packets = video_packets(src)
    assert len(packets) == int(DURATION_S * FPS) and all(packets)
    assert video_packets(dest) == packets
    info = probe(dest)
    assert (info.audio_channels, info.audio_codec, info.audio_rate) == (2, "aac", sample_rate)
    with av.open(str(dest)) as c:
        audio = c.streams.audio
        assert len(audio) == 2
        assert audio[0].index < audio[1].index
        assert audio[0].codec_context.channels == 2
        assert audio[1].codec_context.channels == 1
        # MP4 stores a track title as its "name" atom.
        titles = [a.metadata.get("title") or a.metadata.get("name") for a in audio]
        assert titles == ["binaural", "original mono"]

    decoded = _decode_track(dest, 0)
    n = binaural.shape[1]
    assert decoded.shape[1] >= n
    # AAC priming: align once on the left ear, then both ears must match their inputs.
    lag = int(np.argmax(np.correlate(decoded[0, : n + 4096], left, mode="valid")))
    out = decoded[:, lag : lag + n]
    assert _correlation(out[0], left) > MIN_CORRELATION
    assert _correlation(out[1], right) > MIN_CORRELATION
    assert _correlation(out[0], right) < 0.2  # ears not swapped

    # The original track is still there, with its content.
    (second,) = _decode_track(dest, 1)
    lag = int(np.argmax(np.correlate(second[: mono.size + 4096], mono, mode="valid")))
    assert _correlation(second[lag : lag + mono.size], mono) > MIN_CORRELATION


def test_probe_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nothing.mp4")


def test_probe_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "zero_bytes.mp4"
    path.touch()
    with pytest.raises(MediaError) as caught:
        probe(path)
    assert "empty" in str(caught.value).replace(str(path), "")  # the reason, not the name


def test_probe_refuses_a_text_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "notes_not_a_video.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match="notes_not_a_video.mp4"):
        probe(path)


def test_probe_refuses_audio_only(tmp_path: Path, sample_rate: int) -> None:
    path = _write(tmp_path / "audio_only.mp4", _tone_and_noise(sample_rate)[None], sample_rate,
                  video=False)
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)
    with pytest.raises(MediaError, match="no video stream"):
        list(iter_frames(path, fps=5.0))


def test_probe_refuses_video_only(tmp_path: Path, sample_rate: int) -> None:
    path = _write(tmp_path / "video_only.mp4", None, sample_rate)
    with pytest.raises(MediaError, match="no audio stream"):
        probe(path)
    with pytest.raises(MediaError, match="no audio stream"):
        list(iter_audio(path, sample_rate, CHUNK_S))
