"""Generation speed and memory of the shipped generator on this machine (a script, not a test).

    python scripts/bench_model.py [--model models/weights/generator-small-sp.pt]
                                  [--steps 1 8 16 25] [--seconds 20] [--threads 2]
                                  [--params params.yaml]

The renderer's settings (room split, gates, separation) and head are params.yaml's
`render` section, as a remaster's.

Each configuration runs in a fresh process (so its peak RSS is its own) on a synthetic
two-source mono of --seconds, streamed in 1 s chunks as the remaster does. Prints a table:
steps, sampler, real-time factor (processing time / audio time; < 1 is faster than real
time) and peak resident memory; the DSP renderer alone is the first row.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SR = 48000


def _tracks(seconds: float):
    import numpy as np

    from binaural.spatial.tracks import SourceTrack

    t = np.linspace(0, seconds, int(seconds * 5) + 1)
    box = np.tile([200.0, 100.0, 260.0, 300.0], (len(t), 1))
    return [SourceTrack(0, "person", "person", 0.8, t, 25 + 5 * np.sin(t), np.zeros_like(t),
                        np.full_like(t, 2.5), box),
            SourceTrack(1, "piano", "piano", 0.7, t, np.full_like(t, -20.0), np.zeros_like(t),
                        np.full_like(t, 3.0), box + [300, 0, 300, 0])]


def _run(model: str, steps: int, sampler: str, seconds: float, threads: int, render, out
         ) -> None:
    sys.path.insert(0, str(ROOT))
    import os

    os.chdir(ROOT)  # the render settings' model paths are relative to the project
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from binaural.spatial.hrtf import load_sofa
    from models.builders import build_generator
    from models.config import GeneratorConfig

    hrtf = load_sofa(render.hrtf, SR)
    gen = build_generator(model, hrtf, render,
                          GeneratorConfig(steps=steps, sampler=sampler, device="cpu"))
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    mono = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32)
    chunks = (mono[i:i + SR] for i in range(0, mono.size, SR))
    start = time.perf_counter()
    n = sum(c.shape[1] for c in gen.generate(chunks, _tracks(seconds), SR))
    wall = time.perf_counter() - start
    assert n == mono.size
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((wall / seconds, peak_mb))


def measure(model: str, steps: int, sampler: str, seconds: float, threads: int, render
            ) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(model, steps, sampler, seconds, threads, render,
                                          queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "models/weights/generator-small-sp.pt"))
    p.add_argument("--steps", type=int, nargs="+", default=[1, 8, 16, 25])
    p.add_argument("--sampler", default="euler", choices=("euler", "heun"))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--params", default=None, help="params.yaml (default: the project's)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from flows.params import load_params

    render = load_params(args.params).render
    rows = [("dsp", "-", *measure("dsp", 1, "euler", args.seconds, args.threads, render))]
    for steps in args.steps:
        rows.append((str(steps), args.sampler, *measure(args.model, steps, args.sampler,
                                                        args.seconds, args.threads, render)))
    print(f"\n{Path(args.model).name}: {args.seconds:.0f} s of audio, {args.threads} threads")
    print(f"{'steps':>6} {'sampler':>8} {'RTF':>7} {'peak RSS MB':>12}")
    for steps, sampler, rtf, peak in rows:
        print(f"{steps:>6} {sampler:>8} {rtf:>7.3f} {peak:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
