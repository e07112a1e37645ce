"""The real remaster flow: Prefect flow run, local Ray cluster, MLflow store, our detector."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from binaural.eval.config import EvaluateConfig
from binaural.eval.truth import truth_direction_errors
from binaural.io.audio import read_wav
from binaural.io.video import video_packets
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize

CLIPS = 2


def _video_only(path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), i * 8, np.uint8),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, kemar) -> Path:
    src = tmp_path_factory.mktemp("archive")
    cfg = replace(SynthConfig(), scenes=CLIPS, seed=5, max_sources=1, duration_s=3.0)
    synthesize(cfg, kemar, src)
    (src / "notes.mp4").write_text("this is a text file, not a video\n")
    (src / "empty.mp4").write_bytes(b"")
    _video_only(src / "silent.mp4")
    return src


@pytest.fixture(scope="module")
def remastered(archive, tmp_path_factory):
    from flows.remaster import remaster

    dest = tmp_path_factory.mktemp("dest")
    return remaster(str(archive), str(dest)), dest


def test_every_good_clip_gets_four_outputs(archive, remastered):
    summary, dest = remastered
    assert len(summary["done"]) == CLIPS
    out = dest / summary["version"]
    for key in summary["done"]:
        name = Path(key).stem
        for suffix in (".binaural.wav", ".binaural.mp4", ".json", ".png"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
        audio, sr = read_wav(out / f"{name}.binaural.wav")
        mono_len = read_wav(archive / "truth" / f"{name}.binaural.wav")[0].shape[1]
        assert sr == 48000 and audio.shape == (2, mono_len)
        # The video stream is copied, not re-encoded; binaural first, original mono second.
        assert video_packets(out / f"{name}.binaural.mp4") == video_packets(
            archive / f"{name}.mp4")
        with av.open(str(out / f"{name}.binaural.mp4")) as c:
            channels = [s.codec_context.channels for s in c.streams.audio]
        assert channels == [2, 1]
    assert not list(dest.rglob("*.part*")), "temporary files left behind"


def test_bad_items_fail_alone_with_a_reason(archive, remastered):
    summary, _ = remastered
    failed = summary["failed"]
    assert set(failed) == {"notes.mp4", "empty.mp4", "silent.mp4"}
    for key, reason in failed.items():
        assert reason.startswith(key) and "\n" not in reason
    reasons = failed
    assert "empty" in reasons["empty.mp4"]
    assert "no audio stream" in reasons["silent.mp4"]
    assert "not a readable video" in reasons["notes.mp4"]
    on_disk = json.loads((Path(summary["dest"]) / "summary.json").read_text())
    assert on_disk["failed"] == failed
    # The manifest keeps the reasons, so a rerun does not try the bad items again.
    records = list((Path(summary["dest"]) / "manifest" / summary["version"] / "items").glob("*"))
    states = sorted(json.loads(r.read_text())["state"] for r in records)
    assert states == ["done"] * CLIPS + ["failed"] * 3


def test_output_direction_follows_the_truth(archive, remastered):
    summary, dest = remastered
    dest = dest / summary["version"]
    cfg = EvaluateConfig()
    for truth in sorted((archive / "truth").glob("*.json")):
        report = json.loads((dest / f"{truth.stem}.json").read_text())
        assert report["sources"], f"{truth.stem}: detector found no source"
        errors = truth_direction_errors(dest / f"{truth.stem}.binaural.wav", truth, cfg)
        assert errors.size > 5
        assert np.median(errors) < 15.0
        # Same source class as the truth, and not collapsed to mono.
        truth_class = json.loads(truth.read_text())["sources"][0]["class"]
        assert report["sources"][0]["class"] == truth_class
        assert report["metrics"]["collapse_score_db"] > -40


def test_report_records_versions_timings_and_metrics(remastered):
    summary, dest = remastered
    report = json.loads((dest / summary["version"] / f"{Path(summary['done'][0]).stem}.json")
                        .read_text())
    assert report["input"].endswith(summary["done"][0])
    # The default generator: the shipped small diffusion model (v2 with the share prior),
    # with its sampler settings.
    gen = report["generator"]
    assert gen["name"] == "generator-small-sp" and gen["size"] == "small"
    assert gen["share_prior"] is True
    assert gen["version"].startswith("generator-small-sp@") and gen["steps"] >= 1
    assert summary["version"].startswith("generator-small-")
    # every detector of the default list, each with its content hash
    assert [v.split("@")[0] for v in report["detector"]["version"].split("+")] == [
        "yolo11n-pose.pt", "detector.pt"]
    assert report["detector"]["reliability"]["reliable"] is report["metrics"]["detections_reliable"]
    assert set(report["timings_s"]) >= {"localization", "generation", "evaluation", "mux"}
    m = report["metrics"]
    assert set(m) >= {"agreement_with_detection_deg", "detections_reliable"}
    # The render beats copying the mono on both reference metrics.
    assert m["stft_distance"] < m["mono_copy_stft_distance"]
    assert m["envelope_distance"] < m["mono_copy_envelope_distance"]
    # the band cue errors that judge rooms, each beside the mono copy's; the ITD/ILD
    # agreement of the output (reference-free, through the output head's ILD table)
    for key in ("band_ild_error_db", "band_ipd_error_rad", "band_coherence_error"):
        assert m[key] is not None and m[f"mono_copy_{key}"] is not None
    assert m["band_ild_error_db"] < m["mono_copy_band_ild_error_db"]
    assert 0.0 <= m["itd_ild_mismatch_deg"] < 30.0
    track = report["sources"][0]["track"]
    assert {"t", "azimuth_deg", "elevation_deg", "distance_m"} <= set(track[0])
    # lineage: the Ray node and worker of each stage, the code version, the versions
    lineage = report["lineage"]
    assert lineage["code_version"] == summary["code_version"] != "unknown"
    for stage in ("detector", "renderer"):
        assert lineage[stage]["node_id"] and lineage[stage]["worker_id"]
        assert lineage[stage]["actor_id"]
    assert report["head"]["hrtf"] == "MIT_KEMAR_normal_pinna"
    assert report["loudness"]["output_true_peak_dbtp"] <= -1.0
    record = json.loads((dest / "manifest" / summary["version"] / "done" /
                         f"{report['input_sha256']}.json").read_text())
    assert record["lineage"]["renderer"] == lineage["renderer"]
    assert record["lineage"]["generator"] == gen["version"]
    assert record["lineage"]["detector"]["version"] == report["detector"]["version"]


def test_mlflow_holds_the_run(remastered):
    import mlflow

    summary, _ = remastered
    run = mlflow.get_run(summary["mlflow_run_id"])
    assert run.data.metrics["videos_done"] == CLIPS
    assert run.data.metrics["videos_failed"] == 3
    assert "agreement_with_detection_deg" in run.data.metrics
    assert not [k for k in run.data.metrics if k.startswith("scene_")]  # no per-clip keys
    table = mlflow.load_table("clips.json", run_ids=[run.info.run_id])
    assert len(table) == CLIPS + 3 and set(table["status"]) == {"done", "failed"}
    reports = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                       artifact_path="reports.jsonl"))
    assert len(reports.read_text().splitlines()) == CLIPS


def test_an_immediate_rerun_processes_nothing(archive, remastered):
    from flows.remaster import remaster

    first, dest = remastered
    again = remaster(str(archive), str(dest))
    assert again["version"] == first["version"]
    assert again["done"] == []
    assert sorted(again["already_done"]) == sorted(first["done"])
    assert again["failed"] == first["failed"]
