"""Source audio: length, level, determinism, and spectra where the notes are."""

import functools
import shutil
from pathlib import Path

import numpy as np
import pytest

from binaural.synth import source_audio
from binaural.synth.source_audio import (
    INSTRUMENTS,
    KNOWN_CLASSES,
    MAX_PEAK,
    PITCH_RANGE,
    instrument_notes,
    render_instrument,
    render_source,
    render_speech,
)
from binaural.synth.sprites import SPRITE_CLASSES

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SAMPLE_RATE = 16000
DURATION_S = 1.5
MIN_RMS = 0.02
A4_HZ, A4_MIDI = 440.0, 69
MAX_HARMONIC = 8
HARMONIC_TOL = 0.03

needs_soundfont = pytest.mark.skipif(not Path(SOUNDFONT).exists(), reason="no GM SoundFont")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


@functools.cache
def _render(source_class: str, seed: int) -> np.ndarray:
    return render_source(source_class, DURATION_S, SAMPLE_RATE, seed, SOUNDFONT)


def _marks(source_class: str) -> list[pytest.MarkDecorator]:
    return [needs_espeak] if source_class == "person" else [needs_soundfont]


ALL_CLASSES = [pytest.param(c, marks=_marks(c)) for c in KNOWN_CLASSES]


def test_every_sprite_class_has_audio() -> None:
    assert set(KNOWN_CLASSES) == set(SPRITE_CLASSES)


@pytest.mark.parametrize("source_class", ALL_CLASSES)
def test_length_level_and_finiteness(source_class: str) -> None:
    x = _render(source_class, 0)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == round(DURATION_S * SAMPLE_RATE)
    assert np.all(np.isfinite(x))
    assert np.sqrt(np.mean(x.astype(float) ** 2)) > MIN_RMS
    assert np.max(np.abs(x)) <= MAX_PEAK + 1e-6


@pytest.mark.parametrize("source_class", ALL_CLASSES)
def test_deterministic_by_seed(source_class: str) -> None:
    again = render_source(source_class, DURATION_S, SAMPLE_RATE, 0, SOUNDFONT)
    np.testing.assert_array_equal(_render(source_class, 0), again)
    assert not np.allclose(_render(source_class, 0), _render(source_class, 1), atol=1e-3)


@pytest.mark.parametrize("duration_s", [0.37, 1.0, 2.049])
@pytest.mark.parametrize("source_class", [pytest.param("piano", marks=needs_soundfont),
                                          pytest.param("person", marks=needs_espeak)])
def test_exact_length_for_odd_durations(source_class: str, duration_s: float) -> None:
    sample_rate = 22050
    x = render_source(source_class, duration_s, sample_rate, 3, SOUNDFONT)
    assert len(x) == round(duration_s * sample_rate)


@needs_soundfont
@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_dominant_frequency_is_a_harmonic_of_a_played_note(instrument: str) -> None:
    x = _render(instrument, 0).astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    peak_hz = freqs[np.argmax(spectrum)]
    assert 80.0 < peak_hz < 4000.0
    f0s = [A4_HZ * 2 ** ((n.midi - A4_MIDI) / 12) for n in instrument_notes(instrument, DURATION_S,
                                                                              0)]
    errors = [abs(peak_hz - k * f0) / (k * f0) for f0 in f0s for k in range(1, MAX_HARMONIC + 1)]
    assert min(errors) < HARMONIC_TOL


@pytest.mark.parametrize("instrument", INSTRUMENTS)
@pytest.mark.parametrize("seed", range(4))
def test_notes_in_range_and_looped_to_fill_duration(instrument: str, seed: int) -> None:
    duration_s = 300.0  # longer than any chorale at 70-120 bpm, so the material loops
    notes = instrument_notes(instrument, duration_s, seed)
    low, high = PITCH_RANGE[instrument]
    assert all(low <= n.midi <= high for n in notes)
    assert notes[0].start_s == 0.0
    assert max(n.start_s for n in notes) > 0.9 * duration_s
    assert all(0.0 <= n.start_s < n.end_s for n in notes)
    assert all(n.start_s < duration_s for n in notes)


def test_instruments_with_one_seed_play_different_music() -> None:
    melodies = {tuple(n.midi for n in instrument_notes(i, 20.0, 5)) for i in INSTRUMENTS}
    assert len(melodies) > 1


@needs_espeak
def test_speech_energy_in_voice_band_with_pauses() -> None:
    x = render_speech(3.0, SAMPLE_RATE, 2).astype(float)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    band = (freqs > 80.0) & (freqs < 4000.0)
    assert spectrum[band].sum() > 0.8 * spectrum.sum()
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    energy = np.mean(frames**2, axis=1)
    assert np.mean(energy < 1e-6 * energy.max()) > 0.02  # some silence between sentences


def test_missing_espeak_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_audio.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="espeak-ng"):
        render_speech(1.0, SAMPLE_RATE, 0)


def test_unknown_class_raises() -> None:
    with pytest.raises(ValueError, match="trumpet"):
        render_source("tuba", 1.0, SAMPLE_RATE, 0, SOUNDFONT)
    with pytest.raises(ValueError, match="unknown instrument"):
        render_instrument("person", 1.0, SAMPLE_RATE, 0, SOUNDFONT)


@needs_espeak
def test_speech_is_the_same_in_a_fresh_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh config folder (a new state dir, a DVC run on a clean machine) must not change
    the voice: espeak-ng's audio start-up there used to shift its breath noise."""
    outputs = []
    for i in range(3):
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / f"config{i}"))
        outputs.append(render_speech(1.0, SAMPLE_RATE, 526850485))  # a voice with a variant
    assert all(np.array_equal(outputs[0], x) for x in outputs[1:])
