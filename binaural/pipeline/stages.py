"""Generation, evaluation and outputs of one video; tasks/ wraps it in a Ray actor.

    binaural.spatial.localization.localize_video: frames -> detection/tracking -> camera
    render_video: scene extraction (audio, streamed) -> a generator (binaural.spatial.
                  generator's protocol: the DSP renderer or the diffusion model) ->
                  evaluation (binaural.eval.metrics) -> outputs (WAV, MP4, JSON, PNG)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from binaural.eval.config import EvaluateConfig
from binaural.eval.metrics import RunningEvaluation, report_reference_metrics
from binaural.io.audio import iter_wav, write_wav_stream
from binaural.io.config import SceneConfig
from binaural.io.outputs import atomic_path, file_sha256, write_json
from binaural.io.video import iter_audio, remux
from binaural.spatial.generator import Generator, generator_report
from binaural.spatial.localization import Localization

log = logging.getLogger(__name__)


def _mono_chunks(path: str | Path, scene: SceneConfig):
    yield from iter_audio(path, scene.sample_rate, scene.chunk_s)


def render_video(
    path: str | Path,
    loc: Localization,
    generator: Generator,
    dest_dir: str | Path,
    name: str,
    scene: SceneConfig,
    evaluate: EvaluateConfig,
    reference: str | Path | None = None,
    source: str | None = None,
) -> dict:
    """Generate, evaluate and write the four outputs; returns the report record.

    `source` names the video in the report and its warnings (an archive key or URI; the
    local working copy's path when None)."""
    from binaural.pipeline.plot import plot_report  # matplotlib only where a report is drawn

    dest_dir = Path(dest_dir)
    label = source or str(path)
    timings = {"localization": round(loc.seconds, 3)}
    sr = scene.sample_rate
    evaluation = RunningEvaluation(sr, evaluate)

    t0 = time.perf_counter()
    warnings = list(loc.warnings)
    fallback = generator.fallback_reason(loc.tracks)
    if fallback:
        warnings.append(f"{label}: {fallback}")
    visual, degraded = generator.visual_use(loc.tracks)
    if degraded and not fallback:
        warnings.append(f"{label}: visual condition {visual}")

    def generated():
        pieces = generator.generate(_mono_chunks(path, scene), loc.tracks, sr,
                                    (loc.info.width, loc.info.height))
        for out in pieces:
            evaluation.add(out)
            yield out

    wav_path = dest_dir / f"{name}.binaural.wav"
    frames = write_wav_stream(wav_path, generated(), sr)
    timings["generation"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    metrics, series = evaluation.result(loc.tracks)
    metrics["detections_reliable"] = loc.reliability is None or loc.reliability.reliable
    if reference is not None and Path(reference).is_file():
        mono = np.concatenate(list(_mono_chunks(path, scene)))
        metrics.update(report_reference_metrics(wav_path, mono, reference, evaluate))
    timings["evaluation"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    mp4_path = dest_dir / f"{name}.binaural.mp4"
    with atomic_path(mp4_path) as tmp:
        remux(path, iter_wav(wav_path, int(scene.chunk_s * sr)), tmp, sr)
    timings["mux"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    png_path = dest_dir / f"{name}.png"
    with atomic_path(png_path) as tmp:
        plot_report(tmp, name, loc.thumbnail, loc.info.width, loc.tracks, series)
    timings["report"] = round(time.perf_counter() - t0, 3)

    return {
        "name": name,
        "input": label,
        "input_sha256": file_sha256(path),
        "duration_s": round(frames / sr, 4),
        "sample_rate": sr,
        "video": {"width": loc.info.width, "height": loc.info.height, "fps": loc.info.fps,
                  "codec": loc.info.video_codec},
        "audio_in": {"rate": loc.info.audio_rate, "channels": loc.info.audio_channels,
                     "codec": loc.info.audio_codec},
        "fov_deg": loc.fov_deg,
        "generator": generator_report(generator, loc.tracks),
        "detector": {"version": loc.detector_version,
                     "reliability": loc.reliability.to_json() if loc.reliability else None},
        "sources": [t.to_json() for t in loc.tracks],
        "metrics": metrics,
        "warnings": warnings,
        "timings_s": timings,
        "outputs": {"wav": wav_path.name, "mp4": mp4_path.name, "png": png_path.name,
                    "json": f"{name}.json"},
    }


def write_report(dest_dir: str | Path, report: dict) -> Path:
    path = Path(dest_dir) / f"{report['name']}.json"
    write_json(path, report)
    return path
