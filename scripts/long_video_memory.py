"""Peak memory of remastering a long video against a short one (bounded by chunks).

    .venv/bin/python scripts/long_video_memory.py --minutes 2 120 --work /tmp/longmem

For each length, writes a synthetic video (a moving sprite, a tone-and-noise mono track)
with a streaming writer, then remasters it in a fresh process (localize + render +
outputs, as the Ray actors run them) and prints that process's peak RSS. The scene's
frame sampling comes from params.yaml (`scene.fps`), overridable with --fps.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from flows.environment import prepare_environment

RATE = 48000
FPS = 5
WIDTH, HEIGHT = 320, 180


def write_long_video(path: Path, minutes: float) -> None:
    """Interleaved H.264 + mono AAC, one second at a time: never the whole clip in memory."""
    import av

    from binaural.synth.sprites import draw_background, render_frame

    rng = np.random.default_rng(0)
    background = draw_background(HEIGHT, WIDTH, rng)
    seconds = int(minutes * 60)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        a_stream = out.add_stream("aac", rate=RATE, layout="mono")
        pts = 0
        for s in range(seconds):
            for i in range(FPS):
                t = s + i / FPS
                x = WIDTH / 2 + 0.35 * WIDTH * np.sin(2 * np.pi * t / 20)
                frame_img, _ = render_frame(background, [("trumpet", x, HEIGHT / 2, 40)])
                frame = av.VideoFrame.from_ndarray(frame_img, format="rgb24")
                frame.pts = s * FPS + i
                for p in vs.encode(frame):
                    out.mux(p)
            tt = (np.arange(RATE) + s * RATE) / RATE
            audio = 0.2 * np.sin(2 * np.pi * 440 * tt) + 0.02 * rng.standard_normal(RATE)
            audio = audio.astype(np.float32)[None, :]
            for start in range(0, RATE, 1024):
                block = np.ascontiguousarray(audio[:, start:start + 1024])
                af = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = RATE, pts, Fraction(1, RATE)
                pts += block.shape[1]
                for p in a_stream.encode(af):
                    out.mux(p)
        for stream in (vs, a_stream):
            for p in stream.encode(None):
                out.mux(p)


def remaster_one(video: str, out_dir: str, fps: float | None) -> dict:
    """Runs in a fresh process: the stages as the actors run them; peak RSS back."""
    from dataclasses import replace

    from binaural.pipeline.stages import render_video
    from binaural.spatial.hrtf import load_sofa
    from binaural.spatial.localization import localize_video
    from flows.params import load_params
    from models.builders import build_detector, build_generator

    params = load_params()
    scene = replace(params.scene, fps=fps) if fps else params.scene
    detector = build_detector(replace(params.detector, device="cpu"))
    hrtf = load_sofa(params.render.hrtf, scene.sample_rate)
    generator = build_generator("dsp", hrtf, params.render, params.generator)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    loc = localize_video(video, detector, scene, params.localize)
    report = render_video(video, loc, generator, out_dir, Path(video).stem, scene,
                          params.evaluate)
    return {"video": video, "duration_s": report["duration_s"],
            "wall_s": round(time.perf_counter() - t0, 1), "timings_s": report["timings_s"],
            "rss_after_load_mb": round(baseline, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2, 120])
    parser.add_argument("--work", default="/tmp/long-video-memory")
    parser.add_argument("--fps", type=float, default=None, help="scene.fps override")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    prepare_environment()
    if args.child:
        print(json.dumps(remaster_one(args.child[0], args.child[1], args.fps)))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        video = work / f"long_{minutes:g}min.mp4"
        if not video.exists():
            t0 = time.perf_counter()
            write_long_video(video, minutes)
            print(f"wrote {video} ({video.stat().st_size / 2**20:.1f} MB) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        cmd = [sys.executable, __file__, "--child", str(video), str(work / "out")]
        if args.fps:
            cmd += ["--fps", str(args.fps)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'video':<22} {'audio min':>9} {'wall s':>8} {'RSS after load MB':>18} "
          f"{'peak RSS MB':>12}")
    for r in rows:
        print(f"{Path(r['video']).name:<22} {r['duration_s'] / 60:>9.1f} {r['wall_s']:>8.0f} "
              f"{r['rss_after_load_mb']:>18.0f} {r['peak_rss_mb']:>12.0f}")
    if len(rows) >= 2:
        ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        print(f"\npeak RSS ratio longest/shortest: {ratio:.2f} (bound: within 20%)")


if __name__ == "__main__":
    main()
