"""Audio files (WAV/FLAC through soundfile), written atomically."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from binaural.io.outputs import atomic_path

# libsndfile's command that turns off the PEAK chunk of float WAVs (sndfile.h): that chunk
# carries the wall-clock time of writing, so the same audio written twice had different
# bytes (and checksums in the manifest).
SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _float_wav_writer(path: Path, sample_rate: int, channels: int) -> sf.SoundFile:
    """A 32-bit float WAV opened for writing whose bytes depend only on the audio."""
    f = sf.SoundFile(str(path), "w", sample_rate, channels, subtype="FLOAT", format="WAV")
    sf._snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, sf._snd.SF_FALSE)
    return f


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (C, N) or (N,) float audio as 32-bit float WAV."""
    audio = np.asarray(audio, dtype=np.float32)
    data = audio.T if audio.ndim == 2 else audio
    with atomic_path(path) as tmp, _float_wav_writer(
            tmp, sample_rate, 1 if data.ndim == 1 else data.shape[1]) as f:
        f.write(data)


def write_wav_stream(
    path: str | Path, chunks: Iterable[np.ndarray], sample_rate: int, channels: int = 2
) -> int:
    """Write (C, n) chunks to a WAV as they come; returns the number of frames."""
    frames = 0
    with atomic_path(path) as tmp:
        with _float_wav_writer(tmp, sample_rate, channels) as f:
            for chunk in chunks:
                f.write(np.asarray(chunk, dtype=np.float32).T)
                frames += chunk.shape[-1]
    return frames


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as (C, N) float32 and its rate."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T.copy(), rate


def iter_wav(path: str | Path, chunk_frames: int) -> Iterator[np.ndarray]:
    """Read a file as (C, n) float32 chunks."""
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=chunk_frames, dtype="float32", always_2d=True):
            yield block.T.copy()
