"""Give a trained v2 generator the share prior (models/share_prior.py) without retraining:
its weights unchanged, the source slots' logits biased by SCALE x log(share), the
renderer's separation shares of each cell; the share feature starts at zero.

    python scripts/add_share_prior.py models/weights/generator-small.pt \
        models/weights/generator-small-sp.pt --scale 2

The scale was chosen on the 32 val scenes (1, 2, 4: README, "Share prior"); fine-tuning
with the prior (flows.retrain, train.share_prior) made the two-source figures worse there.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parent", help="a generator checkpoint without the share prior")
    p.add_argument("out")
    p.add_argument("--scale", type=float, default=2.0, help="x log(share) on the logits")
    p.add_argument("--name", default=None, help="the new model's name (default: the "
                   "parent's + '-sp')")
    args = p.parse_args(argv)
    import torch

    from models.checkpoint_meta import checkpoint_identity
    from models.generator import load_checkpoint, save_checkpoint
    from models.generator_net import GeneratorNet
    from models.generator_train import warm_start

    parent, meta = load_checkpoint(args.parent)
    if parent.cfg.share_prior:
        p.error(f"{args.parent}: already has the share prior")
    if args.scale <= 0:
        p.error("--scale: positive")
    net = GeneratorNet(dataclasses.replace(parent.cfg, share_prior=True))
    warm_start(net, args.parent)
    with torch.no_grad():
        net.share_scale.fill_(args.scale)
    name = args.name or f"{meta.get('name', 'generator')}-sp"
    meta = dict(meta, name=name, share_prior_scale=args.scale,
                share_prior_parent=checkpoint_identity(args.parent, meta.get("name", "parent")),
                created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    save_checkpoint(args.out, net.eval(), meta)
    print(f"wrote {args.out} ({name}: {args.parent} + {args.scale:g} x log(share))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
