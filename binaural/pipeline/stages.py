"""Generation, evaluation and outputs of one video; tasks/ wraps it in a Ray actor.

    binaural.spatial.localization.localize_video: frames -> detection/tracking -> camera
    render_video: scene extraction (audio, streamed) -> a generator (binaural.spatial.
                  generator's protocol: the DSP renderer or the diffusion model) ->
                  evaluation (binaural.eval.metrics) -> outputs (WAV, MP4, JSON, PNG)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from binaural.delivery.config import DeliveryConfig
from binaural.delivery.loudness import (
    Limiter,
    LoudnessMeter,
    TruePeakMeter,
    gain_to_db,
    master_wav,
)
from binaural.eval.config import EvaluateConfig
from binaural.eval.cues import measure_ild_table
from binaural.eval.metrics import RunningEvaluation, report_reference_metrics
from binaural.eval.silence import SILENT_DBFS, LevelMeter
from binaural.io.audio import iter_wav, write_wav_stream
from binaural.io.config import SceneConfig
from binaural.io.damage import Damage
from binaural.io.outputs import atomic_path, file_sha256, write_json
from binaural.io.video import damage_warning, iter_audio, remux
from binaural.spatial.config import RenderConfig
from binaural.spatial.generator import Generator, generator_report
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.localization import Localization

log = logging.getLogger(__name__)

NO_SOURCE = "no sound source found; rendered straight ahead"


def _mono_chunks(path: str | Path, scene: SceneConfig, damage: Damage | None = None):
    yield from iter_audio(path, scene.sample_rate, scene.chunk_s, damage)


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
    delivery: DeliveryConfig | None = None,
    hrtf: HRTFSet | None = None,
    render: RenderConfig | None = None,
    lineage: dict | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Generate, evaluate, master and write the outputs; returns the report record.

    `source` names the video in the report and its warnings (an archive key or URI; the
    local working copy's path when None). `delivery` sets the loudness, the true-peak
    ceiling and the deliverables (default: DeliveryConfig()); the first-order ambisonics
    deliverable is encoded through the renderer of `hrtf` and `render` (both needed when
    delivery.outputs has foa). `lineage` (where it ran) goes into the report. `progress` is
    called with the seconds of audio done after each generated piece."""
    from binaural.pipeline.plot import plot_report  # matplotlib only where a report is drawn

    dest_dir = Path(dest_dir)
    label = source or str(path)
    timings = {"localization": round(loc.seconds, 3)}
    if loc.association:  # the association's second pass, part of the localization
        timings["association"] = loc.association.get("seconds")
    sr = scene.sample_rate
    evaluation = RunningEvaluation(sr, evaluate)
    delivery = delivery or DeliveryConfig()
    audio_damage, level = Damage("audio"), LevelMeter(sr, evaluate.window_s)
    # The input as a listener hears it: the mono on both ears (BS.1770 dual mono).
    input_meter, input_peak = LoudnessMeter(sr, (2.0,)), TruePeakMeter()

    def metered(chunks):
        """The input's level (silence), loudness and true peak, on the way to the generator."""
        for chunk in chunks:
            level.add(chunk)
            input_meter.add(chunk[None])
            input_peak.add(chunk[None])
            yield chunk

    t0 = time.perf_counter()
    warnings = list(loc.warnings)
    fallback = generator.fallback_reason(loc.tracks)
    if fallback or not loc.tracks:  # one line: the generator's, else the renderer's
        warnings.append(f"{label}: {fallback or NO_SOURCE}")
    visual, degraded = generator.visual_use(loc.tracks)
    if degraded and not fallback:
        warnings.append(f"{label}: visual condition {visual}")

    def generated():
        pieces = generator.generate(metered(_mono_chunks(path, scene, audio_damage)),
                                    loc.tracks, sr, loc.info.display_size)
        for out in pieces:
            evaluation.add(out)
            if progress is not None:
                progress(evaluation.offset / sr)
            yield out

    wav_path = dest_dir / f"{name}.binaural.wav"
    raw_path = dest_dir / f".{name}.unmastered.wav"  # evaluated, then mastered into wav_path
    frames = write_wav_stream(raw_path, generated(), sr)
    timings["generation"] = round(time.perf_counter() - t0, 3)
    damaged = damage_warning(path, label, audio_damage, frames / sr, scene.max_lost_fraction)
    if damaged:
        warnings.append(damaged)

    t0 = time.perf_counter()
    metrics, series = evaluation.result(loc.tracks, level, scene.silence_dbfs,
                                        measure_ild_table(hrtf) if hrtf is not None else None)
    peak = level.peak_dbfs()
    metrics["input_peak_dbfs"] = round(peak, 2)
    if peak < scene.silence_dbfs:
        loudest = "digital silence" if peak <= SILENT_DBFS else f"loudest {peak:.1f} dBFS"
        warnings.append(f"{label}: silent audio track ({loudest}, under "
                        f"{scene.silence_dbfs:g} dBFS); no direction can be judged")
    metrics["detections_reliable"] = loc.reliability is None or loc.reliability.reliable
    for key in ("confidence", "confident_fraction"):  # which track sounds, how surely
        if loc.association.get(key) is not None:
            metrics[f"association_{key}"] = loc.association[key]
    if reference is not None and Path(reference).is_file():
        mono = np.concatenate(list(_mono_chunks(path, scene)))
        metrics.update(report_reference_metrics(raw_path, mono, reference, evaluate))
    timings["evaluation"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    input_lufs = input_meter.integrated()
    target = input_lufs if delivery.loudness_lufs is None else float(delivery.loudness_lufs)
    limiter = Limiter(delivery.true_peak_dbtp, delivery.limiter_lookahead_ms,
                      delivery.limiter_release_ms)
    input_tp = gain_to_db(input_peak.finish())
    loudness = {"input_lufs": round(input_lufs, 3) if np.isfinite(input_lufs) else None,
                "input_true_peak_dbtp": round(input_tp, 3) if np.isfinite(input_tp) else None,
                "input_presentation": "mono on both ears (BS.1770 dual mono)",
                "matched": "input" if delivery.loudness_lufs is None else "target"}
    loudness |= master_wav(raw_path, wav_path, target, limiter, int(scene.chunk_s * sr))
    raw_path.unlink(missing_ok=True)
    timings["loudness"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    mp4_path = dest_dir / f"{name}.binaural.mp4"
    with atomic_path(mp4_path) as tmp:
        remux(path, iter_wav(wav_path, int(scene.chunk_s * sr)), tmp, sr)
    timings["mux"] = round(time.perf_counter() - t0, 3)

    foa = None
    if "foa" in delivery.outputs:
        if hrtf is None or render is None:
            raise ValueError("the foa deliverable needs the renderer's HRTF set and settings")
        from binaural.delivery.foa import write_foa_outputs

        t0 = time.perf_counter()
        foa = write_foa_outputs(path, loc.tracks, hrtf, dest_dir, name, scene, render,
                                loudness["target_lufs"], limiter)
        timings["foa"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    png_path = dest_dir / f"{name}.png"
    with atomic_path(png_path) as tmp:
        plot_report(tmp, name, loc.thumbnail, loc.info.display_size[0], loc.tracks, series)
    timings["report"] = round(time.perf_counter() - t0, 3)

    return {
        "name": name,
        "input": label,
        "input_sha256": file_sha256(path),
        "duration_s": round(frames / sr, 4),
        "sample_rate": sr,
        "video": {"width": loc.info.width, "height": loc.info.height, "fps": loc.info.fps,
                  "codec": loc.info.video_codec, "display_width": loc.info.display_size[0],
                  "display_height": loc.info.display_size[1],
                  "rotation_deg": loc.info.rotation_deg},
        "audio_in": {"rate": loc.info.audio_rate, "channels": loc.info.audio_channels,
                     "codec": loc.info.audio_codec},
        "fov_deg": loc.fov_deg,
        "generator": generator_report(generator, loc.tracks),
        "detector": {"version": loc.detector_version,
                     "reliability": loc.reliability.to_json() if loc.reliability else None},
        **({"head": {"hrtf": hrtf.name, "digest": hrtf.digest}} if hrtf is not None else {}),
        "sources": [t.to_json() for t in loc.tracks],
        **({"association": loc.association} if loc.association else {}),
        "metrics": metrics,
        "damage": loc.damage | ({"audio": audio_damage.to_json()} if audio_damage else {}),
        "loudness": loudness,
        **({"foa": foa} if foa else {}),
        "warnings": warnings,
        "timings_s": timings,
        "outputs": {"wav": wav_path.name, "mp4": mp4_path.name, "png": png_path.name,
                    "json": f"{name}.json"}
                   | ({"foa_wav": foa["wav"], "foa_mp4": foa["mp4"]} if foa else {}),
        **({"lineage": lineage} if lineage is not None else {}),
    }


def write_report(dest_dir: str | Path, report: dict) -> Path:
    path = Path(dest_dir) / f"{report['name']}.json"
    write_json(path, report)
    return path
