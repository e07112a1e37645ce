"""Train the renderer's separation model (binaural.spatial.separation) on the generator's
training scenes with per-source stems.

    python scripts/make_generator_data.py train data/generator-v2/train --scenes 400 \
        --seed 21 --add-separate                    # the stems, if the set has none
    python scripts/train_separation.py data/generator-v2/train data/generator-v2/val \
        --out models/weights/separation.npz

Per scene: the mono (the video's track, what the renderer gets), the truth's sources and
their stems (truth/<id>.separate.wav: per object its ears through the true room). Per
log-mel frame and band, each sounding object's share of the objects' energy (both ears of
its stem) is the target; the network's logit for the object's class plus the log of its
1/r^2 prior (the true distance) goes through a softmax over the scene's sounding objects,
and the cross-entropy against the shares is weighted by the cell's energy (square root,
within 60 dB of the scene's loudest cell). Silent objects and the beds take no share.

Cross-fitted models for the generator's share prior (models/share_prior.py): `--fold I/N`
trains on the training scenes outside fold I (share_fold) only.

Prints, on the validation scenes, the loss and how often the dominant source of a cell
(where two or more objects sound) is the model's pick, against the 1/r^2 prior alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

CLASSES = ("person", "piano", "guitar", "violin", "trumpet")
MAX_OBJECTS = 3
DYNAMIC_RANGE_DB = 60.0


def scene_arrays(record, sample_rate: int, chunk_s: float) -> dict | None:
    """One scene's features, objects and targets (None: no stems or one object)."""
    from binaural.eval.systems import load_clip
    from binaural.io.audio import read_wav
    from binaural.spatial.gate import frame_times, logmel_frames
    from binaural.spatial.separation import cell_features

    stems_path = record.truth.with_name(f"{record.id}.separate.wav")
    if not stems_path.is_file():
        return None
    clip = load_clip(record, sample_rate, chunk_s)
    stems, rate = read_wav(stems_path)
    if rate != sample_rate:
        raise ValueError(f"{stems_path}: {rate} Hz, not {sample_rate}")
    sources = clip.truth["sources"]
    if stems.shape[0] != 2 * len(sources) + 2:
        raise ValueError(f"{stems_path}: {stems.shape[0]} channels for {len(sources)} objects")
    logmel = logmel_frames(clip.mono, sample_rate)
    t = frame_times(logmel.shape[0], sample_rate)
    n = logmel.shape[0]
    energy, prior, cls = [], [], []
    for k, (source, track) in enumerate(zip(sources, clip.truth_tracks)):
        if source.get("silent") or source["class"] not in CLASSES:
            continue
        e = sum(10 ** (logmel_frames(stems[2 * k + c], sample_rate)[:n] / 10) for c in (0, 1))
        energy.append(e)
        r = np.maximum(np.interp(t, track.times_s, track.distance_m), 0.1)
        prior.append(1.0 / r ** 2)
        cls.append(CLASSES.index(source["class"]))
    if len(energy) < 2:
        return None
    energy = np.stack(energy, axis=1)[:, :MAX_OBJECTS]  # (T, K, M)
    k = energy.shape[1]
    total = energy.sum(axis=1)  # (T, M)
    share = np.divide(energy, total[:, None], out=np.zeros_like(energy),
                      where=total[:, None] > 0)
    loud = total >= total.max() * 10 ** (-DYNAMIC_RANGE_DB / 10)
    weight = np.sqrt(total) * loud
    weight /= max(weight[loud].mean(), 1e-30)
    pad = MAX_OBJECTS - k
    return {
        "x": cell_features(logmel).astype(np.float32),
        "cls": np.tile(np.array(cls[:MAX_OBJECTS] + [0] * pad), (n, 1)),
        "logprior": np.log(np.pad(np.stack(prior, axis=1)[:, :MAX_OBJECTS],
                                  ((0, 0), (0, pad)), constant_values=1.0)),
        "valid": np.tile(np.array([True] * k + [False] * pad), (n, 1)),
        "share": np.pad(share, ((0, 0), (0, pad), (0, 0))).astype(np.float32),
        "weight": weight.astype(np.float32),
    }


def load_set(folder: str, split: str, sample_rate: int, chunk_s: float,
             fold: tuple[int, int] | None = None) -> dict:
    """The set's arrays; with fold (i, n) without the scenes of fold i."""
    from binaural.eval.datasets import load_dataset
    from models.share_prior import share_fold

    parts = []
    records = [r for r in load_dataset(folder, split) if r.truth is not None
               and (fold is None or share_fold(r.id, fold[1]) != fold[0])]
    for i, record in enumerate(records):
        arrays = scene_arrays(record, sample_rate, chunk_s)
        if arrays is not None:
            parts.append(arrays)
        if (i + 1) % 50 == 0:
            print(f"  {folder}: {i + 1}/{len(records)} scenes read", flush=True)
    if not parts:
        raise SystemExit(f"{folder}: no scenes with stems and two or more sounding objects "
                         "(make_generator_data.py --add-separate)")
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    out["scenes"] = len(parts)
    return out


def batch_loss(net, data: dict, idx, torch) -> tuple:
    """Weighted cross-entropy and its weight total; the softmax's log-probabilities."""
    x = torch.from_numpy(data["x"][idx])
    logits = net(x).view(len(idx), len(CLASSES), -1)  # (B, C, M)
    cls = torch.from_numpy(data["cls"][idx])
    picked = torch.gather(logits, 1, cls[:, :, None].expand(-1, -1, logits.shape[-1]))
    z = picked + torch.from_numpy(data["logprior"][idx]).float()[:, :, None]
    valid = torch.from_numpy(data["valid"][idx])[:, :, None]
    z = z.masked_fill(~valid, -1e9)
    logp = torch.log_softmax(z, dim=1)
    share = torch.from_numpy(data["share"][idx])
    weight = torch.from_numpy(data["weight"][idx])
    ce = -(share * logp).sum(dim=1)  # (B, M)
    return (ce * weight).sum(), weight.sum(), logp


def evaluate(net, data: dict, torch) -> dict:
    """Loss and dominant-source agreement on a set, against the prior alone."""
    net.eval()
    with torch.no_grad():
        idx = np.arange(data["x"].shape[0])
        loss, total, logp = batch_loss(net, data, idx, torch)
        logp = logp.numpy()
    share, weight, valid = data["share"], data["weight"], data["valid"]
    prior = np.where(valid, data["logprior"], -1e9)[:, :, None]
    truth = share.argmax(axis=1)
    several = (valid.sum(axis=1) >= 2)[:, None] & (weight > 0)
    w = weight * several
    model_hit = (logp.argmax(axis=1) == truth)
    prior_hit = (np.broadcast_to(prior, share.shape).argmax(axis=1) == truth)
    prior_logp = prior - np.logaddexp.reduce(prior, axis=1, keepdims=True)
    prior_ce = float((-(share * prior_logp).sum(axis=1) * weight).sum() / weight.sum())
    return {"loss": float(loss / total), "prior_loss": prior_ce,
            "dominant_agree": float((model_hit * w).sum() / w.sum()),
            "dominant_agree_prior": float((prior_hit * w).sum() / w.sum())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train")
    p.add_argument("val")
    p.add_argument("--out", default="models/weights/separation.npz")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--params", default=None)
    p.add_argument("--fold", default=None, metavar="I/N",
                   help="train without the training scenes of fold I of N (cross-fitting)")
    args = p.parse_args(argv)
    fold = None
    if args.fold:
        i, n = (int(v) for v in args.fold.split("/"))
        if not 0 <= i < n or n < 2:
            p.error(f"--fold {args.fold}: I/N with 0 <= I < N and N >= 2")
        fold = (i, n)
    import torch

    from binaural.spatial.gate import N_MELS
    from binaural.spatial.separation import SeparationModel
    from flows.params import load_params

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    params = load_params(args.params)
    sr, chunk = params.scene.sample_rate, params.scene.chunk_s
    t0 = time.perf_counter()
    train = load_set(args.train, "train", sr, chunk, fold)
    val = load_set(args.val, "val", sr, chunk)
    print(f"{train['scenes']} train scenes ({train['x'].shape[0]} frames), {val['scenes']} "
          f"val scenes ({val['x'].shape[0]}), read in {time.perf_counter() - t0:.0f} s",
          flush=True)
    mean = train["x"].mean(axis=0)
    scale = train["x"].std(axis=0) + 1e-3
    for data in (train, val):
        data["x"] = ((data["x"] - mean) / scale).astype(np.float32)
    d = train["x"].shape[1]
    net = torch.nn.Sequential(
        torch.nn.Dropout(args.dropout), torch.nn.Linear(d, args.hidden), torch.nn.ReLU(),
        torch.nn.Dropout(args.dropout), torch.nn.Linear(args.hidden, args.hidden),
        torch.nn.ReLU(), torch.nn.Dropout(args.dropout),
        torch.nn.Linear(args.hidden, len(CLASSES) * N_MELS))
    torch.nn.init.zeros_(net[-1].weight)
    torch.nn.init.zeros_(net[-1].bias)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    n = train["x"].shape[0]
    steps = args.epochs * (n // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    print("before training:", json.dumps(evaluate(net, val, torch)), flush=True)
    best, best_state = np.inf, None
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(n)
        for b in range(n // args.batch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            loss, total, _ = batch_loss(net, train, idx, torch)
            opt.zero_grad()
            (loss / total.clamp_min(1e-6)).backward()
            opt.step()
            sched.step()
        scores = evaluate(net, val, torch)
        print(f"epoch {epoch + 1}: " + json.dumps(scores), flush=True)
        if scores["loss"] < best:
            best = scores["loss"]
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    linear = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = tuple((m.weight.detach().numpy().T.astype(np.float32).copy(),
                    m.bias.detach().numpy().astype(np.float32).copy()) for m in linear)
    model = SeparationModel(CLASSES, mean.astype(np.float32), scale.astype(np.float32),
                            layers)
    model.save(args.out)
    print(f"best val loss {best:.4f}; wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
