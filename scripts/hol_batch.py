"""Head-of-line blocking, measured: one long clip and several short ones in one batch.

    .venv/bin/python scripts/hol_batch.py --long-s 300 --short 9 --actors 2 --concurrency 4

Writes the batch (the long clip is named to come first by name, as an archive's oldest
recording often does), remasters it with the DSP renderer and prints the wall time, when
the long clip finished and when the last short one did (from the published reports'
modification times). Runs against whatever code is on PYTHONPATH, so the same script
measures a branch before and after a change. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from flows.environment import PROJECT_ROOT, prepare_environment


def build_batch(folder: Path, long_s: float, short: int, short_s: float) -> None:
    from binaural.synth.edge_media import write_scene_clip

    folder.mkdir(parents=True, exist_ok=True)
    write_scene_clip(folder / "000_long.mp4", long_s, 1)
    for i in range(short):
        write_scene_clip(folder / f"short_{i:02d}.mp4", short_s, 10 + i)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-s", type=float, default=300.0)
    parser.add_argument("--short", type=int, default=9)
    parser.add_argument("--short-s", type=float, default=6.0)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--work", default="/tmp/hol-batch")
    parser.add_argument("--label", default="", help="printed with the figures")
    args = parser.parse_args()
    prepare_environment()
    work = Path(args.work)
    src = work / f"batch-{args.long_s:g}-{args.short}x{args.short_s:g}"
    if not (src / "000_long.mp4").is_file():
        shutil.rmtree(src, ignore_errors=True)
        build_batch(src, args.long_s, args.short, args.short_s)
    dest = Path(tempfile.mkdtemp(prefix="dest-", dir=work))
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["remaster"].update(actors=args.actors, concurrency=args.concurrency)
    params_file = PROJECT_ROOT / f".hol-params-{dest.name}.yaml"  # paths resolve as usual
    params_file.write_text(yaml.safe_dump(params))
    from flows.remaster import remaster

    try:
        t0 = time.time()
        summary = remaster(str(src), str(dest), params_file=str(params_file), model="dsp")
        wall = time.time() - t0
    finally:
        params_file.unlink()
    finished = {}
    for report in (dest / summary["version"]).glob("*.json"):
        finished[json.loads(report.read_text())["name"]] = report.stat().st_mtime - t0
    shorts = [t for name, t in finished.items() if name != "000_long"]
    print(json.dumps({
        "label": args.label, "actors": args.actors, "concurrency": args.concurrency,
        "long_s": args.long_s, "short": f"{args.short} x {args.short_s:g} s",
        "done": len(summary["done"]), "failed": len(summary["failed"]),
        "wall_s": round(wall, 1),
        "long_finished_s": round(finished.get("000_long", float("nan")), 1),
        "first_short_finished_s": round(min(shorts), 1) if shorts else None,
        "last_short_finished_s": round(max(shorts), 1) if shorts else None,
    }))
    shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    main()
