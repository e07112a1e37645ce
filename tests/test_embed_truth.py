"""Visual embeddings of true sources (scripts/embed_truth.py) and their use by load_truth."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from binaural.eval.truth import load_truth, visual_path
from flows.environment import PROJECT_ROOT
from flows.params import load_params

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from embed_truth import embed_folder  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    from models.builders import build_detector

    return build_detector(replace(load_params().detector, device="cpu", threads=1))


def test_each_true_source_gets_its_crops_embedding_and_a_rerun_skips(detector, tmp_path):
    folder = tmp_path / "set"
    shutil.copytree(PROJECT_ROOT / "data" / "sample", folder)
    orphan = folder / "truth" / "orphan.json"  # a truth with no video beside it
    shutil.copy(folder / "truth" / "scene_007_0000.json", orphan)
    written, skipped, errors = embed_folder(folder, detector)
    assert (written, skipped) == (3, 0)
    assert len(errors) == 1 and errors[0].startswith("orphan:") and "no video" in errors[0]
    names = [detector.names[i] for i in range(len(detector.names))]
    for truth_json in sorted((folder / "truth").glob("scene_*.json")):
        if truth_json.name.endswith(".visual.json"):
            continue
        data, tracks = load_truth(truth_json)
        assert tracks and all(t.embedding is not None for t in tracks)
        for t in tracks:
            assert t.embedding.shape == (detector.embedding_dim,)
            assert t.embedding_source == detector.embedding_source
            # the class-score part names the drawn source
            assert names[int(np.argmax(t.embedding[:len(names)]))] == t.source_class
    again = embed_folder(folder, detector)
    assert again[:2] == (0, 3)


def test_a_visual_file_that_does_not_fit_the_truth_is_refused(tmp_path):
    truth = tmp_path / "a.json"
    shutil.copy(PROJECT_ROOT / "data" / "sample" / "truth" / "scene_007_0000.json", truth)
    n = len(json.loads(truth.read_text())["sources"])
    visual_path(truth).write_text(json.dumps({"source": "x", "embeddings": [None] * (n + 1)}))
    with pytest.raises(ValueError, match=r"a\.visual\.json"):
        load_truth(truth)
    visual_path(truth).write_text(json.dumps({"source": "x", "embeddings": [None] * n}))
    _, tracks = load_truth(truth)  # null entries: sources never seen in a frame
    assert all(t.embedding is None for t in tracks)
    assert visual_path(Path("d/truth/s1.json")) == Path("d/truth/s1.visual.json")
