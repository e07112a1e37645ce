"""Training frames for the project's own detector, in the Ultralytics YOLO layout.

Each image holds 0-4 sprites of random classes, sizes and positions over a random
backdrop, often overlapping or cut by the frame edge, as in the synthesized scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from binaural.synth.sprites import SPRITE_CLASSES, draw_background, render_frame

MIN_BOX_PX = 4.0


def _image(rng: np.random.Generator, height: int, width: int):
    background = draw_background(height, width, rng)
    count = int(rng.choice([0, 1, 1, 2, 2, 3, 4]))
    sprites = []
    for _ in range(count):
        cls = SPRITE_CLASSES[int(rng.integers(len(SPRITE_CLASSES)))]
        h = float(np.exp(rng.uniform(np.log(15), np.log(height * 1.1))))
        cx = float(rng.uniform(-0.05, 1.05) * width)
        cy = float(rng.uniform(0.2, 0.8) * height)
        sprites.append((cls, cx, cy, h))
    sprites.sort(key=lambda s: s[3])  # small (far) first
    frame, boxes = render_frame(background, sprites)
    labels = []
    for (cls, *_), (x1, y1, x2, y2) in zip(sprites, boxes):
        if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
            continue
        labels.append(
            (SPRITE_CLASSES.index(cls), (x1 + x2) / 2 / width, (y1 + y2) / 2 / height,
             (x2 - x1) / width, (y2 - y1) / height)
        )
    if rng.random() < 0.3:  # compression-like noise, as decoded H.264 frames have
        noise = rng.normal(0, 4, frame.shape)
        frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
    return frame, labels


def write_dataset(
    out_dir: str | Path, train_images: int, val_images: int, seed: int, width: int, height: int
) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml; returns data.yaml."""
    out_dir = Path(out_dir).resolve()
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_images), ("val", val_images)):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            frame, labels = _image(rng, height, width)
            stem = f"{split}_{i:05d}"
            Image.fromarray(frame).save(out_dir / "images" / split / f"{stem}.jpg", quality=90)
            lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, x, y, w, h in labels]
            (out_dir / "labels" / split / f"{stem}.txt").write_text("\n".join(lines))
    data_yaml = out_dir / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(SPRITE_CLASSES))
    data_yaml.write_text(
        f"path: {out_dir}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"
    )
    return data_yaml
