"""Scene sets for training and evaluating the generator (synthesis v1 or v2, flat `binaural
synth` layout, read by binaural.eval.datasets.load_dataset as paired folders).

    python scripts/make_generator_data.py train data/generator/train --scenes 500 --seed 11
    python scripts/make_generator_data.py val   data/generator/val   --scenes 32  --seed 12
    python scripts/make_generator_data.py test  data/generator/test  --scenes 36  --seed 13

The recipe is params.yaml's `generator_data` section (binaural.synth.config.
GeneratorDataConfig): train/val scenes of train_duration_s at train_size and train_fps,
train_source_mix, heads drawn from train_heads; test scenes of test_duration_s at
test_size and test_fps (what the detector was trained on), test_source_mix, on the
held-out test_head, with each source's true-mono stem written beside the truth
(`truth/<id>.stems.wav`, one channel per source, in the truth's source order): the
separated-source oracle renders them.

The stems are recomputed with synthesis v1's own functions (plan_scene, render_source,
propagate) from the scene's seed and checked against the written binaural truth.

Synthesis v2 (generator_data.synthesis: 2; the `synth` section's rooms, silent visible
objects, pauses, beds, microphone and animated sprites): each scene is rendered a
second time with the renderer's head (render.hrtf) through its true room, from the same
plan and random streams, and written as per-source binaural stems
(`truth/<id>.separate.wav`: two channels per object, its direct sound and room, then two
for the beds; silent objects are zeros) on the truth's scale: their sum is the
separated-source oracle in rooms (`dsp-separate`, test) and the separation model's
target (train, val). The re-render's capture must equal the
written one (the mono does not depend on the head), which checks the scale.

`--add-separate` writes the same stems for a v2 set already written (the train and val
sets, for the renderer's separation model, scripts/train_separation.py): each scene is
re-rendered from its seed with its own head, the written binaural truth must come out again
(which also gives the scale: the video's mono is lossy), and the renderer's head gives the
stems; `--part i/n` splits the work between processes:

    python scripts/make_generator_data.py train data/generator-v2/train --scenes 400 \
        --seed 21 --add-separate --part 0/2      # and 1/2 beside it
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from binaural.io.audio import read_wav, write_wav
from binaural.io.outputs import write_json
from binaural.spatial.geometry import Camera
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, propagate, spatialize
from binaural.synth.config import GeneratorDataConfig, SynthConfig
from binaural.synth.scenes import (
    PEAK_LEVEL,
    draw_scene,
    plan_scene,
    render_audio,
    render_scene,
    scene_seed,
    synthesize_scene,
    trajectory,
    write_scene_video,
)
from binaural.synth.source_audio import render_source

KINDS = ("train", "val", "test")
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


MAX_MONO_MISMATCH = 1e-4  # max |re-rendered - written| mono, relative to its peak


def separate_stems(cfg: SynthConfig, renderer: HRTFSet, seed: int, sources: int,
                   mono: np.ndarray) -> np.ndarray:
    """(2 K + 2, N) float32: the v2 scene's objects (then its beds) rendered with the
    renderer's head through the true room, on the scale of the written `mono`; raises when
    the re-render's capture is not that mono."""
    plan, _ = draw_scene(cfg, seed, sources)
    parts: dict = {}
    render_audio(cfg, renderer, plan, seed, parts)
    raw = parts["mono"]
    scale = float(np.dot(mono, raw) / max(np.dot(raw, raw), 1e-12))
    mismatch = np.abs(raw * scale - mono).max() / max(np.abs(mono).max(), 1e-9)
    if mismatch > MAX_MONO_MISMATCH:
        raise RuntimeError(f"the re-render's capture differs from the scene's mono "
                           f"({mismatch:.2e}): the synthesizer's streams changed")
    return stems_from_parts(parts, scale)


def stems_from_parts(parts: dict, scale: float) -> np.ndarray:
    """(2 K + 2, N) float32: render_audio's parts as separate.wav's channels (per object
    L, R; then the beds L, R) times `scale`."""
    n = parts["mono"].shape[0]
    stems = np.concatenate([parts["objects"].reshape(-1, n), parts["beds"]])
    return (stems * scale).astype(np.float32)


def separate_record(renderer: HRTFSet) -> dict:
    """The truth JSON's record of its separate.wav: the head and the channel layout."""
    return {"separate": {"hrtf": renderer.name, "hrtf_digest": renderer.digest,
                         "channels": "per object L, R; then the beds L, R"}}


def write_v2_scene(cfg: SynthConfig, hrtf: HRTFSet, renderer: HRTFSet | None, out: Path,
                   name: str, seed: int, sources: int) -> None:
    """One v2 scene (video, binaural truth, truth JSON) and, with a renderer head, its
    per-source stems through the true room (the JSON names that head), rendered in the
    same pass as the truth (sources, propagation and capture computed once; equal to
    separate_stems' re-render up to float32 rounding)."""
    parts: dict = {}
    scene = render_scene(cfg, hrtf, name, seed, sources, parts=parts, stems_hrtf=renderer)
    write_scene_video(scene, out / f"{name}.mp4", cfg)
    write_wav(out / "truth" / f"{name}.binaural.wav", scene.binaural, cfg.sample_rate)
    truth = scene.truth
    if renderer is not None:
        stems = stems_from_parts(parts, parts["scale"])
        write_wav(out / "truth" / f"{name}.separate.wav", stems, cfg.sample_rate)
        truth = truth | separate_record(renderer)
    write_json(out / "truth" / f"{name}.json", truth)


def set_config(kind: str, recipe: GeneratorDataConfig, synth: SynthConfig | None
               ) -> tuple[SynthConfig, np.ndarray]:
    """The synthesizer config of one kind of set (train, val, test) by `recipe`, and its
    source-count mix."""
    test = kind == "test"
    v2 = recipe.synthesis == 2
    (width, height) = recipe.test_size if test else recipe.train_size
    mix = np.asarray(recipe.test_source_mix if test else recipe.train_source_mix)
    base = SynthConfig() if not v2 else dataclasses.replace(
        synth or SynthConfig(), heads=(), same_class_silent_prob=recipe.same_class_silent_prob)
    cfg = dataclasses.replace(
        base,
        max_sources=max(len(recipe.train_source_mix), len(recipe.test_source_mix)),
        duration_s=recipe.test_duration_s if test else recipe.train_duration_s,
        width=width, height=height, video_fps=recipe.test_fps if test else recipe.train_fps)
    return cfg, mix


def set_heads(kind: str, recipe: GeneratorDataConfig, sample_rate: int) -> list[HRTFSet]:
    """The heads a set's scenes are heard by (scene i: heads[i % len]): the held-out head
    for the test set, the training heads otherwise."""
    return load_heads([recipe.test_head] if kind == "test" else recipe.train_heads,
                      sample_rate)


def scene_draw(seed: int, i: int, mix: np.ndarray) -> tuple[int, int]:
    """(scene seed, number of sources) of the set's scene i."""
    s = scene_seed(seed, i)
    rng = np.random.default_rng(s)
    return s, int(rng.choice(len(mix), p=mix / mix.sum())) + 1


def make_set(kind: str, out: Path, scenes: int, seed: int,
             recipe: GeneratorDataConfig | None = None, synth: SynthConfig | None = None,
             renderer_head: str = "", part: tuple[int, int] = (0, 1)) -> None:
    """`scenes` scenes of one kind (train, val, test) from `seed`, by `recipe` (default:
    GeneratorDataConfig's); scenes already written are kept. Synthesis v2 takes its
    options from `synth` (params.yaml's section) and renders every scene's stems with
    `renderer_head` (the test set's for the separated-source oracle, the train and val
    sets' for the renderer's separation model). `part` (i, n) writes every n-th scene from
    the i-th (parallel runs)."""
    recipe = recipe or GeneratorDataConfig()
    test = kind == "test"
    v2 = recipe.synthesis == 2
    cfg, mix = set_config(kind, recipe, synth)
    heads = set_heads(kind, recipe, cfg.sample_rate)
    renderer = (load_heads([renderer_head], cfg.sample_rate)[0]
                if v2 and renderer_head else None)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(part[0], scenes, part[1]):
        s, sources = scene_draw(seed, i, mix)
        hrtf = heads[i % len(heads)]
        name = f"{kind}_{seed:03d}_{i:04d}"
        if (out / "truth" / f"{name}.json").exists():
            continue
        if v2:
            write_v2_scene(dataclasses.replace(cfg, hrtf=hrtf.name), hrtf, renderer, out, name,
                           s + 1, sources)
        else:
            synthesize_scene(dataclasses.replace(cfg, hrtf=hrtf.name), hrtf, out, name, s + 1,
                             sources)
        if test and not v2:
            truth, _ = read_wav(out / "truth" / f"{name}.binaural.wav")
            stems = scene_stems(cfg, hrtf, s + 1, sources, truth)
            write_wav(out / "truth" / f"{name}.stems.wav", stems, cfg.sample_rate)
        print(f"[{i + 1}/{scenes}] {name}: {sources} sources, {hrtf.name} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


MAX_TRUTH_MISMATCH = 1e-5  # max |re-rendered - written| binaural truth, relative to its peak


def add_separate(kind: str, out: Path, scenes: int, seed: int, recipe: GeneratorDataConfig,
                 synth: SynthConfig | None, renderer_head: str, part: tuple[int, int] = (0, 1)
                 ) -> None:
    """Per-source stems (truth/<id>.separate.wav, as the test set's) for the v2 scenes of a
    set already written: each scene re-rendered from its seed with its own head (the
    written binaural truth must come out again, which also fixes the scale: the video's
    mono is lossy) and with the renderer's head for the stems. Scenes with stems are
    skipped; `part` (i, n) takes every n-th scene from the i-th (parallel runs)."""
    if recipe.synthesis != 2:
        raise ValueError("separate stems are made for synthesis v2 sets only")
    cfg, mix = set_config(kind, recipe, synth)
    heads = set_heads(kind, recipe, cfg.sample_rate)
    renderer = load_heads([renderer_head], cfg.sample_rate)[0]
    t0 = time.perf_counter()
    for i in range(part[0], scenes, part[1]):
        s, sources = scene_draw(seed, i, mix)
        hrtf = heads[i % len(heads)]
        name = f"{kind}_{seed:03d}_{i:04d}"
        json_path, stems_path = (out / "truth" / f"{name}.json",
                                 out / "truth" / f"{name}.separate.wav")
        if not json_path.exists():
            raise FileNotFoundError(f"{json_path}: scene {i} of the set is not written")
        if stems_path.exists():
            continue
        parts: dict = {}
        scene_cfg = dataclasses.replace(cfg, hrtf=hrtf.name)
        plan, _ = draw_scene(scene_cfg, s + 1, sources)
        _, binaural, _, _ = render_audio(scene_cfg, hrtf, plan, s + 1, parts,
                                         stems_hrtf=renderer)
        written, _ = read_wav(out / "truth" / f"{name}.binaural.wav")
        mismatch = (np.abs(binaural - written).max() / max(np.abs(written).max(), 1e-9)
                    if binaural.shape == written.shape else np.inf)
        if mismatch > MAX_TRUTH_MISMATCH:
            raise RuntimeError(f"{name}: the re-render differs from the written truth "
                               f"({mismatch:.2e}): the synthesizer's streams changed")
        stems = stems_from_parts(parts, parts["scale"])
        tmp = stems_path.with_name(f".{stems_path.name}.tmp.wav")
        write_wav(tmp, stems, cfg.sample_rate)
        tmp.replace(stems_path)
        write_json(json_path, json.loads(json_path.read_text()) | separate_record(renderer))
        print(f"[{i + 1}/{scenes}] {name}: stems ({time.perf_counter() - t0:.0f} s)",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=KINDS)
    p.add_argument("out")
    p.add_argument("--scenes", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--params", default=None, help="params.yaml (default: the project's)")
    p.add_argument("--add-separate", action="store_true",
                   help="add per-source stems (the renderer's head) to a written v2 set")
    p.add_argument("--part", default="0/1", help="i/n: every n-th scene from the i-th")
    args = p.parse_args(argv)
    from flows.params import load_params

    params = load_params(args.params)
    i, n = (int(v) for v in args.part.split("/"))
    if args.add_separate:
        add_separate(args.kind, Path(args.out), args.scenes, args.seed, params.generator_data,
                     params.synth, params.render.hrtf, (i, n))
        return 0
    make_set(args.kind, Path(args.out), args.scenes, args.seed, params.generator_data,
             params.synth, params.render.hrtf, (i, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
