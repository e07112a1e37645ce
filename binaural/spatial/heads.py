"""HRTF sets by name: package-relative specs, loading, and the held-out head policy.

A head is named by a SOFA path or by `pkg:<package>/<file>`, a file shipped inside an
installed Python package (the SONICOM examples of `spatialaudiometrics`; resolved by
binaural.io.resources, the one resolver of such specs). Held-out heads are
matched by content, so a renamed copy of one is refused as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from binaural.io.outputs import file_sha256
from binaural.io.resources import resolve_resource
from binaural.spatial.hrtf import HRTFSet, load_sofa

DIGEST_CHARS = 16  # as HRTFSet.digest


def resolve_hrtf(spec: str, base: str | Path | None = None) -> Path:
    """The file a head spec names (binaural.io.resources.resolve_resource).

    Raises:
        FileNotFoundError: the package or the file does not exist.
    """
    return resolve_resource(spec, base, "HRTF file")


def head_digest(path: str | Path) -> str:
    """The content hash that identifies a head (HRTFSet.digest of the loaded set)."""
    return file_sha256(path)[:DIGEST_CHARS]


def load_heads(specs: Iterable[str], sample_rate: int, base: str | Path | None = None
               ) -> list[HRTFSet]:
    """Load and normalise each named set (load_sofa), in order, without repeats."""
    heads: dict[str, HRTFSet] = {}
    for spec in specs:
        hrtf = load_sofa(resolve_hrtf(spec, base), sample_rate)
        heads.setdefault(hrtf.digest, hrtf)
    return list(heads.values())


def refuse_heldout(heads: Sequence[HRTFSet], heldout_digests: Iterable[str], use: str) -> None:
    """Raise when a held-out head is among `heads` (meant for `use`, e.g. train/val).

    Raises:
        ValueError: naming the offending set.
    """
    heldout = set(heldout_digests)
    bad = [h.name for h in heads if h.digest in heldout]
    if bad:
        raise ValueError(f"held-out HRTF set(s) {bad} refused for {use}: they are kept for "
                         "evaluation (use them for the test split only, e.g. --test-hrtf)")
