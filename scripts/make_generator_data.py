"""Scene sets for training and evaluating the generator (synthesis v1, flat `binaural synth`
layout, read by binaural.eval.datasets.load_dataset as paired folders).

    python scripts/make_generator_data.py train data/generator/train --scenes 500 --seed 11
    python scripts/make_generator_data.py val   data/generator/val   --scenes 32  --seed 12
    python scripts/make_generator_data.py test  data/generator/test  --scenes 36  --seed 13

train/val: 4 s scenes at 320x180, 10 fps (the generator never looks at the pixels, only at
the truth's boxes, which scale with the frame), 1-3 sources (35/45/20 %), heads drawn from
the training heads (KEMAR, SONICOM example 1). test: 6 s at 640x360, 25 fps (what the
detector was trained on), 1 or 2 sources (40/60 %), the held-out head (SONICOM example 2),
with each source's true-mono stem written beside the truth (`truth/<id>.stems.wav`, one
channel per source, in the truth's source order): the separated-source oracle renders them.

The stems are recomputed with synthesis v1's own functions (plan_scene, render_source,
propagate) from the scene's seed and checked against the written binaural truth.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from binaural.io.audio import read_wav, write_wav
from binaural.spatial.geometry import Camera
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, propagate, spatialize
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import PEAK_LEVEL, plan_scene, scene_seed, synthesize_scene, trajectory
from binaural.synth.source_audio import render_source

TRAIN_HEADS = ("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa",
               "pkg:spatialaudiometrics/example_sofa_1.sofa")
HELDOUT_HEAD = "pkg:spatialaudiometrics/example_sofa_2.sofa"
SOURCE_MIX = {"train": (0.35, 0.45, 0.20), "val": (0.35, 0.45, 0.20), "test": (0.4, 0.6)}
MAX_STEM_MISMATCH = 1e-3  # max |recomputed - written| binaural, relative to its peak


def scene_stems(cfg: SynthConfig, hrtf: HRTFSet, seed: int, sources: int,
                binaural_truth: np.ndarray) -> np.ndarray:
    """Per-source true-mono signals (K, N) of a v1 scene, scaled as the synthesizer scaled
    them; raises when the recomputation does not reproduce the written truth."""
    rng = np.random.default_rng(seed)
    camera = Camera(cfg.width, cfg.height, cfg.fov_deg)
    sr, duration = cfg.sample_rate, cfg.duration_s
    n = int(round(duration * sr))
    audio_t = np.arange(n) / sr
    wets, binaural = [], np.zeros((2, n))
    for plan in plan_scene(cfg, camera, rng, sources):
        dry = plan.gain * render_source(plan.source_class, duration, sr, plan.seed, cfg.soundfont)
        _, _, dist_audio = trajectory(plan, audio_t, duration)
        wet = propagate(dry, dist_audio, sr)
        control_t = np.arange(0, duration + 0.02, 0.01)
        az_c, el_c, _ = trajectory(plan, control_t, duration)
        binaural += spatialize(wet, direction_filter(hrtf, control_t, az_c, el_c), hrtf.taps, sr)
        wets.append(wet)
    stems = np.stack(wets)
    scale = PEAK_LEVEL / max(np.abs(stems.sum(0)).max(), np.abs(binaural).max(), 1e-9)
    mismatch = np.abs(binaural * scale - binaural_truth).max() / np.abs(binaural_truth).max()
    if mismatch > MAX_STEM_MISMATCH:
        raise RuntimeError(f"stems do not reproduce the truth (mismatch {mismatch:.2e}): "
                           "the synthesizer changed; update scene_stems")
    return (stems * scale).astype(np.float32)


def make_set(kind: str, out: Path, scenes: int, seed: int) -> None:
    test = kind == "test"
    base = SynthConfig()
    cfg = dataclasses.replace(
        base, max_sources=3, duration_s=6.0 if test else 4.0,
        width=640 if test else 320, height=360 if test else 180,
        video_fps=25 if test else 10)
    heads = load_heads([HELDOUT_HEAD] if test else TRAIN_HEADS, cfg.sample_rate)
    mix = np.asarray(SOURCE_MIX[kind])
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(scenes):
        s = scene_seed(seed, i)
        rng = np.random.default_rng(s)
        sources = int(rng.choice(len(mix), p=mix / mix.sum())) + 1
        hrtf = heads[i % len(heads)]
        name = f"{kind}_{seed:03d}_{i:04d}"
        if (out / "truth" / f"{name}.json").exists():
            continue
        synthesize_scene(dataclasses.replace(cfg, hrtf=hrtf.name), hrtf, out, name, s + 1,
                         sources)
        if test:
            truth, _ = read_wav(out / "truth" / f"{name}.binaural.wav")
            stems = scene_stems(cfg, hrtf, s + 1, sources, truth)
            write_wav(out / "truth" / f"{name}.stems.wav", stems, cfg.sample_rate)
        print(f"[{i + 1}/{scenes}] {name}: {sources} sources, {hrtf.name} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=sorted(SOURCE_MIX))
    p.add_argument("out")
    p.add_argument("--scenes", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    args = p.parse_args(argv)
    make_set(args.kind, Path(args.out), args.scenes, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
