"""Video I/O with PyAV: probing, streamed audio and frames, writing and remuxing.

Everything here streams: audio comes out in chunks and frames one at a time, so
memory is bounded by the chunk size, not by the length of the video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from binaural.io.damage import Damage, judge

log = logging.getLogger(__name__)

# File names taken for videos when an archive or a dataset folder is listed.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")

# x264 settings under which the written bytes depend on the frames alone:
# - one thread: by default x264 cuts each frame into one slice per core, so the bytes
#   depended on the machine's core count;
# - no macroblock tree: its AVX-512 code reads uninitialised memory, so on AVX-512 CPUs
#   the same frames gave other bytes from one write to the next (with mbtree=0, or with
#   x264's asm limited to AVX2, they never did).
X264_THREADS = 1
X264_PARAMS = "mbtree=0"


class MediaError(ValueError):
    """A video that cannot be processed; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    duration_s: float
    audio_rate: int
    audio_channels: int
    audio_codec: str
    video_codec: str
    # The picture as shown: the coded size stretched by the sample aspect ratio, then
    # turned by the display matrix (phones store portrait video as landscape + 90 deg).
    display_width: int = 0
    display_height: int = 0
    rotation_deg: int = 0  # counter-clockwise turn for display, as ffprobe: 0, 90, 180, -90
    sample_aspect: float = 1.0

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.display_width or self.width, self.display_height or self.height)


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes)")
    try:
        return av.open(str(p), mode="r")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MediaError(f"{p}: not a readable video file ({reason})") from exc


def probe(path: str | Path, min_duration_s: float = 0.0) -> VideoInfo:
    """Read stream facts and refuse what the pipeline cannot use.

    Raises:
        MediaError: missing, empty or undecodable file, no video or no audio stream,
            or a duration under `min_duration_s`.
    """
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream")
        if not c.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        v, a = c.streams.video[0], c.streams.audio[0]
        duration = _stream_duration(c, a)
        if duration <= 0:
            raise MediaError(f"{path}: zero-length media")
        if duration < min_duration_s:
            raise MediaError(f"{path}: too short ({duration:.2f} s < {min_duration_s} s)")
        rate = v.average_rate or v.guessed_rate or Fraction(25)
        width, height = v.codec_context.width, v.codec_context.height
        sar = _sample_aspect(v)
        rotation = _first_frame_rotation(c, v)
        shown_w, shown_h = _display_size(width, height, sar, rotation)
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            fps=float(rate),
            duration_s=duration,
            audio_rate=a.codec_context.sample_rate,
            audio_channels=a.codec_context.channels,
            audio_codec=a.codec_context.name,
            video_codec=v.codec_context.name,
            display_width=shown_w,
            display_height=shown_h,
            rotation_deg=rotation,
            sample_aspect=float(sar),
        )


def _sample_aspect(stream) -> Fraction:
    sar = stream.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


def _quarter_turns(rotation: float) -> int:
    """The display rotation rounded to quarter turns, counter-clockwise, in 0..3."""
    return int(round(rotation / 90.0)) % 4


def _display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Shown size: anamorphic pixels stretched horizontally, then the quarter turns."""
    shown_w = max(1, int(round(width * sar))) if sar != 1 else width
    if _quarter_turns(rotation) % 2:
        return height, shown_w
    return shown_w, height


def _first_frame_rotation(container, stream) -> int:
    """The display matrix's rotation in degrees (0, 90, 180, -90), read from the first
    decoded frame (PyAV exposes the matrix on frames, not on streams); 0 if none decodes.
    A mirroring matrix (a selfie camera's) is read for its rotation only."""
    try:
        for frame, _ in _decode_concealing(container, stream, Damage("video")):
            if frame is not None:
                degrees = 90 * _quarter_turns(frame.rotation)
                return degrees - 360 if degrees > 180 else degrees
    except av.error.FFmpegError:
        pass
    return 0


def _stream_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _decode_concealing(
    container: av.container.InputContainer, stream: av.stream.Stream, damage: Damage
) -> Iterator[tuple[av.frame.Frame | None, float]]:
    """(frame, 0.0) for what decodes; (None, seconds) for a stretch that does not, recorded
    in `damage` and left to the caller to fill: a packet the decoder refuses, or a gap in
    the audio frames' timestamps (a decoder may drop a damaged frame without a word). A
    read error ends the stream, as a player stops at a cut."""
    origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    last_s = 0.0  # the last frame's length: the guess for a packet without one
    end_s: float | None = None  # where the last frame (or filled stretch) ended
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            log.info("%s: reading stopped (%s)", container.name, exc)
            return
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError:
            tb = packet.time_base or stream.time_base
            seconds = float(packet.duration * tb) if packet.duration else last_s
            at = float(packet.pts * tb) if packet.pts is not None else (end_s or origin)
            damage.packet(at - origin, seconds)
            end_s = at + seconds
            yield None, seconds
            continue
        for frame in frames:
            if isinstance(frame, av.AudioFrame):
                length = frame.samples / frame.sample_rate if frame.sample_rate else last_s
            else:
                length = float(frame.duration * frame.time_base) if (
                    frame.duration and frame.time_base) else last_s
            start = frame.time
            # Audio frames follow each other without gaps; video timestamps may skip
            # (N-VOPs, VFR), so a silently dropped video frame is not told from them.
            if (isinstance(frame, av.AudioFrame) and start is not None and end_s is not None
                    and start - end_s > max(0.5 * length, 1e-3)):
                damage.packet(end_s - origin, start - end_s)
                yield None, start - end_s
            last_s = length or last_s
            if start is not None:
                end_s = max(end_s or start, start + length)
            yield frame, 0.0


def iter_audio(
    path: str | Path, sample_rate: int, chunk_s: float, damage: Damage | None = None
) -> Iterator[np.ndarray]:
    """Decoded audio as mono float32 chunks of about `chunk_s` at `sample_rate`.

    Stereo or multichannel tracks are mixed to mono; other rates are resampled. The
    stream is trimmed to its stated duration (AAC decoders pad the last frame).
    Undecodable packets become silence of their length and a stream that ends early is
    padded, so the audio keeps the video's timing; `damage` (when given) records both.
    """
    damage = damage if damage is not None else Damage("audio")
    chunk = max(1, int(round(chunk_s * sample_rate)))
    with _open(path) as c:
        if not c.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        stream = c.streams.audio[0]
        total = int(round(_stream_duration(c, stream) * sample_rate))
        # Keep the channels and average them: FFmpeg's own stereo->mono downmix sums
        # them at -3 dB each, which raises a dual-mono track by 3 dB.
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        buffer: list[np.ndarray] = []
        buffered = emitted = 0
        try:
            for frame, lost_s in _decode_concealing(c, stream, damage):
                if frame is None:
                    buffer.append(np.zeros(int(round(lost_s * sample_rate)), np.float32))
                    buffered += buffer[-1].shape[0]
                for out in resampler.resample(frame) if frame is not None else ():
                    buffer.append(out.to_ndarray().mean(axis=0))
                    buffered += buffer[-1].shape[0]
                while buffered >= chunk and emitted < total:
                    joined = np.concatenate(buffer)
                    piece, rest = joined[:chunk], joined[chunk:]
                    piece = piece[: total - emitted]
                    emitted += piece.shape[0]
                    yield piece.astype(np.float32)
                    buffer, buffered = [rest], rest.shape[0]
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: audio decoding failed ({exc})") from exc
        if buffer and emitted < total:
            rest = np.concatenate(buffer)[: total - emitted]
            if rest.shape[0]:
                emitted += rest.shape[0]
                yield rest.astype(np.float32)
        damage.ended(emitted / sample_rate, total / sample_rate)
        if emitted < total:  # a short decode: pad so the output keeps the video's length
            yield np.zeros(total - emitted, dtype=np.float32)


def shown_picture(frame: av.VideoFrame, sar: Fraction,
                  reformatter: VideoReformatter | None = None) -> np.ndarray:
    """The frame as a player shows it: RGB (H, W, 3) stretched by the sample aspect ratio
    and turned by the display matrix. `reformatter`: one kept across a stream's frames
    keeps its scaler (the same pixels; ~0.3 ms a frame less than a scaler per frame)."""
    reformatter = reformatter or VideoReformatter()
    width = max(1, int(round(frame.width * sar))) if sar != 1 else None
    rgb = reformatter.reformat(frame, width=width, format="rgb24").to_ndarray()
    turns = _quarter_turns(frame.rotation)
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def sampled_frames(
    path: str | Path, fps: float, damage: Damage | None = None
) -> Iterator[tuple[float, av.VideoFrame, Fraction]]:
    """Decoded frames sampled at about `fps` as (time_s, frame, sample aspect ratio), for
    a caller that converts them. Undecodable packets are skipped and a stream cut short
    ends early; `damage` (when given) records both."""
    damage = damage if damage is not None else Damage("video")
    step = 1.0 / fps
    next_t = 0.0
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        sar = _sample_aspect(stream)
        last_t = 0.0
        try:
            for frame, _ in _decode_concealing(c, stream, damage):
                if frame is None:
                    continue
                t = float(frame.time) if frame.time is not None else next_t
                last_t = max(last_t, t + (1.0 / float(stream.average_rate or fps)))
                if t + 1e-6 < next_t:
                    continue
                yield t, frame, sar
                next_t = (np.floor(t / step + 1e-6) + 1) * step
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: video decoding failed ({exc})") from exc
        damage.ended(last_t, _stream_duration(c, stream))


def iter_frames(
    path: str | Path, fps: float, damage: Damage | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Frames sampled at about `fps` as (time_s, RGB uint8 array (H, W, 3)) of the picture
    as shown (display rotation and sample aspect ratio applied). Undecodable packets are
    skipped and a stream cut short ends early; `damage` (when given) records both."""
    reformatter = VideoReformatter()
    for t, frame, sar in sampled_frames(path, fps, damage):
        yield t, shown_picture(frame, sar, reformatter)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int,
    audio: np.ndarray,
    sample_rate: int,
    crf: int = 23,
) -> None:
    """Write H.264 video with a mono AAC track (what a phone records)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    with av.open(str(path), mode="w") as out:
        vs = None
        a_stream = out.add_stream("aac", rate=sample_rate, layout="mono")
        a_stream.bit_rate = 128_000
        for i, img in enumerate(frames):
            if vs is None:
                vs = out.add_stream("libx264", rate=fps)
                vs.height, vs.width = img.shape[:2]
                vs.pix_fmt = "yuv420p"
                vs.thread_count = X264_THREADS
                vs.options = {"crf": str(crf), "preset": "veryfast", "x264-params": X264_PARAMS}
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        if vs is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in vs.encode():
            out.mux(packet)
        _encode_audio(out, a_stream, audio[None, :], sample_rate)
        for packet in a_stream.encode(None):
            out.mux(packet)


# Channel count -> FFmpeg layout; 4 channels carry first-order ambisonics (ACN order kept
# through AAC's 4.0 layout).
CHANNEL_LAYOUTS = {1: "mono", 2: "stereo", 4: "4.0"}


def _encode_audio(out, stream, audio: np.ndarray, sample_rate: int, pts: int = 0) -> int:
    """Encode (C, N) float32 planar audio into `stream`; returns the next pts."""
    frame_size = 1024
    layout = CHANNEL_LAYOUTS[audio.shape[0]]
    for start in range(0, audio.shape[1], frame_size):
        block = np.ascontiguousarray(audio[:, start : start + frame_size], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = pts
        pts += block.shape[1]
        for packet in stream.encode(frame):
            out.mux(packet)
    return pts


def remux(
    src: str | Path,
    binaural_chunks: Iterable[np.ndarray],
    dest: str | Path,
    sample_rate: int,
    bit_rate: int = 192_000,
    channels: int = 2,
    title: str = "binaural",
    keep_original: bool = True,
) -> None:
    """Write `dest`: the source's video stream copied packet for packet, the binaural
    AAC track first and the original (mono) audio track copied as the second track
    (`keep_original`). `channels`/`title`: the new track's (4: ambisonics).

    `binaural_chunks` yields (2, n) float32 pieces; they are encoded as the source's
    packets are copied, so the whole soundtrack is never held in memory.
    """
    chunks = iter(binaural_chunks)
    with _open(src) as inp, av.open(str(dest), mode="w", format="mp4") as out:
        v_in, a_in = inp.streams.video[0], inp.streams.audio[0]
        v_out = out.add_stream_from_template(v_in)
        b_out = out.add_stream("aac", rate=sample_rate, layout=CHANNEL_LAYOUTS[channels])
        b_out.bit_rate = bit_rate
        b_out.metadata["title"] = title
        m_out = out.add_stream_from_template(a_in) if keep_original else None
        if m_out is not None:
            m_out.metadata["title"] = "original mono"
        pts = 0
        for packet in inp.demux(v_in, a_in) if keep_original else inp.demux(v_in):
            if packet.dts is None:
                continue
            t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            # Keep the binaural encoder about one second ahead of the copied packets.
            while pts < (t + 1.0) * sample_rate:
                piece = next(chunks, None)
                if piece is None:
                    break
                pts = _encode_audio(out, b_out, piece, sample_rate, pts)
            if packet.stream.index == v_in.index:
                packet.stream = v_out
            elif _undecodable(a_in, packet):
                # A damaged packet (the muxer may refuse it: AC3 into MP4): the copy of the
                # original track goes without it, as its decode did (binaural.io.damage).
                log.warning("%s: damaged audio packet at %.2f s left out of the copy", src, t)
                continue
            else:
                packet.stream = m_out
            out.mux(packet)
        for piece in chunks:
            pts = _encode_audio(out, b_out, piece, sample_rate, pts)
        for packet in b_out.encode(None):
            out.mux(packet)


def _undecodable(stream: av.stream.Stream, packet: av.Packet) -> bool:
    try:
        stream.decode(packet)
    except av.error.FFmpegError:
        return True
    return False


def video_packets(path: str | Path) -> list[bytes]:
    """The video stream's packet payloads, for checking a stream copy."""
    with _open(path) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def copy_video_stream(src: str | Path, dest: str | Path) -> None:
    """Write `dest` (MP4) with the source's video stream copied packet for packet and no
    audio: a muted copy, e.g. for a listening test that plays each system's track over it."""
    with _open(src) as inp:
        if not inp.streams.video:
            raise MediaError(f"{src}: no video stream")
        with av.open(str(dest), mode="w", format="mp4") as out:
            v_in = inp.streams.video[0]
            v_out = out.add_stream_from_template(v_in)
            for packet in inp.demux(v_in):
                if packet.dts is None:
                    continue
                packet.stream = v_out
                out.mux(packet)


def damage_warning(path: str | Path, label: str, damage: Damage, duration_s: float,
                   max_lost_fraction: float) -> str | None:
    """The warning naming a stream's concealed damage (None when undamaged), the video
    named by `label` (an archive key or URI).

    Raises:
        MediaError: more than `max_lost_fraction` of the duration was lost; it names the
            file at `path`, as every MediaError does (the item's record names its key).
    """
    try:
        text = judge(damage, duration_s, max_lost_fraction)
    except ValueError as exc:
        raise MediaError(f"{path}: damaged beyond use: {exc}") from exc
    return f"{label}: damaged stream concealed: {text}" if text else None
