"""Train the association model (which visible object sounds) on synthesized scenes with
animated sprites (binaural.synth.association_data): half of them two objects of one class,
one sounding and one silent but moving, the rest the configured mix.

    python scripts/train_association.py --scenes 160 --out models/weights/association.npz

Scenes use seeds from --seed on (scripts/measure_association.py measures on others);
each is rendered, written as a video and read back through the association's own decode
pass, with the truth's tracks thinned to the detection rate and jittered. Labels: the
truth's sounding spans. Fits a one-hidden-layer MLP (sklearn; features clipped to their 1st..99th training
percentiles, as inference does) saved as
binaural.spatial.association.AssociationModel; prints held-back window accuracy.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.spatial.association import AssociationModel
from binaural.spatial.gate import ActivityModel
from binaural.spatial.heads import load_heads
from binaural.synth.association_data import scene_examples
from binaural.synth.sprites import SPRITE_CLASSES
from flows.environment import PROJECT_ROOT
from flows.params import load_params


def recipe(index: int, rng: np.random.Generator) -> tuple[str, str]:
    """Half pairs (half of those people), half the configured mix."""
    if index % 2:
        return "mixed", ""
    return "pair", "person" if rng.random() < 0.5 else str(rng.choice(SPRITE_CLASSES[1:]))


def collect(args, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cfg = replace(params.synth, duration_s=args.duration)
    heads = load_heads(cfg.heads or (cfg.hrtf,), cfg.sample_rate, base=PROJECT_ROOT)
    assoc = params.localize.associate
    activity = ActivityModel.load(assoc.activity_model) if assoc.activity_model else None
    xs, ys, groups = [], [], []
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    for i in range(args.scenes):
        kind, cls = recipe(i, rng)
        x, y, *_ = scene_examples(cfg, heads, kind, cls, args.seed + i, assoc, activity)
        xs.append(x)
        ys.append(y)
        groups.append(np.full(len(y), i))
        if (i + 1) % 10 == 0:
            print(f"{i + 1}/{args.scenes} scenes, {time.perf_counter() - start:.0f} s", flush=True)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=None)
    parser.add_argument("--scenes", type=int, default=160)
    parser.add_argument("--seed", type=int, default=500000)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--cache", default="", help=".npz of the features (reused if present)")
    parser.add_argument("--out", default="models/weights/association.npz")
    args = parser.parse_args()
    params = load_params(args.params)
    if args.cache and Path(args.cache).is_file():
        with np.load(args.cache) as data:
            x, y, groups = data["x"], data["y"], data["groups"]
    else:
        x, y, groups = collect(args, params)
        if args.cache:
            np.savez_compressed(args.cache, x=x, y=y, groups=groups)
    from sklearn.neural_network import MLPClassifier

    held = groups % 10 == 0
    low, high = np.percentile(x[~held], (1, 99), axis=0)  # inference clips to this range
    x = np.clip(x, low, high)
    mean, scale = x[~held].mean(axis=0), x[~held].std(axis=0) + 1e-6
    net = MLPClassifier(hidden_layer_sizes=(args.hidden,), alpha=1e-2, max_iter=500,
                        random_state=0)
    net.fit((x[~held] - mean) / scale, y[~held])
    model = AssociationModel(low.astype(np.float32), high.astype(np.float32),
                             mean.astype(np.float32), scale.astype(np.float32),
                             *(a.astype(np.float32) for a in (net.coefs_[0], net.intercepts_[0],
                                                              net.coefs_[1], net.intercepts_[1])))
    model.save(args.out)
    acc = ((model.predict(x[held]) > 0.5) == (y[held] > 0.5)).mean()
    print(f"{int(groups.max()) + 1} scenes, {len(y)} windows ({y.mean():.0%} sounding); "
          f"held-back window accuracy {acc:.3f} ({held.sum()} windows)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
