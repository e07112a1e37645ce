"""A synthesized dataset in FAIR-Play's layout (docs/formats.md), with its card.

    DATASET/videos/<id>.mp4             the video, its mono track as mono_audios/ (AAC)
            binaural_audios/<id>.wav    binaural truth, float stereo
            mono_audios/<id>.wav        the mono exactly (the omni capture, or the downmix)
            truth/<id>.json             truth JSON, with its split
            splits/<split_name>/{train,val,test}.txt
            dataset_card.json, DATASET_CARD.md

Splits are drawn before rendering, so the test split can have its own head (the
held-out one); held-out heads are refused for train and val. WAVs are written without
libsndfile's timestamped PEAK chunk, so the same seed gives the same bytes and the card's
content hashes repeat.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from binaural.io.outputs import atomic_path, file_sha256, write_json
from binaural.spatial.heads import refuse_heldout
from binaural.spatial.hrtf import HRTFSet
from binaural.synth.config import PrepareConfig, SynthConfig
from binaural.synth.scenes import (
    MONO_DESCRIPTIONS,
    Scene,
    pick_head,
    render_scene,
    scene_specs,
    write_scene_video,
)
from binaural.synth.source_files import SourceLibrary

SPLITS = ("train", "val", "test")
SPLIT_STREAM = 11
CARD_JSON = "dataset_card.json"
CARD_MD = "DATASET_CARD.md"
FOLDERS = {"video": "videos", "binaural": "binaural_audios", "mono": "mono_audios",
           "truth": "truth"}
SUFFIXES = {"video": ".mp4", "binaural": ".wav", "mono": ".wav", "truth": ".json"}


def assign_splits(count: int, fractions: Sequence[float], seed: int) -> list[str]:
    """The split of each scene index: round(count * share) for val and test, the rest
    train, the scenes chosen by a permutation drawn from `seed`."""
    n_val, n_test = (int(round(count * f)) for f in fractions[1:])
    n_val = min(n_val, count)
    n_test = min(n_test, count - n_val)
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(count)
    splits = ["train"] * count
    for i in order[:n_test]:
        splits[int(i)] = "test"
    for i in order[n_test:n_test + n_val]:
        splits[int(i)] = "val"
    return splits


def write_wav_exact(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """(C, N) or (N,) as 32-bit float WAV, atomically, the same bytes for the same data."""
    audio = np.asarray(audio, dtype=np.float32)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, sample_rate, audio.T if audio.ndim == 2 else audio)


def clip_paths(root: str | Path, clip_id: str) -> dict[str, Path]:
    """The files of one clip, by kind (video, binaural, mono, truth)."""
    root = Path(root)
    return {kind: root / folder / f"{clip_id}{SUFFIXES[kind]}"
            for kind, folder in FOLDERS.items()}


def write_clip(scene: Scene, root: str | Path, cfg: SynthConfig) -> dict[str, str]:
    """One scene's four files; returns their SHA-256 by kind."""
    paths = clip_paths(root, scene.truth["name"])
    write_scene_video(scene, paths["video"], cfg)
    write_wav_exact(paths["binaural"], scene.binaural, cfg.sample_rate)
    write_wav_exact(paths["mono"], scene.mono, cfg.sample_rate)
    write_json(paths["truth"], scene.truth)
    return {kind: file_sha256(path) for kind, path in paths.items()}


def write_dataset(
    cfg: SynthConfig,
    prepare: PrepareConfig,
    out: str | Path,
    heads: Sequence[HRTFSet],
    test_head: HRTFSet | None = None,
    heldout_digests: Iterable[str] = (),
    library: SourceLibrary | None = None,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> dict:
    """Render cfg.scenes scenes into `out` (FAIR-Play layout); returns the card.

    Each scene's head is drawn from `heads`, except test scenes when `test_head` is given.

    Raises:
        ValueError: a held-out head is among `heads`, or `out` is not empty.
    """
    refuse_heldout(heads, heldout_digests, "the train/val splits")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty; a dataset is written into a new folder")
    specs = scene_specs(cfg)
    splits = assign_splits(len(specs), prepare.split_fractions, cfg.seed)
    truths, hashes = [], {}
    for i, ((name, seed, sources), split) in enumerate(zip(specs, splits)):
        head = test_head if split == "test" and test_head is not None else pick_head(heads, seed)
        scene = render_scene(cfg, head, name, seed, sources, library)
        scene.truth["split"] = split
        hashes[name] = write_clip(scene, out, cfg)
        truths.append(scene.truth)
        if progress:
            progress(i + 1, len(specs), name, split)
    split_dir = out / "splits" / prepare.split_name
    for split in SPLITS:
        ids = sorted(t["name"] for t in truths if t["split"] == split)
        with atomic_path(split_dir / f"{split}.txt") as tmp:
            tmp.write_text("".join(f"{clip_id}\n" for clip_id in ids))
    card = dataset_card(cfg, prepare, truths, hashes, heldout_digests, library)
    write_json(out / CARD_JSON, card)
    with atomic_path(out / CARD_MD) as tmp:
        tmp.write_text(card_markdown(card))
    return card


def _stats(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"min": round(min(values), 3), "median": round(float(np.median(values)), 3),
            "max": round(max(values), 3)}


def dataset_card(
    cfg: SynthConfig, prepare: PrepareConfig, truths: list[dict],
    hashes: dict[str, dict[str, str]], heldout_digests: Iterable[str],
    library: SourceLibrary | None,
) -> dict:
    """Counts, durations, classes, heads, rooms and content hashes of a written dataset."""
    classes: dict[str, Counter] = {}
    heads: dict[str, dict] = {}
    for truth in truths:
        for source in truth["sources"]:
            kind = "silent" if source["silent"] else "sounding"
            classes.setdefault(source["class"], Counter())[kind] += 1
        head = heads.setdefault(truth["hrtf"], {"digest": truth["hrtf_digest"], "scenes": 0,
                                                "splits": Counter()})
        head["scenes"] += 1
        head["splits"][truth["split"]] += 1
    rooms = [t["room"] for t in truths if t["room"]["type"] == "shoebox"]
    sounding = [[s for s in t["sources"] if not s["silent"]] for t in truths]
    digest = hashlib.sha256()
    for clip_id in sorted(hashes):
        for kind in sorted(hashes[clip_id]):
            digest.update(f"{clip_id} {kind} {hashes[clip_id][kind]}\n".encode())
    return {
        "format": "FAIR-Play layout with true mono and truth (docs/formats.md)",
        "generator": "binaural synth (scene synthesis v2)",
        "seed": cfg.seed,
        "scenes": len(truths),
        "mono": cfg.mono_mode,
        "mono_description": MONO_DESCRIPTIONS[cfg.mono_mode],
        "sample_rate": cfg.sample_rate,
        "duration_s": {"per_scene": cfg.duration_s,
                       "total": round(sum(t["duration_s"] for t in truths), 3)},
        "splits": {prepare.split_name: {s: sum(t["split"] == s for t in truths)
                                        for s in SPLITS}},
        "sources_per_scene": {str(k): v for k, v in
                              sorted(Counter(len(s) for s in sounding).items())},
        "classes": {c: {"sounding": n["sounding"], "silent": n["silent"]}
                    for c, n in sorted(classes.items())},
        "heads": {name: {"digest": h["digest"], "scenes": h["scenes"],
                         "splits": {s: h["splits"][s] for s in SPLITS}}
                  for name, h in sorted(heads.items())},
        "heldout_head_digests": sorted(set(heldout_digests)),
        "rooms": {
            "shoebox": len(rooms),
            "none": len(truths) - len(rooms),
            "rt60_s": _stats([r["rt60_s"] for r in rooms]),
            "absorption": _stats([r["absorption"] for r in rooms]),
            "volume_m3": _stats([float(np.prod(r["size_m"])) for r in rooms]),
        },
        "fov_deg": _stats([t["fov_deg"] for t in truths]),
        "silent_objects": sum(s["silent"] for t in truths for s in t["sources"]),
        "sources_with_gaps": sum(bool(s["gaps"]) for ss in sounding for s in ss),
        "ambience": sum(t["ambience_db"] is not None for t in truths),
        "noise": sum(t["noise_db"] is not None for t in truths),
        "microphone_coloured": sum(t["microphone"] is not None for t in truths),
        "source_audio": "builtin" if library is None else {
            "generic_files": len(library.generic),
            "class_files": {c: len(f) for c, f in library.by_class}},
        "config": {"synth": asdict(cfg), "prepare": asdict(prepare)},
        "content_hashes": hashes,
        "dataset_sha256": digest.hexdigest(),
    }


def card_markdown(card: dict) -> str:
    """The card for people."""
    split_name, counts = next(iter(card["splits"].items()))
    rooms = card["rooms"]
    rt60 = rooms["rt60_s"]
    lines = [
        "# Synthesized binaural dataset",
        "",
        f"{card['scenes']} scenes of {card['duration_s']['per_scene']} s "
        f"({card['duration_s']['total']} s in all) at {card['sample_rate']} Hz, seed "
        f"{card['seed']}; {card['format']}.",
        "",
        f"- **Mono track: `{card['mono']}`**: {card['mono_description']}.",
        f"- Splits ({split_name}): " + ", ".join(f"{s} {n}" for s, n in counts.items()) + ".",
        "- Sounding sources per scene: "
        + ", ".join(f"{k}: {v}" for k, v in card["sources_per_scene"].items()) + ".",
        "- Classes (sounding / silent): " + ", ".join(
            f"{c} {n['sounding']}/{n['silent']}" for c, n in card["classes"].items()) + ".",
        "- Heads: " + ", ".join(
            f"{name} ({h['digest']}: " + ", ".join(f"{s} {n}" for s, n in h["splits"].items())
            + ")" for name, h in card["heads"].items()) + ".",
        f"- Rooms: {rooms['shoebox']} shoebox, {rooms['none']} anechoic"
        + (f"; RT60 {rt60['min']}-{rt60['max']} s (median {rt60['median']} s)" if rt60 else "")
        + ".",
        f"- Silent visible objects: {card['silent_objects']}; sources with silence gaps: "
        f"{card['sources_with_gaps']}; scenes with ambience {card['ambience']}, background "
        f"noise {card['noise']}, microphone colouration {card['microphone_coloured']}.",
        "",
        f"Content: SHA-256 of every file in {CARD_JSON}; dataset hash "
        f"`{card['dataset_sha256']}`.",
        "",
    ]
    return "\n".join(lines)


def read_card(root: str | Path) -> dict:
    return json.loads((Path(root) / CARD_JSON).read_text())
