"""Users' own recordings as source material (`binaural synth --source-audio DIR`).

DIR holds WAV or FLAC files. Files in a subfolder named after a sound-source class
(DIR/person/*.wav, DIR/violin/*.flac) play only that class; files directly in DIR play
any class. A source takes a random excerpt of one file (looped when the file is
shorter), mixed to mono, resampled and levelled like the built-in material.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from binaural.synth.source_audio import normalise_level

AUDIO_SUFFIXES = (".wav", ".flac")


def _audio_files(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p) for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                        and not p.name.startswith(".")))


@dataclass(frozen=True)
class SourceLibrary:
    """Audio files by class (`by_class`) and for any class (`generic`), sorted paths."""

    by_class: tuple[tuple[str, tuple[str, ...]], ...]
    generic: tuple[str, ...]

    @classmethod
    def from_folder(cls, folder: str | Path, known_classes: Iterable[str]) -> SourceLibrary:
        """Scan DIR (module docstring).

        Raises:
            NotADirectoryError: DIR is not a folder.
            ValueError: no WAV/FLAC file in it, or a subfolder names no known class.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder}: source-audio folder not found")
        known = set(known_classes)
        by_class = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = _audio_files(sub)
            if not files:
                continue
            if sub.name not in known:
                raise ValueError(f"{sub}: not a sound-source class (known: {sorted(known)})")
            by_class.append((sub.name, files))
        library = cls(tuple(by_class), _audio_files(folder))
        if not library.generic and not library.by_class:
            raise ValueError(f"{folder}: no {'/'.join(AUDIO_SUFFIXES)} files")
        return library

    def classes(self, wanted: Iterable[str]) -> tuple[str, ...]:
        """The wanted classes this library can play, in their order."""
        pinned = {name for name, _ in self.by_class}
        return tuple(c for c in wanted if self.generic or c in pinned)

    def files_for(self, source_class: str) -> tuple[str, ...]:
        pinned = dict(self.by_class).get(source_class, ())
        return pinned + self.generic

    def pick(self, source_class: str, rng: np.random.Generator) -> str:
        files = self.files_for(source_class)
        if not files:
            raise ValueError(f"no source audio for class {source_class!r}")
        return files[int(rng.integers(len(files)))]


def load_excerpt(path: str | Path, duration_s: float, sample_rate: int,
                 rng: np.random.Generator) -> np.ndarray:
    """A random excerpt of round(duration_s * sample_rate) samples, mono, levelled."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    mono = data.mean(axis=1)
    if rate != sample_rate:
        g = gcd(int(rate), sample_rate)
        mono = resample_poly(mono, sample_rate // g, int(rate) // g)
    n = int(round(duration_s * sample_rate))
    if mono.size == 0:
        raise ValueError(f"{path}: empty audio file")
    if mono.size < n:
        mono = np.tile(mono, int(np.ceil(n / mono.size)))
    start = int(rng.integers(0, mono.size - n + 1))
    return normalise_level(mono[start:start + n], sample_rate)
