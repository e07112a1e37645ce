"""Tests of binaural/eval/datasets.py: FAIR-Play's layout and splits, paired recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from binaural.eval.datasets import (
    Record,
    clip_id_from_entry,
    load_dataset,
    load_fairplay,
    load_paired,
    read_split,
)
from binaural.io.video import write_video

RATE_HZ = 16000
IDS = ("000001", "000002", "000003", "000004")


def _video(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (np.full((32, 48, 3), 40 * i, np.uint8) for i in range(3))
    write_video(path, frames, 10, np.zeros(RATE_HZ // 4, np.float32), RATE_HZ)


def _wav(path: Path, channels: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros((RATE_HZ // 4, channels), np.float32), RATE_HZ)


@pytest.fixture(scope="module")
def fairplay(tmp_path_factory) -> Path:
    """FAIR-Play itself: videos, binaural wavs, .txt splits in split1, .h5 splits in split2;
    clip 000004 also has our mono and truth."""
    root = tmp_path_factory.mktemp("fairplay")
    for clip_id in IDS:
        _video(root / "videos" / f"{clip_id}.mp4")
        _wav(root / "binaural_audios" / f"{clip_id}.wav", 2)
    _wav(root / "mono_audios" / "000004.wav", 1)
    (root / "truth").mkdir()
    (root / "truth" / "000004.json").write_text('{"sources": []}')
    split1 = root / "splits" / "split1"
    split1.mkdir(parents=True)
    (split1 / "train.txt").write_text("000001\n000002\n")
    (split1 / "val.txt").write_text("# validation\n\nbinaural_audios/000003.wav\n")
    (split1 / "test.txt").write_text("000004\n000003\n000004\n")
    return root


@pytest.fixture(scope="module")
def fairplay_h5(fairplay: Path) -> Path:
    """FAIR-Play's own split files: a dataset `audio` of absolute paths to binaural wavs."""
    h5py = pytest.importorskip("h5py")
    split2 = fairplay / "splits" / "split2"
    split2.mkdir(parents=True, exist_ok=True)
    for split, ids in (("train", IDS[:3]), ("test", IDS[3:])):
        paths = [f"/data/FAIR-Play/binaural_audios/{i}.wav".encode() for i in ids]
        with h5py.File(split2 / f"{split}.h5", "w") as f:
            f.create_dataset("audio", data=np.array(paths, dtype="S"))
    return fairplay


def test_fairplay_txt_splits(fairplay: Path) -> None:
    train = load_fairplay(fairplay, "split1", "train")
    assert [r.id for r in train] == ["000001", "000002"]
    assert train[0] == Record("000001", fairplay / "videos" / "000001.mp4",
                              fairplay / "binaural_audios" / "000001.wav", None, None, "train")
    # Comments, blank lines and paths are read; order kept, repeats dropped.
    assert [r.id for r in load_fairplay(fairplay, "split1", "val")] == ["000003"]
    test = load_fairplay(fairplay, "split1", "test")
    assert [r.id for r in test] == ["000004", "000003"]
    assert test[0].mono == fairplay / "mono_audios" / "000004.wav"
    assert test[0].truth == fairplay / "truth" / "000004.json"
    assert test[1].mono is None and test[1].truth is None and test[1].split == "test"


def test_fairplay_h5_splits(fairplay_h5: Path) -> None:
    assert [r.id for r in load_fairplay(fairplay_h5, "split2", "train")] == list(IDS[:3])
    test = load_fairplay(fairplay_h5, "split2", "test")
    assert [r.id for r in test] == ["000004"] and test[0].split == "test"
    assert read_split(fairplay_h5 / "splits" / "split2", "test") == ["000004"]
    # split=splitN/name through load_dataset.
    assert [r.id for r in load_dataset(fairplay_h5, "split2/train")] == list(IDS[:3])


def test_fairplay_all_clips_and_errors(fairplay: Path, tmp_path: Path) -> None:
    every = load_fairplay(fairplay, split=None)
    assert [r.id for r in every] == list(IDS) and every[0].split is None
    assert [r.id for r in load_dataset(fairplay, "all")] == list(IDS)
    assert [r.id for r in load_dataset(fairplay)] == ["000004", "000003"]  # split1 test
    with pytest.raises(FileNotFoundError, match="no holdout.txt or holdout.h5"):
        load_fairplay(fairplay, "split1", "holdout")
    broken = tmp_path / "broken"
    _wav(broken / "binaural_audios" / "000001.wav", 2)
    (broken / "splits" / "split1").mkdir(parents=True)
    (broken / "splits" / "split1" / "test.txt").write_text("000001\n")
    with pytest.raises(ValueError, match="lack their video"):
        load_fairplay(broken)
    with pytest.raises(NotADirectoryError):
        load_fairplay(tmp_path / "nowhere")


@pytest.mark.parametrize(("entry", "clip_id"), [
    ("000001", "000001"),
    ("  000001.wav \n", "000001"),
    ("/data/FAIR-Play/binaural_audios/000123.wav", "000123"),
    ("C:\\FAIR-Play\\binaural_audios\\000007.wav", "000007"),
    ("scene_1.5.binaural.wav", "scene_1.5"),
    ("scene_1.5", "scene_1.5"),
])
def test_clip_id_from_entry(entry: str, clip_id: str) -> None:
    assert clip_id_from_entry(entry) == clip_id


def test_paired_recordings(tmp_path: Path) -> None:
    _video(tmp_path / "beach.mp4")
    _wav(tmp_path / "beach.binaural.wav", 2)
    _wav(tmp_path / "beach.mono.wav", 1)
    _video(tmp_path / "hall.mp4")
    _wav(tmp_path / "hall.binaural.wav", 2)
    _video(tmp_path / "lonely.mp4")  # no binaural: skipped
    _video(tmp_path / "synth_0.mp4")  # `binaural synth`'s archive: the binaural in truth/
    _wav(tmp_path / "truth" / "synth_0.binaural.wav", 2)
    (tmp_path / "truth" / "synth_0.json").write_text('{"sources": []}')
    records = load_paired(tmp_path)
    assert [r.id for r in records] == ["beach", "hall", "synth_0"]
    beach, hall, synth = records
    assert beach.mono == tmp_path / "beach.mono.wav" and beach.binaural.name == "beach.binaural.wav"
    assert hall.mono is None and hall.truth is None and hall.split is None
    assert synth.binaural == tmp_path / "truth" / "synth_0.binaural.wav"
    assert synth.truth == tmp_path / "truth" / "synth_0.json"
    # No binaural_audios/: detected as paired; a paired folder has no splits.
    assert load_dataset(tmp_path, "test") == records


def test_paired_folder_without_pairs_is_refused(tmp_path: Path) -> None:
    _video(tmp_path / "lonely.mp4")
    with pytest.raises(ValueError, match="no video with"):
        load_paired(tmp_path)
    with pytest.raises(NotADirectoryError):
        load_dataset(tmp_path / "missing")
