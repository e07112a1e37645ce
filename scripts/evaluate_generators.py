"""`binaural evaluate` with more than one generator in one pass (one detection per clip):
each NAME=CHECKPOINT becomes a system NAME (the generator at the detected positions)
beside the usual ones, e.g. the shipped v2 against a v3 candidate:

    python scripts/evaluate_generators.py data/generator-v2/test --out eval-v3 \
        --systems mono,dsp,dsp-oracle,dsp-separate,model,model-v2 \
        --model models/weights/generator-small-v3.pt \
        --extra model-v2=models/weights/generator-small.pt --limit 60

then `python scripts/generator_table.py eval-v3/metrics.json` makes the issue's table.

`--cache DIR` keeps each clip's localization (detector + association) as DIR/<id>.pkl and
reuses it, so a later run (another generator; the other systems' outputs rescored as
NAME@EVAL_DIR/clips) does not detect again. The detector is still loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path


def cache_localizations(folder: Path) -> None:
    """EvalContext.localization read from / written to folder/<clip id>.pkl."""
    from binaural.eval.systems import EvalContext

    folder.mkdir(parents=True, exist_ok=True)
    compute = EvalContext.localization

    def localization(self, record):
        path = folder / f"{record.id}.pkl"
        if record.id not in self._localizations and path.is_file():
            self._localizations.clear()
            self._localizations[record.id] = pickle.loads(path.read_bytes())
        result = compute(self, record)
        if not path.is_file():  # write then rename: a run sharing the folder never
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # reads half a file
            tmp.write_bytes(pickle.dumps(result))
            tmp.replace(path)
        return result

    EvalContext.localization = localization


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--systems", required=True)
    p.add_argument("--model", default=None, help="the `model` system's generator")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=CHECKPOINT")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--params", default=None)
    p.add_argument("--cache", default=None, help="a folder of localizations (see above)")
    args = p.parse_args(argv)
    from flows.environment import prepare_environment

    prepare_environment()
    from flows.evaluate import evaluate
    from flows.params import load_params
    from models.generator_system import register_generator_systems

    params = load_params(args.params)
    if args.cache:
        cache_localizations(Path(args.cache))
    for item in args.extra:
        name, _, path = item.partition("=")
        if not name or not path:
            p.error(f"--extra {item!r}: NAME=CHECKPOINT")
        register_generator_systems(path, params.generator, name=name)
    summary = evaluate(args.dataset, args.out, systems=args.systems, split=args.split,
                       limit=args.limit, params_file=args.params, model=args.model)
    print(json.dumps({k: summary[k] for k in ("out", "clips", "failed")}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
