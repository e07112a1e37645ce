"""The detector's tracks of a dataset's scenes, so the generator trains on what inference
gives it (train.detected_tracks) instead of jittered truth:

    python scripts/localize_dataset.py data/generator-v2/train --split train \
        --out data/generator-v2/detected
    python scripts/localize_dataset.py data/generator-v2/val --split val \
        --out data/generator-v2/detected

Each clip is localized exactly as `binaural evaluate` localizes it (the detector of
params.yaml, the truth's field of view, the association) and written to OUT/<id>.json:
{"detector": version, "frame_size": [w, h], "sources": [SourceTrack.to_json()]}, written
then renamed; a clip whose file exists is skipped (a rerun resumes), a clip that fails is
reported and the others go on. `--cache DIR` reads and writes the localizations that
scripts/evaluate_generators.py caches, so a set localized for an evaluation is not
detected again.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("localize_dataset")


def localization_document(loc) -> dict:
    """A Localization -> the JSON that train.detected_tracks reads."""
    return {"detector": loc.detector_version, "frame_size": list(loc.info.display_size),
            "sources": [t.to_json() for t in loc.tracks]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--params", default=None)
    p.add_argument("--cache", default=None, help="localizations cached by evaluate_generators")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from flows.environment import prepare_environment

    prepare_environment()
    from binaural.eval.datasets import load_dataset
    from binaural.eval.systems import EvalContext
    from binaural.io.outputs import atomic_path
    from binaural.spatial.hrtf import load_sofa
    from flows.evaluate import load_detector
    from flows.params import load_params

    params = load_params(args.params)
    if args.cache:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from evaluate_generators import cache_localizations

        cache_localizations(Path(args.cache))
    records = load_dataset(args.dataset, args.split)
    records = records[:args.limit] if args.limit else records
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [r for r in records if not (out / f"{r.id}.json").is_file()]
    log.info("%d clips of %s (%s), %d already localized", len(records), args.dataset,
             args.split, len(records) - len(todo))
    if not todo:
        return 0
    hrtf = load_sofa(params.render.hrtf, params.scene.sample_rate)
    context = EvalContext(params.scene, params.localize, params.render, params.evaluate, hrtf,
                          load_detector(params.detector))
    failed = {}
    for i, record in enumerate(todo):
        try:
            document = localization_document(context.localization(record))
            with atomic_path(out / f"{record.id}.json") as tmp:
                tmp.write_text(json.dumps(document))
        except Exception as exc:  # noqa: BLE001 - one bad clip never stops the set
            failed[record.id] = f"{type(exc).__name__}: {exc}"
            log.error("%s: %s", record.id, failed[record.id])
        finally:
            context.forget(record)
        if (i + 1) % 25 == 0 or i + 1 == len(todo):
            log.info("localized %d/%d", i + 1, len(todo))
    print(json.dumps({"out": str(out), "clips": len(records), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
