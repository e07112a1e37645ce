"""The generator registry on a real MLflow sqlite store (the session's temporary one):
registering with per-clip figures, aliasing challenger, promoting to champion only when a
paired test over the held-out clips says it is better, loading by URI."""

import math

import mlflow
import numpy as np
import pytest
import torch
from script_support import load_script

from binaural.spatial.config import RenderConfig
from flows.promotion import PromotionRule, clip_figures, one_sided_p, paired_values
from flows.registry import (
    CHALLENGER,
    CHAMPION,
    clip_figures_of,
    generator_identity,
    load_generator,
    metric_tags,
    register_and_promote,
    version_metrics,
)
from flows.tracking import start_experiment
from models.config import GeneratorConfig
from models.generator import save_checkpoint
from models.generator_config import preset
from models.generator_net import GeneratorNet

METRICS = ("tf_ild_error_db", "tf_ipd_error_rad")
RULE = PromotionRule("2", METRICS, margin=0.02, alpha=0.05)
N_CLIPS = 30
_rng = np.random.default_rng(7)
# The champion's held-out figures: 30 two-source clips, TF-ILD ~6 dB, TF-IPD ~0.6 rad.
CHAMPION_ILD = 6.0 + _rng.standard_normal(N_CLIPS)
CHAMPION_IPD = 0.6 + 0.1 * _rng.standard_normal(N_CLIPS)
# Per-clip improvements (champion - candidate), as fractions of each metric's ~mean:
# every clip 0.2 % better (consistent, but within the 2 % margin); every clip ~8 % better;
# 12 clips 50 % better and 18 clips 8 % worse (mean +15 %, but mostly worse: noise).
TINY = np.full(N_CLIPS, 0.002)
CLEAR = 0.08 + 0.01 * _rng.standard_normal(N_CLIPS)
MIXED = np.where(np.arange(N_CLIPS) < 12, 0.5, -0.08)


def _figures(ild: np.ndarray, ipd: np.ndarray, n_sources: int = 2, prefix: str = "c") -> dict:
    """Clip figures as a metrics.json's clips would give them."""
    clips = {f"{prefix}{i:02d}": {"n_sources": n_sources, "systems": {"model": {
        "tf_ild_error_db": float(a), "tf_ipd_error_rad": float(b), "snr_db": None}}}
        for i, (a, b) in enumerate(zip(ild, ipd))}
    return clip_figures(clips, "model")


def _candidate(improvement: np.ndarray) -> dict:
    return _figures(CHAMPION_ILD - 6.0 * improvement, CHAMPION_IPD - 0.6 * improvement)


def _merge(*figures: dict) -> dict:
    return {"system": "model", "clips": {k: v for f in figures for k, v in f["clips"].items()}}


CHAMPION_FIGURES = _figures(CHAMPION_ILD, CHAMPION_IPD)


def test_clip_figures_keep_one_system_and_finite_values() -> None:
    figures = _figures([5.0], [0.5])
    assert figures == {"system": "model", "clips": {"c00": {"n_sources": 2, "metrics": {
        "tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.5}}}}
    assert clip_figures({"x": {"n_sources": 1, "systems": {"dsp": {}}}}, "model")["clips"] == {}


def test_a_tiny_consistent_improvement_is_within_the_margin() -> None:
    ok, reason = RULE.compare(_candidate(TINY), CHAMPION_FIGURES)
    assert not ok and "within the margin" in reason
    assert "30 clips, 30 better" in reason  # every clip better: the test alone would pass
    _, new, old = paired_values(_candidate(TINY), CHAMPION_FIGURES, "2", "tf_ild_error_db")
    assert one_sided_p(old - new, "wilcoxon") < 1e-6
    # Without a margin the same figures are promoted.
    assert PromotionRule("2", METRICS, margin=0.0).compare(_candidate(TINY), CHAMPION_FIGURES)[0]


def test_a_clear_consistent_improvement_is_promoted() -> None:
    ok, reason = RULE.compare(_candidate(CLEAR), CHAMPION_FIGURES)
    assert ok, reason
    assert reason.startswith("beats champion on group 2")
    for metric in METRICS:
        assert f"{metric}: 30 clips, 30 better" in reason
    assert PromotionRule("2", METRICS, test="sign").compare(_candidate(CLEAR),
                                                            CHAMPION_FIGURES)[0]


@pytest.mark.parametrize("test", ["wilcoxon", "sign"])
def test_a_mixed_improvement_is_noise(test: str) -> None:
    # Its mean beats the margin (a few large wins), but most clips got worse.
    assert MIXED.mean() > 0.1
    ok, reason = PromotionRule("2", METRICS, test=test).compare(_candidate(MIXED),
                                                                CHAMPION_FIGURES)
    assert not ok and "not significant (noise)" in reason and f"{test} p=" in reason
    assert "12 better" in reason


def test_pairs_are_the_groups_clips_both_were_scored_on() -> None:
    # One-source clips much worse, and clips the champion never saw: neither counts.
    one_source = _figures(np.full(10, 20.0), np.full(10, 3.0), n_sources=1, prefix="one")
    unseen = _figures(np.full(5, 30.0), np.full(5, 3.0), prefix="new")
    champion = _merge(CHAMPION_FIGURES, _figures(np.full(10, 1.0), np.full(10, 0.1),
                                                 n_sources=1, prefix="one"))
    candidate = _merge(_candidate(CLEAR), one_source, unseen)
    ids, _, _ = paired_values(candidate, champion, "2", "tf_ild_error_db")
    assert len(ids) == N_CLIPS and all(i.startswith("c") for i in ids)
    assert RULE.compare(candidate, champion)[0]
    assert not PromotionRule("all", METRICS).compare(candidate, champion)[0]
    ok, reason = PromotionRule("3", METRICS).compare(candidate, champion)
    assert not ok and "no paired clips" in reason


def test_without_figures_nothing_is_compared_and_worse_is_refused() -> None:
    assert RULE.first({"tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.5}) == (
        True, "no champion yet")
    assert not RULE.first({"tf_ild_error_db": 5.0})[0]  # a metric missing
    assert not RULE.first({"tf_ild_error_db": math.nan, "tf_ipd_error_rad": 0.1})[0]
    ok, reason = RULE.compare(_candidate(CLEAR), None)
    assert not ok and "champion has no per-clip figures" in reason
    assert not RULE.compare(None, CHAMPION_FIGURES)[0]
    ok, reason = RULE.compare(_candidate(-CLEAR), CHAMPION_FIGURES)
    assert not ok and "0 better" in reason and "worse on average" in reason
    with pytest.raises(ValueError):
        PromotionRule("2", METRICS, test="t-test")


def test_metric_tags_hold_one_system() -> None:
    aggregate = {"2": {"model": {"tf_ild_error_db": 5.25, "snr_db": None},
                       "dsp": {"tf_ild_error_db": 7.0}}}
    assert metric_tags(aggregate, "model") == {"eval.2.tf_ild_error_db": "5.25"}


def _train_run(tmp_path, name: str, figures: dict) -> tuple[str, dict]:
    """An MLflow run holding a tiny checkpoint under generator/, with its evaluation's
    aggregate tags."""
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / f"{name}.pt", GeneratorNet(preset("tiny")),
                           {"name": name, "size": "tiny"})
    start_experiment("generator-test")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_artifact(str(ckpt), "generator")
    means = {m: float(np.mean([c["metrics"][m] for c in figures["clips"].values()]))
             for m in METRICS}
    return run.info.run_id, metric_tags({"2": {"model": means}}, "model")


def test_register_alias_and_promote_by_the_paired_test(tmp_path, kemar) -> None:
    from mlflow import MlflowClient

    name = "binaural-generator-test"
    client = MlflowClient()
    run, tags = _train_run(tmp_path, "g1", CHAMPION_FIGURES)
    first = register_and_promote(run, "generator", name, tags, RULE, CHAMPION_FIGURES)
    assert first["promoted"] and first["version"] == 1 and first["champion"] == 1
    assert clip_figures_of(client.get_model_version(name, "1")) == CHAMPION_FIGURES
    for version, improvement, why in ((2, TINY, "within the margin"),
                                      (3, MIXED, "not significant (noise)")):
        run, tags = _train_run(tmp_path, f"g{version}", _candidate(improvement))
        kept = register_and_promote(run, "generator", name, tags, RULE, _candidate(improvement))
        assert not kept["promoted"] and kept["champion"] == 1, kept["reason"]
        assert why in kept["reason"] and "against champion v1" in kept["reason"]
        assert int(client.get_model_version_by_alias(name, CHALLENGER).version) == version
        stored = client.get_model_version(name, str(version)).tags["promotion"]
        assert stored.startswith("kept challenger") and "wilcoxon p=" in stored
    run, tags = _train_run(tmp_path, "g4", _candidate(CLEAR))
    fourth = register_and_promote(run, "generator", name, tags, RULE, _candidate(CLEAR))
    assert fourth["promoted"] and fourth["champion"] == 4, fourth["reason"]
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert int(champion.version) == 4
    assert clip_figures_of(champion) == _candidate(CLEAR)  # the next candidate's opponent
    assert version_metrics(champion, "2")["tf_ild_error_db"] == pytest.approx(
        float(np.mean(CHAMPION_ILD - 6.0 * CLEAR)), rel=1e-5)
    # A version registered without figures cannot be compared, so it is never promoted.
    run, tags = _train_run(tmp_path, "g5", _candidate(CLEAR))
    fifth = register_and_promote(run, "generator", name, tags, RULE)
    assert not fifth["promoted"] and "candidate has no per-clip figures" in fifth["reason"]
    assert clip_figures_of(client.get_model_version(name, "5")) is None

    gen = load_generator(f"models:/{name}@{CHAMPION}", kemar, RenderConfig(),
                         GeneratorConfig(steps=2), "cpu")
    assert gen.version.startswith(f"{name}/v4@")
    assert generator_identity(f"models:/{name}@{CHAMPION}") == gen.version
    assert load_generator(f"models:/{name}/2", kemar, RenderConfig(), GeneratorConfig(),
                          "cpu").version.startswith(f"{name}/v2@")
    with pytest.raises(mlflow.exceptions.MlflowException):
        load_generator(f"models:/{name}@nobody", kemar, RenderConfig(), GeneratorConfig(),
                       "cpu")


@pytest.mark.slow
def test_retrain_flow_trains_evaluates_registers_and_resumes(tmp_path) -> None:
    """The whole flow on a few tiny scenes: training, checkpoint, held-out evaluation with
    the model systems, registration as champion; a rerun resumes instead of retraining."""
    import json

    from flows.retrain import retrain

    data = load_script("make_generator_data")
    from dataclasses import replace

    from flows.params import load_params
    from models.builders import build_detector

    embed_folder = load_script("embed_truth").embed_folder
    detector = build_detector(replace(load_params().detector, device="cpu"))
    for kind, scenes in (("train", 3), ("val", 1), ("test", 1)):
        data.make_set(kind, tmp_path / kind, scenes, seed=21)
        assert embed_folder(tmp_path / kind, detector)[0] == scenes  # the visual condition
    out, metrics = tmp_path / "g.pt", tmp_path / "generator.json"
    common = dict(data=str(tmp_path / "train"), val_data=str(tmp_path / "val"),
                  eval_data=str(tmp_path / "test"), size="tiny", out=str(out), steps=3,
                  metrics_out=str(metrics), init="")
    summary = retrain(**common)
    assert out.is_file() and summary["steps"] == 3
    config = torch.load(out, weights_only=True)["config"]
    assert config["visual_dim"] == detector.embedding_dim
    assert config["visual_source"] == detector.embedding_source
    aggregate = summary["evaluation"]["aggregate"]["all"]
    assert {"mono", "dsp", "model", "dsp-separate", "model-oracle"} <= set(aggregate)
    assert summary["registry"]["version"] >= 1
    assert json.loads(metrics.read_text())["checkpoint"] == str(out)
    again = retrain(**common, evaluate=False)
    assert again["steps"] == 3 and again["mlflow_run_id"] == summary["mlflow_run_id"]
    # Warm-started from that checkpoint: another starting point, so a run of its own.
    warm = retrain(**common | {"init": str(out), "out": str(tmp_path / "g2.pt")},
                   evaluate=False, to_registry=False)
    assert warm["steps"] == 3 and warm["mlflow_run_id"] != summary["mlflow_run_id"]


def test_a_retrain_without_evaluation_leaves_the_dvc_metrics_alone(tmp_path) -> None:
    from flows.environment import PROJECT_ROOT
    from flows.retrain import DEFAULT_METRICS, metrics_destination

    ckpt = tmp_path / "cand.pt"
    assert metrics_destination(None, True, ckpt) == PROJECT_ROOT / DEFAULT_METRICS
    assert metrics_destination(None, False, ckpt) == tmp_path / "cand.pt.retrain.json"
    mine = tmp_path / "mine.json"
    assert metrics_destination(str(mine), False, ckpt) == mine
    assert metrics_destination("eval/x.json", True, ckpt) == PROJECT_ROOT / "eval/x.json"
