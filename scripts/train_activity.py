"""Train the DSP renderer's class-activity model (and its reverberation detector) on
synthesized training scenes.

    python -m flows.synth --params P prepare DATA     # P: split_fractions [1, 0, 0], the
                                                      # training heads, a seed not 2027
    python -m flows.synth --params Q prepare DRY      # Q: P with synth.room: none, another seed
    python scripts/train_activity.py DATA --out models/weights/activity.npz
    python scripts/train_activity.py DATA DRY --target reverb --out models/weights/reverb.npz

The reverberation detector is the same kind of model with one output, "reverberant",
labelled per scene from the truth's room (shoebox: 1, none: 0); DRY differs from DATA only
by the room, so what it learns is the room, not the rest of the synthesis.

Reads the train split's true monos and truths (FAIR-Play layout), labels every frame with
which classes sound (the truth's sounding intervals), fits a one-hidden-layer MLP
(sklearn) and saves it as binaural.spatial.gate.ActivityModel (.npz, numpy inference).
Prints per-class frame accuracy on a held-back tenth of the scenes.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from binaural.eval.datasets import load_dataset
from binaural.io.audio import read_wav
from binaural.spatial.gate import (
    ActivityModel,
    activity_labels,
    frame_features,
    frame_times,
    logmel_frames,
)

CLASSES = ("person", "piano", "guitar", "violin", "trumpet")
REVERB_CLASSES = ("reverberant",)


def scene_examples(record, classes, every: int) -> tuple[np.ndarray, np.ndarray]:
    audio, rate = read_wav(record.mono)
    logmel = logmel_frames(audio.mean(axis=0), rate)
    with open(record.truth) as f:
        truth = json.load(f)
    if classes == REVERB_CLASSES:
        room = truth.get("room") or {}
        labels = np.full((logmel.shape[0], 1), float(room.get("type") == "shoebox"))
    else:
        labels = activity_labels(truth, frame_times(logmel.shape[0], rate), classes)
    return frame_features(logmel)[::every], labels[::every]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="dataset folders (their train split is used)")
    parser.add_argument("--out", default="models/weights/activity.npz")
    parser.add_argument("--hidden", type=int, default=48)
    parser.add_argument("--every", type=int, default=3, help="keep every Nth frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=("activity", "reverb"), default="activity")
    args = parser.parse_args()
    classes = REVERB_CLASSES if args.target == "reverb" else CLASSES
    from sklearn.neural_network import MLPClassifier

    records = [r for d in args.data for r in load_dataset(d, "train")
               if r.mono is not None and r.truth is not None]
    if not records:
        raise SystemExit("no training scenes with a mono and a truth")
    held = set(range(0, len(records), 10))
    parts = [scene_examples(r, classes, args.every) for r in records]
    fit = [p for i, p in enumerate(parts) if i not in held]
    val = [p for i, p in enumerate(parts) if i in held]
    x, y = np.concatenate([p[0] for p in fit]), np.concatenate([p[1] for p in fit])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    net = MLPClassifier(hidden_layer_sizes=(args.hidden,), alpha=1e-3, max_iter=200,
                        early_stopping=True, random_state=args.seed)
    net.fit((x - mean) / scale, y.ravel() if y.shape[1] == 1 else y)
    model = ActivityModel(classes, mean.astype(np.float32), scale.astype(np.float32),
                          *(a.astype(np.float32) for a in (net.coefs_[0], net.intercepts_[0],
                                                           net.coefs_[1], net.intercepts_[1])))
    model.save(args.out)
    xv, yv = np.concatenate([p[0] for p in val]), np.concatenate([p[1] for p in val])
    acc = ((model.predict(xv) > 0.5) == (yv > 0.5)).mean(axis=0)
    if args.target == "reverb":  # the renderer decides per clip, on the mean probability
        clip = [(model.predict(p[0]).mean() > 0.5) == (p[1].mean() > 0.5) for p in val]
        print(f"held-back clip accuracy {np.mean(clip):.3f} ({len(clip)} clips)")
    print(f"{len(records)} scenes, {x.shape[0]} frames; held-back accuracy per class: "
          + ", ".join(f"{c} {a:.3f}" for c, a in zip(classes, acc)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
