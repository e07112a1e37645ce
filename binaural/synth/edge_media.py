"""Awkward and broken media for drills and tests: what real archives contain.

Each writer makes one file; `write_edge_cases` writes the whole set and says, per file,
whether the pipeline should remaster it (odd but valid) or refuse it (with which words
in the reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from binaural.io.video import write_video

RATE = 48000


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(seconds * 1000) + rate + channels)
    x = 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.02 * rng.standard_normal(t.shape)
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)]).astype(np.float32)


def _frames(n: int, height: int, width: int, seed: int):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(height, width, 3), dtype=np.uint8)
    for i in range(n):
        yield np.roll(base, i * 2, axis=1)


def write_av(path: str | Path, seconds: float = 1.5, width: int = 320, height: int = 180,
             fps: int = 25, audio_rate: int = RATE, channels: int = 1, video: bool = True,
             audio: bool = True, vfr: bool = False, codec: str = "libx264",
             pix_fmt: str = "yuv420p", seed: int = 0) -> None:
    """A small clip with the given peculiarities."""
    with av.open(str(path), "w", format="mp4") as out:
        vs = as_ = None
        if video:
            vs = out.add_stream(codec, rate=fps)
            vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
            if vfr:
                vs.codec_context.time_base = Fraction(1, 1000)
        if audio:
            as_ = out.add_stream("aac", rate=audio_rate,
                                 layout="mono" if channels == 1 else "stereo")
        if vs is not None:
            t_ms = 0
            for i, img in enumerate(_frames(int(seconds * fps), height, width, seed)):
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                if vfr:  # alternate 20 ms and 60 ms frame spacing
                    frame.pts, frame.time_base = t_ms, Fraction(1, 1000)
                    t_ms += 20 if i % 2 == 0 else 60
                else:
                    frame.pts = i
                for packet in vs.encode(frame):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
        if as_ is not None:
            samples = _tone(seconds, audio_rate, channels)
            layout = "mono" if channels == 1 else "stereo"
            for start in range(0, samples.shape[1], 1024):
                block = np.ascontiguousarray(samples[:, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = audio_rate, start
                for packet in as_.encode(frame):
                    out.mux(packet)
            for packet in as_.encode(None):
                out.mux(packet)


def write_clip(path: str | Path, shown: Iterable[np.ndarray], fps: int, audio: np.ndarray,
               sample_rate: int, rotation_deg: int = 0, sample_aspect: Fraction = Fraction(1),
               audio_codec: str = "aac", corrupt_audio_at_s: Sequence[float] = (),
               corrupt_video_at_s: Sequence[float] = (), container: str | None = None) -> None:
    """Store pictures (RGB (H, W, 3) as they must be shown) and a mono track the way odd
    devices and damaged copies do.

    Each coded frame is the shown one turned back by `rotation_deg` (counter-clockwise, as
    ffprobe's "rotation": a portrait phone clip is -90) and squeezed horizontally by
    `sample_aspect`; the stream carries the display matrix and the SAR. The audio and
    video packets that cover the times in `corrupt_*_at_s` get random payloads of their
    size (what a bad sector or a broken copy leaves).
    """
    turns = int(round(rotation_deg / 90.0)) % 4
    audio = np.asarray(audio, dtype=np.float32).reshape(1, -1)
    rng = np.random.default_rng(len(corrupt_audio_at_s) * 7 + len(corrupt_video_at_s))

    def mux(out, packets, times, tb_s) -> None:
        for packet in packets:
            start = float(packet.pts * packet.time_base) if packet.pts is not None else -1.0
            length = float(packet.duration * packet.time_base) if packet.duration else tb_s
            if packet.size and any(start <= t < start + length for t in times):
                bad = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                bad.pts, bad.dts, bad.duration = packet.pts, packet.dts, packet.duration
                bad.time_base, bad.stream = packet.time_base, packet.stream
                bad.is_keyframe = packet.is_keyframe
                packet = bad
            out.mux(packet)

    with av.open(str(path), "w", format=container) as out:
        vs = None
        a_stream = out.add_stream(audio_codec, rate=sample_rate, layout="mono")
        for i, img in enumerate(shown):
            coded = np.ascontiguousarray(np.rot90(img, k=-turns))
            frame = av.VideoFrame.from_ndarray(coded, format="rgb24")
            width = int(round(coded.shape[1] / sample_aspect)) // 2 * 2
            if vs is None:
                vs = out.add_stream("libx264", rate=fps)
                vs.width, vs.height, vs.pix_fmt = width, coded.shape[0], "yuv420p"
                vs.codec_context.sample_aspect_ratio = sample_aspect
                vs.options = {"crf": "20", "preset": "veryfast"}
                if turns:
                    vs.set_display_rotation(rotation_deg)
            frame = frame.reformat(width=width, height=coded.shape[0], format="yuv420p")
            frame.pts = i
            mux(out, vs.encode(frame), corrupt_video_at_s, 1.0 / fps)
        if vs is None:
            raise ValueError(f"{path}: no frames to write")
        mux(out, vs.encode(), corrupt_video_at_s, 1.0 / fps)
        size = a_stream.codec_context.frame_size or 1024
        for start in range(0, audio.shape[1], size):
            block = np.ascontiguousarray(audio[:, start:start + size])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, start
            mux(out, a_stream.encode(frame), corrupt_audio_at_s, size / sample_rate)
        mux(out, a_stream.encode(None), corrupt_audio_at_s, size / sample_rate)


def write_displayed(path: str | Path, shown: Iterable[np.ndarray], fps: int, audio: np.ndarray,
                    sample_rate: int, rotation_deg: int = -90,
                    sample_aspect: Fraction = Fraction(1)) -> None:
    """A phone's portrait clip (or an anamorphic one): write_clip with a display rotation."""
    write_clip(path, shown, fps, audio, sample_rate, rotation_deg, sample_aspect)


def write_truncated(path: str | Path, source: str | Path, keep: float = 0.4) -> None:
    """The first part of a valid file, as a broken upload leaves it."""
    data = Path(source).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


# name -> (should be remastered?, words expected in the reason when refused)
EXPECTED: dict[str, tuple[bool, str]] = {
    "empty.mp4": (False, "empty"),
    "truncated.mp4": (False, ""),
    "text.mp4": (False, "not a readable video"),
    "audio_only.mp4": (False, "no video stream"),
    "video_only.mp4": (False, "no audio stream"),
    "too_short.mp4": (False, "too short"),
    "stereo.mp4": (True, ""),
    "rate_8k.mp4": (True, ""),
    "odd_size.mp4": (True, ""),
    "vfr.mp4": (True, ""),
    "portrait.mp4": (True, ""),
    "phone_portrait.mp4": (True, ""),
    "anamorphic.mp4": (True, ""),
    "corrupt_audio.mkv": (True, ""),
    "cut_tail.mkv": (True, ""),
    "cut_half.mkv": (False, "damaged beyond use"),
    "silent_audio.mp4": (True, ""),
    "pauses.mp4": (True, ""),
}
# name -> words expected in one of the warnings of an odd file that is remastered
WARNED: dict[str, str] = {
    "corrupt_audio.mkv": "undecodable audio packet",
    "cut_tail.mkv": "before its stated end",
    "silent_audio.mp4": "silent audio track",
}


def write_edge_cases(folder: str | Path, good_source: str | Path) -> dict[str, tuple[bool, str]]:
    """Write every case of EXPECTED into `folder`; `good_source` is a valid clip to
    truncate. Returns EXPECTED."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mp4").write_bytes(b"")
    write_truncated(folder / "truncated.mp4", good_source)
    (folder / "text.mp4").write_text("this is a text file with a video's name\n")
    write_av(folder / "audio_only.mp4", video=False, seed=1)
    write_av(folder / "video_only.mp4", audio=False, seed=2)
    write_av(folder / "too_short.mp4", seconds=0.3, seed=3)
    write_av(folder / "stereo.mp4", channels=2, seed=4)
    write_av(folder / "rate_8k.mp4", audio_rate=8000, seed=5)
    write_av(folder / "odd_size.mp4", width=321, height=179, codec="mpeg4",
             pix_fmt="yuv420p", seed=6)
    write_av(folder / "vfr.mp4", vfr=True, seed=7)
    write_av(folder / "portrait.mp4", width=180, height=320, seed=8)
    write_clip(folder / "phone_portrait.mp4", _frames(50, 320, 180, 9), 25, _tone(2.0, RATE)[0],
               RATE, rotation_deg=-90)
    write_clip(folder / "anamorphic.mp4", _frames(50, 180, 320, 10), 25, _tone(2.0, RATE)[0],
               RATE, sample_aspect=Fraction(4, 3))
    write_damaged(folder / "corrupt_audio.mkv", seconds=3.0, corrupt_at_s=(1.5,))
    write_damaged(folder / "whole.mkv.part", seconds=3.0)
    write_truncated(folder / "cut_tail.mkv", folder / "whole.mkv.part", keep=0.95)
    write_truncated(folder / "cut_half.mkv", folder / "whole.mkv.part", keep=0.5)
    (folder / "whole.mkv.part").unlink()
    write_clip(folder / "silent_audio.mp4", _frames(50, 180, 320, 11), 25,
               np.zeros(2 * RATE, np.float32), RATE)
    write_clip(folder / "pauses.mp4", _frames(100, 180, 320, 12), 25, with_pauses(4.0, RATE),
               RATE)
    return EXPECTED


def write_damaged(path: str | Path, seconds: float = 3.0, corrupt_at_s: Sequence[float] = (),
                  seed: int = 13) -> None:
    """A Matroska clip with AC3 audio (as in old camcorder and DVD rips) whose audio
    packets at `corrupt_at_s` are garbage."""
    write_clip(path, _frames(int(seconds * 25), 180, 320, seed), 25, _tone(seconds, RATE)[0],
               RATE, audio_codec="ac3", corrupt_audio_at_s=corrupt_at_s, container="matroska")


def with_pauses(seconds: float, rate: int, sound_s: float = 1.0,
                pause_s: float = 1.0) -> np.ndarray:
    """A tone that stops for `pause_s` after every `sound_s` (digital silence between)."""
    x = _tone(seconds, rate)[0]
    t = np.arange(x.shape[0]) / rate
    return np.where((t % (sound_s + pause_s)) < sound_s, x, 0.0).astype(np.float32)


def write_scene_clip(path: str | Path, seconds: float, seed: int) -> None:
    """A plain valid clip (no sources to detect) for bulk drills."""
    write_video(path, _frames(int(seconds * 25), 180, 320, seed), 25,
                _tone(seconds, RATE)[0], RATE)
