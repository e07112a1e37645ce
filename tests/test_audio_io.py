"""Audio files: float WAVs whose bytes depend only on the audio (the manifest records
their checksums), read back exactly, streamed or whole."""

from __future__ import annotations

import time

import numpy as np

from binaural.io.audio import iter_wav, read_wav, write_wav, write_wav_stream


def test_the_same_audio_written_twice_gives_the_same_bytes(tmp_path):
    audio = np.random.default_rng(0).standard_normal((2, 4800)).astype(np.float32)
    write_wav(tmp_path / "a.wav", audio, 48000)
    time.sleep(1.1)  # libsndfile's PEAK chunk stamped the second; it is turned off
    write_wav(tmp_path / "b.wav", audio, 48000)
    write_wav_stream(tmp_path / "c.wav", [audio[:, :1000], audio[:, 1000:]], 48000)
    first = (tmp_path / "a.wav").read_bytes()
    assert first == (tmp_path / "b.wav").read_bytes() == (tmp_path / "c.wav").read_bytes()
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 48000 and np.array_equal(back, audio)
    pieces = list(iter_wav(tmp_path / "c.wav", 1000))
    assert [p.shape[1] for p in pieces] == [1000] * 4 + [800]
    assert np.array_equal(np.concatenate(pieces, axis=1), audio)


def test_mono_is_written_as_one_channel(tmp_path):
    mono = np.linspace(-1, 1, 100, dtype=np.float32)
    write_wav(tmp_path / "m.wav", mono, 16000)
    back, rate = read_wav(tmp_path / "m.wav")
    assert rate == 16000 and back.shape == (1, 100) and np.array_equal(back[0], mono)
