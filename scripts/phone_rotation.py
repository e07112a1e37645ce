"""Portrait phone clips, measured: a synthesized portrait scene stored as a phone stores it
(landscape-coded frames + a -90 degree display matrix), remastered with the detector and
the DSP renderer, its output's direction checked against the synthesized truth.

    .venv/bin/python scripts/phone_rotation.py /tmp/phone --write 3 5 6 8
    PYTHONPATH=<other checkout> .venv/bin/python scripts/phone_rotation.py /tmp/phone 3 5 6 8

With --write the clips are made (this branch's binaural.synth.edge_media), then every clip is
remastered with whatever code is on PYTHONPATH: the same clips measure before and after.
Prints per clip the true azimuth, the detected classes and the median direction error.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flows.environment import prepare_environment


def write_clips(folder: Path, seeds: list[int]) -> None:
    from binaural.io.outputs import write_json
    from binaural.spatial.hrtf import load_sofa
    from binaural.synth.config import SynthConfig
    from binaural.synth.edge_media import write_displayed
    from binaural.synth.scenes import render_scene

    cfg = replace(SynthConfig(), max_sources=1, duration_s=3.0, width=180, height=320)
    hrtf = load_sofa(cfg.hrtf, cfg.sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        scene = render_scene(cfg, hrtf, f"phone_{seed}", seed, 1)
        write_displayed(folder / f"phone_{seed}.mp4", scene.frames(), cfg.video_fps,
                        scene.mono, cfg.sample_rate, -90)
        write_json(folder / f"phone_{seed}.json", scene.truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("seeds", nargs="+", type=int)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    prepare_environment()
    folder = Path(args.folder)
    if args.write:
        write_clips(folder, args.seeds)

    from binaural.eval.truth import truth_direction_errors
    from binaural.pipeline.stages import render_video
    from binaural.spatial.generator import DSPGenerator
    from binaural.spatial.hrtf import load_sofa
    from binaural.spatial.localization import localize_video
    from flows.params import load_params
    from models.builders import build_detector

    p = load_params()
    hrtf = load_sofa(p.render.hrtf, p.scene.sample_rate)
    detector = build_detector(replace(p.detector, device="cpu", threads=2))
    generator = DSPGenerator(hrtf, p.render)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    for seed in args.seeds:
        path, truth_path = folder / f"phone_{seed}.mp4", folder / f"phone_{seed}.json"
        truth = json.loads(truth_path.read_text())
        loc = localize_video(path, detector, p.scene,
                             replace(p.localize, fov_deg=truth["fov_deg"]))
        report = render_video(path, loc, generator, out, f"phone_{seed}", p.scene, p.evaluate)
        errors = truth_direction_errors(out / f"phone_{seed}.binaural.wav", truth_path,
                                        p.evaluate)
        print(json.dumps({
            "clip": path.name, "true_azimuth_deg": truth["sources"][0]["track"][0]["azimuth_deg"],
            "true_class": truth["sources"][0]["class"],
            "detected": [s["class"] for s in report["sources"]],
            "video": report["video"],
            "direction_error_deg_median": round(float(np.median(errors)), 2)
            if errors.size else None}))


if __name__ == "__main__":
    main()
