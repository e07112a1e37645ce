"""A checkpoint's metadata read without torch (models.checkpoint_meta) equals torch.load's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.checkpoint_meta import checkpoint_identity, checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models" / "weights").glob("generator*.pt"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_meta_equals_torch_load(path):
    expected = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    assert checkpoint_meta(path) == expected


def test_tensors_and_ordered_dicts_around_the_meta_are_skipped(tmp_path):
    from collections import OrderedDict

    path = tmp_path / "c.pt"
    meta = {"name": "tiny", "steps": 3, "bands": [1.5, 2.5], "nested": {"a": None}}
    torch.save({"state_dict": OrderedDict(w=torch.ones(3)), "meta": meta}, path)
    assert checkpoint_meta(path) == meta
    assert checkpoint_identity(path).startswith("tiny@")


def test_not_a_checkpoint_falls_back(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a zip\n")
    assert checkpoint_meta(text) is None
    legacy = tmp_path / "legacy.pt"  # the pre-zip format: torch.load decides
    torch.save({"meta": {"name": "old"}}, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_meta(legacy) is None
    assert checkpoint_identity(legacy).startswith("old@")


def test_the_flow_names_the_generator_without_importing_torch():
    code = ("import sys; from flows.registry import generator_identity; "
            f"print(generator_identity({str(SHIPPED[0])!r})); "
            "assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    name = torch.load(SHIPPED[0], map_location="cpu", weights_only=True)["meta"]["name"]
    assert out.stdout.strip().startswith(f"{name}@")
