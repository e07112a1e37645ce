"""Instrument recall on rendered sprite frames: what a detector change costs the classes
our detector exists for (the real frames of measure_real_people.py hold no instrument).

    PYTHONPATH=. YOLO_OFFLINE=1 .venv/bin/python scripts/measure_sprite_recall.py
        [--frames 100] [--seed 7] [--weights W ...]

The frames are binaural.synth.detector_data.rendered_image (0-4 sprites over a drawn
backdrop, 640 x 360) from their own stream (--seed; the detector's training data uses
detector_data.seed 1, its val split (1, 1)). Per weights it prints, for our model alone and
for the default list (pose + ours, the merge and veto rules, the crop veto) and the same
without the crop veto (models.crop_veto): instruments found (a box of
the same label at IoU >= 0.5) of the instruments drawn, objects found (people too), and
other boxes (matching no drawn object of their label).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from binaural.spatial.box_merge import iou_matrix
from binaural.synth.detector_data import rendered_image
from binaural.synth.sprites import SPRITE_CLASSES
from flows.params import load_params

MATCH_IOU = 0.5


def truth_boxes(labels, height: int, width: int) -> tuple[list[str], np.ndarray]:
    names = [SPRITE_CLASSES[c] for c, *_ in labels]
    boxes = np.array([((x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width,
                       (y + h / 2) * height) for _, x, y, w, h in labels]).reshape(-1, 4)
    return names, boxes


def score(detect, frames) -> dict[str, int]:
    out = {"instruments": 0, "instruments found": 0, "objects": 0, "objects found": 0,
           "other boxes": 0}
    for frame, (names, boxes) in frames:
        found = detect(frame)
        used = np.zeros(len(found), bool)
        for name, box in zip(names, boxes):
            same = [i for i, (lab, _, _) in enumerate(found) if lab == name and not used[i]]
            hit = False
            if same:
                ious = iou_matrix(box[None], np.array([found[i][2] for i in same]))[0]
                if ious.max() >= MATCH_IOU:
                    used[same[int(ious.argmax())]] = hit = True
            out["objects"] += 1
            out["objects found"] += hit
            if name != "person":
                out["instruments"] += 1
                out["instruments found"] += hit
        out["other boxes"] += int((~used).sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", nargs="+", help="our detector's weights (default: params')")
    args = parser.parse_args()

    from models.builders import build_detector
    from models.config import DetectorModel

    params = load_params()
    cfg = replace(params.detector, device="cpu", threads=args.threads)
    own = next(m for m in cfg.models if m.embed)
    rng = np.random.default_rng((args.seed, 0))
    width, height = params.detector_data.width, params.detector_data.height
    frames = []
    for _ in range(args.frames):
        frame, labels = rendered_image(rng, height, width)
        frames.append((frame, truth_boxes(labels, height, width)))
    for weights in args.weights or [own.weights]:
        mine = replace(own, weights=weights)
        listed = tuple(mine if m is own else m for m in cfg.models)
        for name, config in (("ours alone", replace(cfg, models=(DetectorModel(
                                 weights, own.classes),))),
                             ("default list", replace(cfg, models=listed)),
                             ("no crop veto", replace(cfg, models=listed, verify_imgsz=0))):
            figures = score(build_detector(config).detect, frames)
            print(f"{weights} {name:13s} " + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
