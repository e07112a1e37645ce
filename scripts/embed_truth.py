"""Visual embeddings of a dataset's true sources, for training the generator's visual
condition: `truth/<id>.visual.json` beside each scene's truth.

    python scripts/embed_truth.py data/generator/train data/generator/val data/generator/test

For every scene with a video and a truth JSON, frames are decoded every
`detector.embed_every_s` (params.yaml), each true source's box at that frame is cropped and
embedded by the detector exactly as the pipeline embeds a tracked box (models/detector.py:
class scores + pooled deepest features of the letterboxed crop; at most `embed_max` crops),
and the source's embedding is their mean. At remaster time the same detector embeds the
boxes it tracks, so training and use see the same features.

Output per scene: {"source": Detector.embedding_source, "embeddings": [vector or null per
truth source, in the truth's order]}, written atomically; a scene whose file exists with the
same source is skipped (a rerun resumes), one that fails is reported and the rest go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from binaural.eval.truth import visual_path
from binaural.io.outputs import write_json
from binaural.io.video import iter_frames
from binaural.spatial.tracks import SourceTrack


def source_embeddings(video: Path, tracks: list[SourceTrack], detector) -> list[list | None]:
    """Mean crop embedding per truth source (None for one never visible in a frame)."""
    crops: list[list[np.ndarray]] = [[] for _ in tracks]
    for t, rgb in iter_frames(video, 1.0 / detector.cfg.embed_every_s):
        for j, tr in enumerate(tracks):
            if len(crops[j]) >= detector.cfg.embed_max or not tr.times_s[0] <= t <= tr.times_s[-1]:
                continue
            box = [float(np.interp(t, tr.times_s, tr.boxes[:, i])) for i in range(4)]
            crop = detector.crop(rgb, box)
            if crop is not None:
                crops[j].append(crop)
    out: list[list | None] = []
    for pieces in crops:
        if not pieces:
            out.append(None)
            continue
        vectors = detector.embed(pieces)
        out.append([round(float(v), 5) for v in vectors.mean(axis=0)])
    return out


def embed_folder(folder: Path, detector) -> tuple[int, int, list[str]]:
    """Embed every scene of a `binaural synth`-layout folder: (written, skipped, errors)."""
    written, skipped, errors = 0, 0, []
    truths = sorted(p for p in (folder / "truth").glob("*.json")
                    if not p.name.endswith(".visual.json"))
    t0 = time.perf_counter()
    for i, truth_json in enumerate(truths):
        target = visual_path(truth_json)
        if target.is_file():
            try:
                if json.loads(target.read_text()).get("source") == detector.embedding_source:
                    skipped += 1
                    continue
            except (OSError, ValueError):
                pass  # unreadable: made again
        video = folder / f"{truth_json.stem}.mp4"
        try:
            if not video.is_file():
                raise FileNotFoundError(f"{video}: no video beside {truth_json}")
            data = json.loads(truth_json.read_text())
            tracks = [SourceTrack.from_json(s) for s in data["sources"]]
            record = {"source": detector.embedding_source,
                      "embeddings": source_embeddings(video, tracks, detector)}
            write_json(target, record)
            written += 1
        except Exception as exc:  # one bad scene never stops the set
            errors.append(f"{truth_json.stem}: {exc}")
            print(f"error: {truth_json.stem}: {exc}", file=sys.stderr, flush=True)
        if (i + 1) % 50 == 0 or i + 1 == len(truths):
            print(f"[{i + 1}/{len(truths)}] {folder} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return written, skipped, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--params", default=None, help="params.yaml (default: the project's)")
    args = p.parse_args(argv)

    from flows.params import load_params
    from models.builders import build_detector

    detector = build_detector(load_params(args.params).detector)
    failed = 0
    for folder in args.folders:
        written, skipped, errors = embed_folder(Path(folder), detector)
        failed += len(errors)
        print(f"{folder}: {written} written, {skipped} up to date, {len(errors)} failed "
              f"({detector.embedding_source}, {detector.embedding_dim} dims)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
