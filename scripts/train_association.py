"""Train the association model (which visible object sounds) on synthesized scenes with
animated sprites (binaural.synth.association_data): half of them two objects of one class,
one sounding and one silent but moving, a quarter two of one class in turns, a quarter
the configured mix; half of the people's boxes cut to head and shoulders (--closeup: the
mouth lies lower in the box).

    python scripts/train_association.py --scenes 160 --instrument-pairs 40 --workers 2 \
        --out models/weights/association.npz

Scenes use seeds from --seed on (scripts/measure_association.py measures on others);
each is rendered, written as a video and read back through the association's own decode
pass, with the truth's tracks thinned to the detection rate and jittered. Labels: the
truth's sounding spans. Fits --ensemble one-hidden-layer MLPs (sklearn, different starts;
features clipped to their 1st..99th training percentiles, as inference does) whose mean
logit is saved as one binaural.spatial.association.AssociationModel; prints held-back
window accuracy, raw and decoded with a few switch_prob / evidence_weight.
"""

from __future__ import annotations

import argparse
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.spatial.association import (
    AssociationModel,
    decode,
    window_features,
    window_probabilities,
)
from binaural.spatial.gate import ActivityModel
from binaural.spatial.heads import load_heads
from binaural.synth.association_data import CLOSEUP_PROB, scene_examples, window_labels
from binaural.synth.sprites import SPRITE_CLASSES
from flows.environment import PROJECT_ROOT
from flows.params import load_params

# (switch_prob, evidence_weight) of localize.associate tried on the held-back scenes
DECODE_GRID = ((0.5, 1.0), (0.2, 0.5), (0.1, 0.5), (0.05, 0.5), (0.02, 0.5), (0.05, 1.0),
               (0.05, 0.25))


def recipe(index: int, rng: np.random.Generator) -> tuple[str, str]:
    """Of every four: a pair, a turn-taking scene (half of both people, half one
    instrument), the configured mix, a pair again."""
    kind = ("pair", "turns", "mixed", "pair")[index % 4]
    if kind == "mixed":
        return kind, ""
    return kind, "person" if rng.random() < 0.5 else str(rng.choice(SPRITE_CLASSES[1:]))


def scene_list(args) -> list[tuple[str, str, int]]:
    """(recipe, class, seed) of every training scene: `scenes` from `seed` (recipe()),
    then `instrument_pairs` pairs of instruments from `instrument_seed`."""
    rng = np.random.default_rng(args.seed)
    out = [(*recipe(i, rng), args.seed + i) for i in range(args.scenes)]
    instruments = SPRITE_CLASSES[1:]
    return out + [("pair", instruments[i % len(instruments)], args.instrument_seed + i)
                  for i in range(args.instrument_pairs)]


def _scene(job) -> dict:
    """One scene's measurements (the association's series, its fps and the truth's
    sounding spans): what the features are computed from."""
    args, params, (kind, cls, seed) = job
    cfg = replace(params.synth, duration_s=args.duration)
    heads = load_heads(cfg.heads or (cfg.hrtf,), cfg.sample_rate, base=PROJECT_ROOT)
    assoc = params.localize.associate
    activity = ActivityModel.load(assoc.activity_model) if assoc.activity_model else None
    _, _, scene, _, series = scene_examples(cfg, heads, kind, cls, seed, assoc, activity,
                                            args.closeup)
    return {"series": series, "fps": min(assoc.fps, float(scene.truth["fps"])),
            "sources": [{"sounding": s["sounding"]} for s in scene.truth["sources"]]}


def collect(args, params) -> list[dict]:
    """Every scene's measurements (_scene), over `workers` processes (the same scenes and
    order for any count); kept in `cache` (a pickle, reused and completed when present):
    changing the features needs no new scenes."""
    from multiprocessing import get_context

    scenes = scene_list(args)
    out = []
    if args.cache and Path(args.cache).is_file():
        with open(args.cache, "rb") as f:
            out = pickle.load(f)[:len(scenes)]
    start = time.perf_counter()
    jobs = [(args, params, scene) for scene in scenes[len(out):]]
    with get_context("fork").Pool(args.workers) as pool:
        for scene in pool.imap(_scene, jobs):
            out.append(scene)
            if len(out) % 10 == 0 or len(out) == len(scenes):
                print(f"{len(out)}/{len(scenes)} scenes, {time.perf_counter() - start:.0f} s",
                      flush=True)
                if args.cache:  # kept as it grows: an interrupted run resumes
                    with open(args.cache, "wb") as f:
                        pickle.dump(out, f)
    return out


def examples(scenes: list[dict], cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and scene index of every window of `scenes`."""
    xs, ys, groups = [], [], []
    for i, scene in enumerate(scenes):
        x, index = window_features(*scene["series"], scene["fps"], cfg)
        xs.append(x)
        ys.append(window_labels(scene["sources"], index, scene["fps"]))
        groups.append(np.full(len(index), i))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=None)
    parser.add_argument("--scenes", type=int, default=160)
    parser.add_argument("--seed", type=int, default=500000)
    parser.add_argument("--instrument-pairs", type=int, default=0,
                        help="extra same-instrument pairs (one silent but moving)")
    parser.add_argument("--instrument-seed", type=int, default=600000)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--closeup", type=float, default=CLOSEUP_PROB,
                        help="share of people's boxes cut to head and shoulders")
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--ensemble", type=int, default=5,
                        help="nets from different starts, averaged (one wider net)")
    parser.add_argument("--workers", type=int, default=1, help="processes making scenes")
    parser.add_argument("--cache", default="", help="pickle of the scenes' measurements "
                        "(reused if present)")
    parser.add_argument("--out", default="models/weights/association.npz")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.localize.associate
    scenes = collect(args, params)
    x, y, groups = examples(scenes, cfg)
    from sklearn.neural_network import MLPClassifier

    held = groups % 10 == 0
    low, high = np.percentile(x[~held], (1, 99), axis=0)  # inference clips to this range
    x = np.clip(x, low, high)
    mean, scale = x[~held].mean(axis=0), x[~held].std(axis=0) + 1e-6
    nets = [MLPClassifier(hidden_layer_sizes=(args.hidden,), alpha=1e-2, max_iter=500,
                          random_state=seed).fit((x[~held] - mean) / scale, y[~held])
            for seed in range(args.ensemble)]
    # The nets' mean logit is one wider net: hidden layers side by side, outputs averaged.
    w1 = np.concatenate([net.coefs_[0] for net in nets], axis=1)
    b1 = np.concatenate([net.intercepts_[0] for net in nets])
    w2 = np.concatenate([net.coefs_[1] for net in nets], axis=0) / len(nets)
    b2 = np.mean([net.intercepts_[1] for net in nets], axis=0)
    model = AssociationModel(*(a.astype(np.float32) for a in (low, high, mean, scale, w1, b1,
                                                              w2, b2)))
    model.save(args.out)
    acc = ((model.predict(x[held]) > 0.5) == (y[held] > 0.5)).mean()
    print(f"{int(groups.max()) + 1} scenes, {len(y)} windows ({y.mean():.0%} sounding); "
          f"held-back window accuracy {acc:.3f} ({held.sum()} windows)")
    print(f"wrote {args.out}")
    held_scenes = [s for i, s in enumerate(scenes) if i % 10 == 0]
    for switch, weight in DECODE_GRID:
        print(f"held-back, decoded with switch_prob {switch}, evidence_weight {weight}: "
              f"{decoded_accuracy(model, held_scenes, cfg, switch, weight):.3f}")


def decoded_accuracy(model: AssociationModel, scenes: list[dict], cfg, switch: float,
                     weight: float) -> float:
    """Window accuracy of the decoded probabilities (association.decode) on `scenes`: how
    the params' switch_prob and evidence_weight are chosen, on synthesized scenes only."""
    right = total = 0
    for scene in scenes:
        x, index = window_features(*scene["series"], scene["fps"], cfg)
        if not index:
            continue
        labels = window_labels(scene["sources"], index, scene["fps"])
        n_tracks = max(k for _, k, _ in index) + 1
        _, probs = window_probabilities(model, x, index, n_tracks)
        probs = decode(probs, switch, weight)
        columns = {w: i for i, w in enumerate(sorted({w for w, _, _ in index}))}
        p = np.array([probs[k, columns[w]] for w, k, _ in index])
        right += int(((p > 0.5) == (labels > 0.5)).sum())
        total += len(index)
    return right / max(total, 1)


if __name__ == "__main__":
    main()
