"""Dry source signals for synthetic scenes, deterministic by seed.

Instruments are real sampled sounds: Bach chorales from music21's bundled corpus played
through a General MIDI SoundFont with tinysoundfont (offline rendering, no audio device).
Speech is synthesized offline with the espeak-ng command line.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import tinysoundfont
from music21 import converter, corpus
from scipy.signal import resample_poly

# General MIDI programs (0-based) and comfortable MIDI pitch ranges per instrument.
GM_PROGRAM: dict[str, int] = {"piano": 0, "guitar": 24, "violin": 40, "trumpet": 56}
PITCH_RANGE: dict[str, tuple[int, int]] = {
    "piano": (36, 84),
    "guitar": (40, 76),
    "violin": (55, 88),
    "trumpet": (55, 82),
}
# The piano plays every voice of the chorale; the others play one voice.
POLYPHONIC = frozenset({"piano"})
INSTRUMENTS: tuple[str, ...] = tuple(GM_PROGRAM)
SPEECH_CLASS = "person"
KNOWN_CLASSES: tuple[str, ...] = (SPEECH_CLASS, *INSTRUMENTS)

CORPUS_COMPOSER = "bach"
# Scores with written-out voices; the corpus's Roman-numeral analyses (.rntxt) are chords.
CORPUS_SUFFIXES = (".mxl", ".xml", ".krn")
TEMPO_BPM = (70.0, 120.0)
VELOCITY = (70, 110)
VELOCITY_JITTER = 8
# Notes are released slightly before the next onset so repeated pitches re-attack.
LEGATO = 0.95
SECONDS_PER_MINUTE = 60.0
MIDI_CHANNEL = 0
SEMITONES_PER_OCTAVE = 12

# Loudness: peak to 0.5, then towards this RMS over active frames, never above MAX_PEAK.
PEAK_LEVEL = 0.5
TARGET_ACTIVE_RMS = 0.1
MAX_PEAK = 0.9
ACTIVE_FRAME_S = 0.02
ACTIVE_THRESHOLD_DB = -40.0

ESPEAK = "espeak-ng"
ESPEAK_LANGUAGES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
ESPEAK_SPEED_WPM = (135, 185)
ESPEAK_PITCH = (30, 70)
# espeak-ng opens an audio device even when writing a file; where PulseAudio first creates
# its runtime folder that consumes random numbers, and voice variants (+m1, +f2, ...) with
# breath noise then sound different. Pointing it at no server keeps speech the same by seed.
ESPEAK_ENV = {"PULSE_SERVER": "unix:/nonexistent"}
PAUSE_S = (0.15, 0.6)
# espeak-ng pads each utterance with silence; trim below this fraction of its peak.
TRIM_FRACTION = 0.01

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Could you pass me the salt, please?",
    "We are meeting at the station at nine.",
    "This old house has seen a lot of winters.",
    "I think the concert starts in ten minutes.",
    "Please turn left at the second traffic light.",
    "The weather has been lovely all week.",
    "Have you read the book I gave you?",
    "My brother plays the cello in an orchestra.",
    "Let me tell you a story about a sailor.",
    "The train to the coast leaves from platform four.",
    "She painted the kitchen a bright shade of yellow.",
    "Nobody expected the river to rise so quickly.",
    "Welcome back, everyone, and thank you for coming.",
    "The museum is closed on Mondays.",
    "Two coffees and a slice of lemon cake, please.",
    "I left my umbrella on the bus again.",
    "The children built a castle out of sand.",
    "Our neighbours are moving to the mountains.",
    "Can you hear the birds singing outside?",
    "This recipe needs three eggs and some flour.",
    "The lecture was longer than I had hoped.",
    "He fixed the bicycle with a single spanner.",
    "Remember to water the plants on Sunday.",
    "The market is busy every Saturday morning.",
    "I would like to book a table for four.",
    "The lights went out just before midnight.",
    "Her garden is full of roses and tomatoes.",
    "We walked along the beach until sunset.",
    "Thank you, that was a wonderful performance.",
)


class Note(NamedTuple):
    """One note to play: times in seconds, MIDI pitch and velocity."""

    start_s: float
    end_s: float
    midi: int
    velocity: int


Part = tuple[tuple[float, float, int], ...]  # (offset, duration) in quarter lengths, MIDI pitch


@functools.lru_cache(maxsize=1)
def _corpus_paths() -> tuple[str, ...]:
    paths = corpus.getComposer(CORPUS_COMPOSER)
    return tuple(sorted(str(p) for p in paths if str(p).endswith(CORPUS_SUFFIXES)))


@functools.lru_cache(maxsize=64)
def _parsed_parts(path: str) -> tuple[tuple[Part, ...], float]:
    """The note lists of every part with notes, and the piece's length in quarter lengths."""
    # forceSource: skip music21's shared pickle cache, which parallel workers would race on.
    score = converter.parse(path, forceSource=True)
    parts = []
    for part in score.parts:
        notes = []
        for element in part.stripTies().flatten().notes:
            if element.quarterLength <= 0:  # grace notes
                continue
            for pitch in element.pitches:
                notes.append((float(element.offset), float(element.quarterLength), pitch.midi))
        if notes:
            parts.append(tuple(sorted(notes)))
    return tuple(parts), float(score.highestTime)


def _octave_shift(pitches: list[int], low: int, high: int) -> int:
    """The octave transposition that leaves the fewest pitches outside [low, high]."""
    shifts = range(-3 * SEMITONES_PER_OCTAVE, 4 * SEMITONES_PER_OCTAVE, SEMITONES_PER_OCTAVE)

    def cost(shift: int) -> tuple[int, int]:
        outside = sum(not low <= p + shift <= high for p in pitches)
        return outside, abs(shift)

    return min(shifts, key=cost)


def _fold(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += SEMITONES_PER_OCTAVE
    while pitch > high:
        pitch -= SEMITONES_PER_OCTAVE
    return pitch


def _check_instrument(instrument: str) -> None:
    if instrument not in GM_PROGRAM:
        raise ValueError(f"unknown instrument {instrument!r}; known: {INSTRUMENTS}")


def instrument_notes(instrument: str, duration_s: float, seed: int) -> list[Note]:
    """The notes render_instrument plays: a chorale chosen by seed, in the instrument's range.

    The piece, the voice (all voices for the piano), the start and the tempo are drawn
    from the seed; the material loops when the piece is shorter than the duration.
    """
    _check_instrument(instrument)
    # Seeded per instrument too, so that instruments sharing a seed play different music.
    rng = np.random.default_rng((seed, INSTRUMENTS.index(instrument)))
    paths = _corpus_paths()
    parts, length_ql = _parsed_parts(paths[int(rng.integers(len(paths)))])
    if instrument in POLYPHONIC:
        notes = sorted({n for part in parts for n in part})  # doubled voices sound once
    else:
        notes = list(parts[int(rng.integers(len(parts)))])
    tempo = rng.uniform(*TEMPO_BPM)
    s_per_ql = SECONDS_PER_MINUTE / tempo
    base_velocity = int(rng.integers(VELOCITY[0], VELOCITY[1] + 1))
    low, high = PITCH_RANGE[instrument]
    shift = _octave_shift([n[2] for n in notes], low, high)

    needed_ql = duration_s / s_per_ql
    # Start on a note onset that leaves enough piece to play, or on the first note.
    latest_ql = max(length_ql - needed_ql, notes[0][0])
    onsets = sorted({n[0] for n in notes if n[0] <= latest_ql})
    start_ql = onsets[int(rng.integers(len(onsets)))]
    length_ql = max(length_ql, notes[-1][0] + notes[-1][1])

    played: list[Note] = []
    loop_ql = 0.0
    while loop_ql - start_ql < needed_ql:
        for offset, dur, midi in notes:
            t_ql = loop_ql + offset - start_ql
            if t_ql < 0:
                continue
            if t_ql >= needed_ql:
                break
            velocity = base_velocity + int(rng.integers(-VELOCITY_JITTER, VELOCITY_JITTER + 1))
            played.append(Note(t_ql * s_per_ql, (t_ql + dur * LEGATO) * s_per_ql,
                               _fold(midi + shift, low, high), int(np.clip(velocity, 1, 127))))
        loop_ql += length_ql
    return played


def _normalise(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Peak to PEAK_LEVEL, then towards TARGET_ACTIVE_RMS over active frames (peak-limited)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x.astype(np.float32)
    x = x * (PEAK_LEVEL / peak)
    frame = max(1, int(ACTIVE_FRAME_S * sample_rate))
    n_frames = len(x) // frame
    energy = np.mean(x[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
    if energy.size and energy.max() > 0.0:
        active = energy > energy.max() * 10 ** (ACTIVE_THRESHOLD_DB / 10)
        rms = math.sqrt(float(np.mean(energy[active])))
        x = x * min(TARGET_ACTIVE_RMS / rms, MAX_PEAK / PEAK_LEVEL)
    return x.astype(np.float32)


def normalise_level(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """The level every dry source gets, users' own files too (see _normalise)."""
    return _normalise(x, sample_rate)


def render_instrument(instrument: str, duration_s: float, sample_rate: int, seed: int,
                      soundfont: str) -> np.ndarray:
    """Render a chorale excerpt through the SoundFont's General MIDI program.

    Returns float32 mono of exactly round(duration_s * sample_rate) samples.
    """
    notes = instrument_notes(instrument, duration_s, seed)
    n_samples = round(duration_s * sample_rate)
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(soundfont)
    synth.program_select(MIDI_CHANNEL, sfid, 0, GM_PROGRAM[instrument])
    # (sample, order, key, velocity): note-offs (order 0) before note-ons at the same sample.
    events = sorted(
        [(round(n.end_s * sample_rate), 0, n.midi, 0) for n in notes]
        + [(round(n.start_s * sample_rate), 1, n.midi, n.velocity) for n in notes]
    )
    out = np.zeros(n_samples, dtype=np.float32)
    pos = 0
    for sample, order, key, velocity in events:
        sample = min(sample, n_samples)
        if sample > pos:
            out[pos:sample] = _mono(synth.generate_simple(sample - pos))
            pos = sample
        if order:
            synth.noteon(MIDI_CHANNEL, key, velocity)
        else:
            synth.noteoff(MIDI_CHANNEL, key)
    if n_samples > pos:
        out[pos:] = _mono(synth.generate_simple(n_samples - pos))
    return _normalise(out, sample_rate)


def _mono(buffer: memoryview) -> np.ndarray:
    stereo = np.frombuffer(buffer, dtype=np.float32).reshape(-1, 2)  # interleaved L, R
    return stereo.mean(axis=1)


def _trim(x: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > TRIM_FRACTION * np.max(np.abs(x)))
    return x[loud[0]: loud[-1] + 1] if loud.size else x[:0]


def render_speech(duration_s: float, sample_rate: int, seed: int) -> np.ndarray:
    """Sentences spoken by one espeak-ng voice chosen by seed, with short pauses.

    Returns float32 mono of exactly round(duration_s * sample_rate) samples.
    """
    program = shutil.which(ESPEAK)
    if program is None:
        raise RuntimeError(f"{ESPEAK} not found on PATH; install it (Debian package espeak-ng)")
    rng = np.random.default_rng(seed)
    voice = f"{rng.choice(ESPEAK_LANGUAGES)}+{rng.choice(ESPEAK_VARIANTS)}"
    speed = int(rng.integers(ESPEAK_SPEED_WPM[0], ESPEAK_SPEED_WPM[1] + 1))
    pitch = int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1))
    n_samples = round(duration_s * sample_rate)
    order = rng.permutation(len(SENTENCES))
    pieces: list[np.ndarray] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        index = 0
        while total < n_samples:
            sentence = SENTENCES[order[index % len(SENTENCES)]]
            wav = Path(tmp) / f"{index}.wav"
            subprocess.run([program, "-v", voice, "-s", str(speed), "-p", str(pitch),
                            "-w", str(wav), sentence], check=True, capture_output=True,
                           env={**os.environ, **ESPEAK_ENV})
            speech, rate = sf.read(wav, dtype="float64")
            gcd = math.gcd(sample_rate, rate)
            speech = resample_poly(_trim(speech), sample_rate // gcd, rate // gcd)
            pause = np.zeros(round(rng.uniform(*PAUSE_S) * sample_rate))
            pieces += [speech, pause]
            total += len(speech) + len(pause)
            index += 1
    return _normalise(np.concatenate(pieces)[:n_samples], sample_rate)


def render_source(source_class: str, duration_s: float, sample_rate: int, seed: int,
                  soundfont: str) -> np.ndarray:
    """Dry mono signal for a sound-source class: speech for a person, else an instrument."""
    if source_class == SPEECH_CLASS:
        return render_speech(duration_s, sample_rate, seed)
    if source_class in GM_PROGRAM:
        return render_instrument(source_class, duration_s, sample_rate, seed, soundfont)
    raise ValueError(f"unknown source class {source_class!r}; known: {KNOWN_CLASSES}")
