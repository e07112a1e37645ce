"""A generator checkpoint's plain metadata read without importing torch.

The remaster flow names its output version after the checkpoint ("<name>@<sha12>",
checkpoint_identity below) before any worker starts; importing torch in the
driver only for that name cost seconds of CPU on every run. A checkpoint that
torch.save wrote is a zip holding one pickle (data.pkl) whose tensors are persistent
references to other members: read here with every class and every tensor reference
replaced by an inert placeholder, so only builtin values (the "meta" dict) come back as
they are. Nothing from the file is executed.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from binaural.io.outputs import file_sha256


class _Placeholder:
    """Stands for any class or callable the pickle names (tensors, OrderedDict...)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __call__(self, *args, **kwargs) -> _Placeholder:
        return _Placeholder()

    def __setstate__(self, state) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        pass


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return _Placeholder

    def persistent_load(self, pid):
        return None


def checkpoint_meta(path: str | Path) -> dict | None:
    """The "meta" dict of a torch.save'd checkpoint (its builtin values: names, numbers,
    strings), or None when the file is not a zip checkpoint with one data.pkl holding a
    dict (legacy formats: the caller falls back to torch.load)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                return None
            with archive.open(pickles[0]) as f:
                data = _InertUnpickler(f).load()
    except Exception:  # noqa: BLE001 - anything unexpected: the caller's torch.load decides
        return None
    if not isinstance(data, dict):
        return None
    meta = data.get("meta", {})
    return meta if isinstance(meta, dict) else None


def checkpoint_identity(path: str | Path, label: str | None = None) -> str:
    """What a checkpoint is, without building the network: "<label>@<sha12>", the label a
    registry version ("NAME/vN") or else the checkpoint's own name (the generator's
    `version`)."""
    path = Path(path)
    if label is None:
        meta = checkpoint_meta(path)
        if meta is None:
            import torch

            meta = torch.load(path, map_location="cpu", weights_only=True).get("meta", {})
        label = meta.get("name", path.stem)
    return f"{label}@{file_sha256(path)[:12]}"
