"""Dataset loaders: FAIR-Play's folder layout (ours and the original) and a user's own paired
recordings, all yielding the same Records (docs/formats.md).

    FAIR-Play:  ROOT/videos/<id>.mp4, ROOT/binaural_audios/<id>.wav, ROOT/splits/split<N>/
                {train,val,test}.txt (one id per line) or .h5 (FAIR-Play's own: a dataset
                `audio` of paths to binaural wavs); ours adds ROOT/mono_audios/<id>.wav and
                ROOT/truth/<id>.json.
    Paired:     FOLDER/<id>.mp4 + FOLDER/<id>.binaural.wav (+ FOLDER/<id>.mono.wav);
                `binaural synth`'s archive (FOLDER/truth/<id>.binaural.wav and
                FOLDER/truth/<id>.json) reads as paired too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from binaural.io.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

# Suffixes stripped from a split-file entry to get the clip id (longest first).
ENTRY_SUFFIXES = (".binaural.wav", ".wav", ".mp4", ".json")
FAIRPLAY_SPLITS = ("train", "val", "test")
ALL_CLIPS = "all"  # the split name that selects every clip, ignoring split files
DEFAULT_SPLIT_NAME = "split1"
_SHOWN_MISSING = 5



@dataclass(frozen=True)
class Record:
    """One evaluation clip; paths only. mono and truth may be None (FAIR-Play itself has
    neither); split is None when the clips were not selected by a split file."""

    id: str
    video: Path
    binaural: Path
    mono: Path | None = None
    truth: Path | None = None
    split: str | None = None


def clip_id_from_entry(entry: str) -> str:
    """The clip id of a split-file line or .h5 path: '000001', 'binaural_audios/000001.wav'
    and '/data/FAIR-Play/binaural_audios/000001.wav' all give '000001'."""
    name = PurePosixPath(entry.strip().replace("\\", "/")).name
    for suffix in ENTRY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _read_txt_split(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [clip_id_from_entry(line) for line in lines if line and not line.startswith("#")]


def _read_h5_split(path: Path) -> list[str]:
    try:
        import h5py  # optional: only FAIR-Play's own split files need it
    except ImportError as exc:
        raise ImportError(f"{path}: reading FAIR-Play's .h5 split files needs h5py "
                          "(pip install h5py)") from exc
    with h5py.File(path, "r") as f:
        if "audio" not in f:
            raise ValueError(f"{path}: no dataset 'audio' (keys: {sorted(f.keys())})")
        entries = f["audio"][()]
    if isinstance(entries, bytes | str):
        entries = [entries]
    return [clip_id_from_entry(e.decode() if isinstance(e, bytes) else str(e)) for e in entries]


def read_split(split_dir: str | Path, split: str) -> list[str]:
    """Clip ids of one split: <split>.txt if present, else FAIR-Play's <split>.h5.

    Raises:
        FileNotFoundError: neither file exists (the message lists what does).
    """
    split_dir = Path(split_dir)
    for suffix, reader in ((".txt", _read_txt_split), (".h5", _read_h5_split)):
        path = split_dir / f"{split}{suffix}"
        if path.is_file():
            ids = reader(path)
            return list(dict.fromkeys(ids))  # drop repeats, keep order
    present = sorted(p.name for p in split_dir.iterdir()) if split_dir.is_dir() else []
    raise FileNotFoundError(f"{split_dir}: no {split}.txt or {split}.h5 (found {present})")


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def load_fairplay(
    root: str | Path, split_name: str = DEFAULT_SPLIT_NAME, split: str | None = "test"
) -> list[Record]:
    """Records of a FAIR-Play-layout folder, in split-file order.

    Args:
        root: The dataset folder (with videos/ and binaural_audios/).
        split_name: The folder under splits/ (FAIR-Play has split1..split10).
        split: train, val, test (or any <name>.txt/.h5 there); None or "all" for every clip
            in binaural_audios/, sorted.

    Raises:
        FileNotFoundError: the split file is missing.
        ValueError: clips listed in the split lack their video or binaural wav.
    """
    root = Path(root)
    audio_dir = root / "binaural_audios"
    if not audio_dir.is_dir():
        raise NotADirectoryError(f"{root}: not a FAIR-Play folder (no binaural_audios/)")
    if split is None or split == ALL_CLIPS:
        ids, split = sorted(p.stem for p in audio_dir.glob("*.wav")), None
    else:
        ids = read_split(root / "splits" / split_name, split)
    records, missing = [], []
    for clip_id in ids:
        video = _first_existing([root / "videos" / f"{clip_id}{s}" for s in VIDEO_SUFFIXES])
        binaural = audio_dir / f"{clip_id}.wav"
        if video is None or not binaural.is_file():
            missing.append(clip_id)
            continue
        mono = root / "mono_audios" / f"{clip_id}.wav"
        truth = root / "truth" / f"{clip_id}.json"
        records.append(Record(
            id=clip_id, video=video, binaural=binaural,
            mono=mono if mono.is_file() else None,
            truth=truth if truth.is_file() else None,
            split=split,
        ))
    if missing:
        raise ValueError(
            f"{root}: {len(missing)} clips of split {split_name}/{split} lack their video or "
            f"binaural wav: {missing[:_SHOWN_MISSING]}{' ...' if len(missing) > 5 else ''}"
        )
    return records


def load_paired(folder: str | Path) -> list[Record]:
    """Records of a folder of a user's paired recordings, sorted by id.

    Each <id>.<video suffix> pairs with <id>.binaural.wav (or truth/<id>.binaural.wav) and
    optionally <id>.mono.wav and truth/<id>.json; a video with no binaural is skipped with a
    warning.

    Raises:
        ValueError: no video in the folder has a binaural recording.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    records = []
    videos = sorted(p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                    and not p.name.startswith("."))
    for video in videos:
        clip_id = video.stem
        if clip_id.endswith(".binaural"):  # a remaster output lying in the folder
            continue
        binaural = _first_existing([folder / f"{clip_id}.binaural.wav",
                                    folder / "truth" / f"{clip_id}.binaural.wav"])
        if binaural is None:
            log.warning("%s: no %s.binaural.wav beside it; skipped", video, clip_id)
            continue
        records.append(Record(
            id=clip_id, video=video, binaural=binaural,
            mono=_first_existing([folder / f"{clip_id}.mono.wav"]),
            truth=_first_existing([folder / "truth" / f"{clip_id}.json"]),
        ))
    if not records:
        raise ValueError(f"{folder}: no video with a <id>.binaural.wav beside it")
    return records


def load_dataset(path: str | Path, split: str | None = "test") -> list[Record]:
    """Records of a dataset folder, its layout detected (binaural_audios/ -> FAIR-Play).

    split: for FAIR-Play, "test" (split1's), "split3/test" (another split folder), or "all";
    a paired folder has no splits and always gives every clip.
    """
    path = Path(path)
    if not path.is_dir():
        raise NotADirectoryError(f"{path}: dataset folder not found")
    if (path / "binaural_audios").is_dir():
        split_name = DEFAULT_SPLIT_NAME
        if split and "/" in split:
            split_name, split = split.split("/", 1)
        return load_fairplay(path, split_name, split)
    if split not in (None, ALL_CLIPS):
        log.info("%s: a paired folder has no splits; every clip is used", path)
    return load_paired(path)
