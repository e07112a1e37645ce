"""The real-footage evaluation set (params.yaml `real_footage`, DVC stage `real_footage`).

    PYTHONPATH=. YOLO_OFFLINE=1 python scripts/make_real_footage.py [OUT] [--clips N]

Real people are cut from real frames by the pose model (models/real_people.py), pasted
into person-free real backgrounds and made to talk with real recorded voices
(binaural.synth.real_footage); the binaural reference is rendered along the truth with
the held-out head. Writes the paired layout `binaural evaluate` reads and OUT/CARD.md,
which names every medium used and its licence. Deterministic from real_footage.seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from binaural.io.outputs import atomic_path
from binaural.io.resources import resolve_resource
from binaural.spatial.hrtf import load_sofa
from binaural.synth.config import RealFootageConfig
from binaural.synth.real_footage import LAYOUTS, compose, write_clip
from binaural.synth.real_media import licence_of, medium_name, voice_files


def card(cfg: RealFootageConfig, truths: list[dict], head: str) -> str:
    """CARD.md: what the set is, and every medium with its package and licence."""
    media = {medium_name(head), cfg.pose_weights}
    for truth in truths:
        media.add(truth["media"]["background"].split("@")[0])
        media.update(p.split("@")[0] for p in truth["media"]["people"])
    voices = sorted({v for t in truths for v in t["media"]["voices"]})
    groups = {g: sum(t["group"] == g for t in truths) for g in LAYOUTS}
    lines = [
        "# Real-footage evaluation set", "",
        f"{len(truths)} clips of {cfg.duration_s:g} s, {cfg.width}x{cfg.height} at {cfg.fps} fps, "
        f"seed {cfg.seed}; groups: " + ", ".join(f"{g} {n}" for g, n in groups.items()) + ".",
        "Real people (stills cut from real frames by the pose model, mouths opened by the "
        "envelope of the voice that drives them) pasted into real person-free frames; real "
        "recorded voices; the truth is known by construction. The mono is the heard voices "
        "(true mono); the binaural reference renders them along the truth with the held-out "
        f"head {Path(head).name}. Made by scripts/make_real_footage.py (params real_footage).",
        "", "| medium | package | licence |", "|---|---|---|",
    ]
    for path in sorted(media):
        package, licence = licence_of(path)
        lines.append(f"| `{path}` | {package} | {licence} |")
    package, licence = licence_of(cfg.voices + "/")
    lines.append(f"| `{cfg.voices}/`: {len(voices)} prompts ({', '.join(voices[:6])}, ...) | "
                 f"{package} | {licence} |")
    return "\n".join(lines) + "\n"


def make_set(cfg: RealFootageConfig, out: Path, log=print) -> list[dict]:
    """Compose and write cfg.clips clips and the card into `out`."""
    from models.people_cutouts import cut_people, load_pose, person_free_frames

    model = load_pose(cfg.pose_weights)
    people = cut_people(cfg, model)
    backgrounds, names = person_free_frames(cfg, model)
    voices = voice_files(cfg.voices)
    head_path = resolve_resource(cfg.head, what="HRTF file")
    hrtf = load_sofa(head_path, cfg.sample_rate)
    log(f"{len(people)} people, {len(backgrounds)} backgrounds, {len(voices)} voice prompts")
    truths = []
    for index in range(cfg.clips):
        clip = compose(cfg, hrtf, index, backgrounds, names, people, voices)
        write_clip(clip, out, cfg)
        truths.append(clip.truth)
        log(f"[{index + 1}/{cfg.clips}] {clip.truth['name']}: {clip.truth['group']}")
    with atomic_path(out / "CARD.md") as tmp:
        tmp.write_text(card(cfg, truths, cfg.head))
    return truths


def main() -> None:
    from flows.params import load_params

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=None, help="default: real_footage.out")
    parser.add_argument("--clips", type=int, default=None)
    parser.add_argument("--params", default=None)
    args = parser.parse_args()
    cfg = load_params(args.params).real_footage
    if args.clips is not None:
        cfg = dataclasses.replace(cfg, clips=args.clips)
    out = Path(args.out or cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    make_set(cfg, out)
    print(f"{cfg.clips} clips in {out} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
