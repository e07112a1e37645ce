"""`binaural bench`: speed and memory of the remaster pipeline, as printed figures.

Synthesizes a small archive, remasters it with 1 and 2 Ray workers per pool (the real
flow), samples the memory of every process of the run, and prints:

- per-stage real-time factor (stage compute seconds / audio seconds; < 1 is faster
  than real time),
- end-to-end throughput (seconds of audio per wall-clock second),
- peak memory (the whole run, and the largest single process),
- orchestration overhead: wall-clock time / the stages' own compute time.

The same figures go to OUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

STAGES = ("localization", "association", "generation", "evaluation", "loudness", "mux",
          "report")
PART_OF_LOCALIZATION = ("association",)  # shown apart, counted once
TITLE_SETTLED_S = 5.0  # a process this old keeps its title (Ray's agents rename themselves)


class MemorySampler:
    """Peak RSS of this process and all its descendants (Ray's workers among them), and
    the CPU seconds they spent meanwhile (each process's last reading less its reading at
    the start, 0 for one started since; one that lives between two samples is missed)."""

    def __init__(self, period_s: float = 0.5) -> None:
        self.period_s = period_s
        self.peak_total = 0
        self.peak_process: dict[str, int] = {}
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seconds
        self._names: dict[int, str] = {}
        self._titles: dict[int, str] = {}  # pid -> name of a process that is no Ray worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        self._start = time.time()
        born: dict[int, float] = {}  # pid -> start time: a pid Linux reused is a new process
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    with proc.oneshot():  # one read of /proc/<pid>/stat for all of these
                        rss = proc.memory_info().rss
                        times = proc.cpu_times()
                        started = proc.create_time()
                        if born.get(proc.pid) != started:
                            born[proc.pid] = started
                            self._titles.pop(proc.pid, None)
                            self._cpu.pop(proc.pid, None)
                        # the title changes as an actor runs methods: read it every time
                        # for Ray's workers only (the sampler's own cost is in the run)
                        name = self._title(proc)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                cpu = times.user + times.system
                first = self._cpu.get(proc.pid, (0.0 if started >= self._start else cpu,))[0]
                self._cpu[proc.pid] = (first, cpu)
                total += rss
                # an actor by its class, whatever its method, and as its 15-character
                # process name when the title is not readable ("ray::ItemWorker")
                self._names[proc.pid] = name.split(".")[0][:15]
                self.peak_process[name] = max(self.peak_process.get(name, 0), rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.period_s)

    def _title(self, proc: psutil.Process) -> str:
        """A Ray worker's title (ray::Class.method), else the process name; the command
        line is read once per process unless it is a Ray worker."""
        known = self._titles.get(proc.pid)
        if known is not None:
            return known
        name = " ".join(proc.cmdline()[:1])[:40] or proc.name()
        if name.startswith("ray::"):
            return name
        if time.time() - proc.create_time() > TITLE_SETTLED_S:  # Ray's agents set theirs late
            self._titles[proc.pid] = proc.name()
        return proc.name()

    @property
    def cpu_s(self) -> float:
        """CPU seconds of every sampled process (this one's included) while sampled."""
        return sum(last - first for first, last in self._cpu.values())

    @property
    def cpu_process_s(self) -> dict[str, float]:
        """cpu_s per kind of process (actors by class, others by name), largest first."""
        out: dict[str, float] = {}
        for pid, (first, last) in self._cpu.items():
            out[self._names[pid]] = out.get(self._names[pid], 0.0) + last - first
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_bench(out: Path, clips: int, duration_s: float, workers: list[int], seed: int) -> dict:
    from binaural.spatial.hrtf import load_sofa
    from binaural.synth.scenes import synthesize
    from flows.params import load_params
    from flows.remaster import remaster
    from flows.warm_start import release_unclaimed, warm_start

    params = load_params()
    src = out / "src"
    shutil.rmtree(out, ignore_errors=True)
    cfg = replace(params.synth, scenes=clips, seed=seed, max_sources=2, duration_s=duration_s)
    synthesize(cfg, load_sofa(cfg.hrtf, cfg.sample_rate), src)
    audio_s = clips * duration_s
    results = {"clips": clips, "clip_seconds": duration_s, "audio_seconds": audio_s,
               "runs": []}
    for n in workers:
        run_params = replace(params, remaster=replace(params.remaster, actors=n,
                                                      concurrency=2 * n))
        t0 = time.perf_counter()
        with MemorySampler() as mem:
            warm_start(run_params)  # as the CLI does: Ray beside Prefect's server
            try:
                summary = remaster(str(src), str(out / f"dest-{n}"), params=run_params)
            finally:
                release_unclaimed()
        wall = time.perf_counter() - t0
        reports = [i["report"] for i in summary["items"] if i["status"] == "done"]
        stage_s = {s: sum(r["timings_s"].get(s, 0.0) for r in reports) for s in STAGES}
        compute = sum(v for s, v in stage_s.items() if s not in PART_OF_LOCALIZATION)
        results["runs"].append({
            "workers": n,
            "wall_s": round(wall, 2),
            "throughput_audio_s_per_s": round(audio_s / wall, 3),
            "stage_rtf": {s: round(v / audio_s, 4) for s, v in stage_s.items()},
            "stage_compute_s": round(compute, 2),
            "overhead_ratio": round(wall / compute, 2) if compute else None,
            "cpu_s": round(mem.cpu_s, 1),  # every process of the run: load = cpu_s / wall_s
            "cpu_process_s": {k: round(v, 1) for k, v in list(mem.cpu_process_s.items())[:6]},
            "peak_rss_total_mb": round(mem.peak_total / 2**20, 1),
            "peak_rss_process_mb": {k: round(v / 2**20, 1)
                                    for k, v in sorted(mem.peak_process.items(),
                                                       key=lambda kv: -kv[1])[:6]},
        })
    (out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def print_table(results: dict) -> None:
    print(f"\n{results['clips']} clips x {results['clip_seconds']} s "
          f"({results['audio_seconds']} s of audio)\n")
    head = f"{'workers':>7} {'wall s':>8} {'audio s/s':>9} " + " ".join(
        f"{'RTF ' + s[:5]:>10}" for s in STAGES) + f" {'overhead':>8} {'CPU s':>6} {'peak MB':>8}"
    print(head)
    for r in results["runs"]:
        print(f"{r['workers']:>7} {r['wall_s']:>8.1f} {r['throughput_audio_s_per_s']:>9.3f} "
              + " ".join(f"{r['stage_rtf'][s]:>10.4f}" for s in STAGES)
              + f" {r['overhead_ratio']:>8.2f} {r['cpu_s']:>6.1f} {r['peak_rss_total_mb']:>8.0f}")
    for r in results["runs"]:
        top = ", ".join(f"{k} {v:.0f} MB" for k, v in r["peak_rss_process_mb"].items())
        print(f"  {r['workers']} workers, largest processes: {top}")
        busy = ", ".join(f"{k} {v:.1f} s" for k, v in r["cpu_process_s"].items())
        print(f"  {r['workers']} workers, CPU by process: {busy}")


def cmd_bench(args: argparse.Namespace) -> int:
    workers = [int(w) for w in args.workers.split(",")]
    results = run_bench(Path(args.out), args.clips, args.duration, workers, args.seed)
    print_table(results)
    print(f"\nwritten to {Path(args.out) / 'bench.json'}")
    return 0


def add_bench_parser(sub) -> None:
    """Register `binaural bench` on the CLI's subparsers."""
    p = sub.add_parser("bench", help="measure speed and memory of the pipeline")
    p.add_argument("--out", default="/tmp/binaural-bench")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--seed", type=int, default=99)
    p.set_defaults(func=cmd_bench)
