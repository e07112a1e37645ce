"""Tests of the evaluation: systems registry, clips, aggregation, and the `evaluate` flow end to
end on a tiny synthesized dataset in the FAIR-Play layout (real Prefect flow, real MLflow)."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from binaural.eval.config import EvaluateConfig
from binaural.eval.datasets import Record, load_dataset
from binaural.eval.report import aggregate
from binaural.eval.suite import METRICS, evaluate_clip
from binaural.eval.systems import (
    SYSTEMS,
    EvalContext,
    load_clip,
    parse_systems,
    register_system,
    sounding_tracks,
)
from binaural.io.audio import read_wav, write_wav
from binaural.io.config import SceneConfig
from binaural.io.video import iter_audio
from binaural.spatial.config import LocalizeConfig, RenderConfig
from binaural.spatial.tracks import SourceTrack
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize_scene
from flows.environment import PROJECT_ROOT

SOURCES_PER_CLIP = (1, 2, 1)
DURATION_S = 1.5
TINY_SYNTH = replace(SynthConfig(), width=160, height=96, duration_s=DURATION_S, video_fps=10)


def _fairplay_dataset(root: Path, hrtf, sources: tuple[int, ...]) -> list[str]:
    """Scenes from the synthesizer, moved by hand into the FAIR-Play layout of
    docs/formats.md (the true mono decoded from each video into mono_audios/)."""
    raw = root / "raw"
    ids = []
    for i, k in enumerate(sources):
        clip_id = f"{i + 1:06d}"
        synthesize_scene(TINY_SYNTH, hrtf, raw, clip_id, 20 + i, k)
        for folder in ("videos", "binaural_audios", "mono_audios", "truth", "splits/split1"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.move(raw / f"{clip_id}.mp4", root / "videos" / f"{clip_id}.mp4")
        shutil.move(raw / "truth" / f"{clip_id}.binaural.wav",
                    root / "binaural_audios" / f"{clip_id}.wav")
        shutil.move(raw / "truth" / f"{clip_id}.json", root / "truth" / f"{clip_id}.json")
        mono = np.concatenate(list(iter_audio(root / "videos" / f"{clip_id}.mp4", 48000, 10.0)))
        write_wav(root / "mono_audios" / f"{clip_id}.wav", mono, 48000)
        ids.append(clip_id)
    shutil.rmtree(raw)
    (root / "splits" / "split1" / "test.txt").write_text("\n".join(ids) + "\n")
    (root / "splits" / "split1" / "train.txt").write_text(ids[0] + "\n")
    return ids


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, kemar) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("fairplay")
    return root, _fairplay_dataset(root, kemar, SOURCES_PER_CLIP)


@pytest.fixture(scope="module")
def context(kemar) -> EvalContext:
    return EvalContext(SceneConfig(), LocalizeConfig(), RenderConfig(), EvaluateConfig(), kemar)


# ---------------------------------------------------------------- registry and clips


def test_parse_systems_keeps_order_and_refuses_unknown_names() -> None:
    assert [s.name for s in parse_systems("dsp-oracle, mono,mono")] == ["dsp-oracle", "mono"]
    assert parse_systems(["dsp"])[0].needs_detector
    assert parse_systems(["dsp-oracle"])[0].needs_truth
    with pytest.raises(ValueError, match="registered"):
        parse_systems("mono,no-such-system")
    with pytest.raises(ValueError):
        parse_systems("")


def test_a_registered_system_is_evaluated_like_the_others(dataset, context) -> None:
    root, ids = dataset

    @register_system("left-only", "the mono in the left ear only")
    def left_only(record: Record, ctx: EvalContext) -> np.ndarray:
        mono = ctx.clip(record).mono
        return np.stack([mono, np.zeros_like(mono)])[:, :-5]  # short: padded to the clip

    try:
        record = load_dataset(root, "test")[0]
        result = evaluate_clip(record, context, parse_systems("mono,left-only,dsp-oracle"))
    finally:
        SYSTEMS.pop("left-only")
        context.forget(record)
    assert set(result.metrics) == {"mono", "left-only", "dsp-oracle"}
    assert result.audio["left-only"].shape == result.audio["mono"].shape
    for values in result.metrics.values():
        assert set(values) == {spec.key for spec in METRICS}
    assert result.metrics["left-only"]["collapse_score_db"] == pytest.approx(0.0, abs=1e-6)
    assert result.metrics["mono"]["collapse_score_db"] < -100
    assert result.metrics["dsp-oracle"]["tf_ild_error_db"] < result.metrics["mono"][
        "tf_ild_error_db"]
    assert result.direction_reference == "truth" and result.n_sources == 1


def test_load_clip_finds_the_mono(dataset, tmp_path) -> None:
    root, ids = dataset
    record = load_dataset(root, "test")[0]
    from_wav = load_clip(record, 48000, 10.0)
    assert from_wav.mono_source == "mono wav" and from_wav.n_sources == 1
    assert from_wav.reference.shape == (2, from_wav.mono.shape[0])
    assert from_wav.duration_s == pytest.approx(DURATION_S, abs=0.03)
    from_video = load_clip(replace(record, mono=None), 48000, 10.0)
    assert from_video.mono_source == "video track"
    np.testing.assert_allclose(from_video.mono, from_wav.mono, atol=1e-6)
    # A video without an audio track (or a stereo one, as FAIR-Play's): the reference's
    # downmix, as in FAIR-Play's protocol; at another rate it is resampled.
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8))):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    downmix = load_clip(replace(record, mono=None, video=silent, truth=None), 16000, 10.0)
    assert downmix.mono_source == "reference downmix" and downmix.n_sources is None
    np.testing.assert_allclose(downmix.mono, downmix.reference.mean(axis=0), atol=1e-6)
    assert downmix.mono.shape[0] == pytest.approx(DURATION_S * 16000, abs=2)


def test_sounding_tracks_cut_the_true_tracks() -> None:
    track = SourceTrack(0, "violin", "violin", 1.0, np.array([0.0, 1.0, 2.0]),
                        np.array([0.0, 10.0, 20.0]), np.zeros(3), np.array([2.0, 2.0, 4.0]),
                        np.zeros((3, 4)))
    truth = {"sources": [{"sounding": [[0.5, 1.2], [1.5, 3.0], [2.5, 3.0]]}, {}]}
    pieces = sounding_tracks(truth, [track, track])
    assert len(pieces) == 3
    np.testing.assert_allclose(pieces[0].times_s, [0.5, 1.0, 1.2])
    np.testing.assert_allclose(pieces[0].azimuth_deg, [5.0, 10.0, 12.0])
    np.testing.assert_allclose(pieces[1].times_s, [1.5, 2.0])
    np.testing.assert_allclose(pieces[1].distance_m, [3.0, 4.0])
    assert pieces[2] is track  # no `sounding`: the whole track


def test_aggregate_by_number_of_sources() -> None:
    def entry(n, ild, snr):
        return {"n_sources": n, "systems": {"mono": {"tf_ild_error_db": ild, "snr_db": snr}}}

    clips = {"a": entry(1, 2.0, None), "b": entry(2, 4.0, 1.0), "c": entry(1, 6.0, 3.0),
             "d": entry(None, 8.0, None)}
    table, counts = aggregate(clips, ["mono", "dsp"])
    assert list(table) == ["all", "1", "2", "unknown"]
    assert counts == {"all": 4, "1": 2, "2": 1, "unknown": 1}
    assert table["all"]["mono"]["tf_ild_error_db"] == pytest.approx(5.0)
    assert table["1"]["mono"]["tf_ild_error_db"] == pytest.approx(4.0)
    assert table["1"]["mono"]["snr_db"] == pytest.approx(3.0)  # undefined values skipped
    assert table["unknown"]["mono"]["snr_db"] is None
    assert "dsp" not in table["all"]


# ---------------------------------------------------------------- the command


def test_evaluate_parser_options_and_bad_systems() -> None:
    from flows.evaluate import add_evaluate_parser, cmd_evaluate, main

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default=None)
    add_evaluate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["--params", "p.yaml", "evaluate", "DS", "--out", "E",
                              "--systems", "mono,dsp", "--split", "val", "--limit", "2"])
    assert (args.dataset, args.out, args.systems, args.split, args.limit, args.params) == (
        "DS", "E", "mono,dsp", "val", 2, "p.yaml")
    assert args.func is cmd_evaluate
    assert parser.parse_args(["evaluate", "DS", "--params", "q.yaml"]).params == "q.yaml"
    assert parser.parse_args(["evaluate", "DS"]).systems is None  # params' default
    assert main(["/nowhere", "--systems", "mono,nonsense"]) == 2


@pytest.fixture(scope="module")
def evaluated(dataset, tmp_path_factory):
    from flows.evaluate import evaluate

    root, ids = dataset
    out = tmp_path_factory.mktemp("eval")
    (out / "clips" / "stale").mkdir(parents=True)  # an earlier run's clip: removed
    (out / "clips" / "stale" / "info.json").write_text("{}")
    return evaluate(str(root), str(out), systems="mono,dsp-oracle", split="test"), out


def test_evaluate_writes_the_eval_dir(dataset, evaluated) -> None:
    _, ids = dataset
    summary, out = evaluated
    assert summary["clips"] == len(ids) and summary["failed"] == {}
    document = json.loads((out / "metrics.json").read_text())
    assert document["systems"] == ["mono", "dsp-oracle"]
    assert list(document["aggregate"]) == ["all", "1", "2"]
    assert document["counts"] == {"all": 3, "1": 2, "2": 1}
    assert set(document["clips"]) == set(ids)
    for clip_id, k in zip(ids, SOURCES_PER_CLIP):
        entry = document["clips"][clip_id]
        assert entry["n_sources"] == k
        assert set(entry["systems"]) == {"mono", "dsp-oracle"}
        for values in entry["systems"].values():
            assert set(values) == {spec.key for spec in METRICS}
    # The references' own direction error: the estimator's floor, small for one source.
    assert document["reference_aggregate"]["1"]["direction_error_itd_deg"] < 3.0
    report = (out / "report.md").read_text()
    for heading in ("## All clips (3)", "## 1-source clips (2)", "## 2-source clips (1)",
                    "## Per clip", "TF-ILD err dB", "STFT", "MR-STFT",
                    "*the reference itself*"):
        assert heading in report
    assert (out / "plots" / "box_tf_ild_error_db.png").stat().st_size > 0
    assert (out / "plots" / "box_stft_distance.png").stat().st_size > 0
    assert list((out / "plots").glob("direction_*.png"))
    assert "box_tf_ild_error_db.png" in report


def test_saved_outputs_are_rescored_as_systems(dataset, evaluated, context, tmp_path) -> None:
    """NAME@DIR scores outputs made before (an evaluation's clips/, or one WAV per clip):
    the same metrics as when the system itself ran, and the heard-vs-reference direction."""
    root, ids = dataset
    _, out = evaluated
    first = json.loads((out / "metrics.json").read_text())["clips"]
    flat = tmp_path / "flat"  # another method's outputs: <clip id>.wav
    flat.mkdir()
    for clip_id in ids:
        shutil.copy(out / "clips" / clip_id / "dsp-oracle.wav", flat / f"{clip_id}.wav")
    specs = parse_systems(f"dsp-oracle@{out / 'clips'},theirs@{flat}")
    assert [s.name for s in specs] == ["dsp-oracle", "theirs"]
    assert not any(s.needs_detector or s.needs_truth for s in specs)
    record = load_dataset(root, "test")[0]
    try:
        result = evaluate_clip(record, context, specs)
    finally:
        context.forget(record)
    for name in ("dsp-oracle", "theirs"):
        got, was = result.metrics[name], first[record.id]["systems"]["dsp-oracle"]
        for key in ("tf_ild_error_db", "tf_ipd_error_rad", "direction_error_itd_deg"):
            assert got[key] == pytest.approx(was[key], rel=1e-3, abs=1e-4)
        assert got["direction_vs_reference_deg"] < 5.0  # heard where the truth is heard
    with pytest.raises(ValueError, match="needs a name and a folder"):
        parse_systems(f"x@{tmp_path / 'missing'}")
    (flat / f"{ids[0]}.wav").unlink()
    with pytest.raises(FileNotFoundError, match=ids[0]):
        parse_systems(f"theirs@{flat}")[0].fn(record, context)


def test_direction_against_the_reference_needs_no_choice_of_source() -> None:
    from binaural.eval.direction import DirectionTrack
    from binaural.eval.metrics import direction_vs_reference_deg

    t = np.arange(6, dtype=float)
    ref = DirectionTrack(t, np.array([30.0, 30, -20, -20, 10, 0]), np.zeros(6), np.zeros(6),
                         np.array([True, True, True, True, False, True]))
    out = DirectionTrack(t, np.array([34.0, 26, -20, -10, 80, 0]), np.zeros(6), np.zeros(6),
                         np.array([True, True, True, True, True, False]))
    # windows 0-3 are valid in both: errors 4, 4, 0, 10 -> median 4
    assert direction_vs_reference_deg(out, ref) == pytest.approx(4.0)


def test_evaluate_clip_folders_feed_the_listening_test(dataset, evaluated) -> None:
    root, ids = dataset
    _, out = evaluated
    assert sorted(p.name for p in (out / "clips").iterdir()) == sorted(ids)  # stale removed
    for clip_id, k in zip(ids, SOURCES_PER_CLIP):
        folder = out / "clips" / clip_id
        info = json.loads((folder / "info.json").read_text())
        assert info["clip"] == clip_id and info["n_sources"] == k
        assert info["systems"] == ["mono", "dsp-oracle"] and info["has_reference"] is True
        assert -40.0 < info["visual_azimuth_deg"] < 40.0
        assert info["duration_s"] == pytest.approx(DURATION_S, abs=0.03)
        reference, rate = read_wav(folder / "reference.wav")
        truth, _ = read_wav(root / "binaural_audios" / f"{clip_id}.wav")
        np.testing.assert_allclose(reference, truth[:, : reference.shape[1]])
        for system in info["systems"]:
            audio, system_rate = read_wav(folder / f"{system}.wav")
            assert system_rate == rate == 48000 and audio.shape == reference.shape
        mono, _ = read_wav(folder / "mono.wav")
        np.testing.assert_array_equal(mono[0], mono[1])
        assert (folder / "frame.png").read_bytes()[:4] == b"\x89PNG"
        with av.open(str(folder / "video.mp4")) as muted:
            assert muted.streams.video and not muted.streams.audio


def test_evaluate_oracle_geometry_beats_the_mono_copy(evaluated) -> None:
    summary, _ = evaluated
    for group in ("all", "1"):
        oracle, mono = summary["aggregate"][group]["dsp-oracle"], summary["aggregate"][group][
            "mono"]
        assert oracle["tf_ild_error_db"] < mono["tf_ild_error_db"]
        assert oracle["tf_ipd_error_rad"] < mono["tf_ipd_error_rad"]
        assert oracle["collapse_score_db"] > -40.0 > mono["collapse_score_db"]
    one = summary["aggregate"]["1"]
    assert one["dsp-oracle"]["tf_ild_error_db"] < 0.5 * one["mono"]["tf_ild_error_db"]
    assert one["dsp-oracle"]["direction_error_itd_deg"] < 5.0


def test_evaluate_is_one_mlflow_run(evaluated) -> None:
    import mlflow

    summary, _ = evaluated
    run = mlflow.get_run(summary["mlflow_run_id"])
    assert run.data.params["systems"] == "mono,dsp-oracle"
    assert run.data.metrics["clips_done"] == 3
    assert "all/dsp-oracle/tf_ild_error_db" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"report.md", "metrics.json", "plots"} <= artifacts


DETECTOR_WEIGHTS = PROJECT_ROOT / "models" / "weights" / "detector.pt"


@pytest.mark.skipif(not DETECTOR_WEIGHTS.is_file(),
                    reason=f"{DETECTOR_WEIGHTS} not trained yet (dvc repro train_detector); "
                           "the dsp system needs the detector")
def test_dsp_at_detected_positions(dataset, kemar) -> None:
    from flows.evaluate import load_detector
    from flows.params import load_params

    root, _ = dataset
    params = load_params()
    context = EvalContext(params.scene, params.localize, params.render, params.evaluate, kemar,
                          tracker=load_detector(params.detector))
    record = load_dataset(root, "test")[0]  # one source
    result = evaluate_clip(record, context, parse_systems("mono,dsp"))
    loc = context.cached_localization(record)
    assert loc is not None and loc.tracks, "the detector found no source"
    assert result.metrics["dsp"]["tf_ild_error_db"] < result.metrics["mono"]["tf_ild_error_db"]
    assert result.metrics["dsp"]["direction_error_itd_deg"] < 10.0
    # With a truth the direction is scored against it, not against the detector.
    assert result.direction_reference == "truth"
