"""The generator registry on a real MLflow sqlite store (the session's temporary one):
registering, aliasing challenger, promoting to champion only when better, loading by URI."""

import math

import mlflow
import pytest
import torch

from binaural.spatial.config import RenderConfig
from flows.registry import (
    CHALLENGER,
    CHAMPION,
    PromotionRule,
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

RULE = PromotionRule("2", ("tf_ild_error_db", "tf_ipd_error_rad"), 0.0)


def test_promotion_rule() -> None:
    assert RULE.beats({"tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.5}, None) == (
        True, "no champion yet")
    champion = {"tf_ild_error_db": 6.0, "tf_ipd_error_rad": 0.6}
    assert RULE.beats({"tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.5}, champion)[0]
    better_ild_only = {"tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.7}
    ok, reason = RULE.beats(better_ild_only, champion)
    assert not ok and "tf_ipd_error_rad" in reason
    assert not RULE.beats({"tf_ild_error_db": 5.0}, champion)[0]  # a metric missing
    assert not RULE.beats({"tf_ild_error_db": math.nan, "tf_ipd_error_rad": 0.1}, champion)[0]
    strict = PromotionRule("2", ("tf_ild_error_db",), 0.1)
    assert not strict.beats({"tf_ild_error_db": 5.5}, champion)[0]  # 8 % is not 10 %
    assert strict.beats({"tf_ild_error_db": 5.3}, champion)[0]


def test_metric_tags_hold_one_system() -> None:
    aggregate = {"2": {"model": {"tf_ild_error_db": 5.25, "snr_db": None},
                       "dsp": {"tf_ild_error_db": 7.0}}}
    assert metric_tags(aggregate, "model") == {"eval.2.tf_ild_error_db": "5.25"}


def _train_run(tmp_path, name: str, ild: float, ipd: float) -> tuple[str, dict]:
    """An MLflow run holding a tiny checkpoint under generator/, with its evaluation."""
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / f"{name}.pt", GeneratorNet(preset("tiny")),
                           {"name": name, "size": "tiny"})
    start_experiment("generator-test")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_artifact(str(ckpt), "generator")
    aggregate = {"2": {"model": {"tf_ild_error_db": ild, "tf_ipd_error_rad": ipd}}}
    return run.info.run_id, metric_tags(aggregate, "model")


def test_register_alias_and_promote_only_when_better(tmp_path, kemar) -> None:
    from mlflow import MlflowClient

    name = "binaural-generator-test"
    client = MlflowClient()
    run, tags = _train_run(tmp_path, "g1", 6.0, 0.6)
    first = register_and_promote(run, "generator", name, tags, RULE)
    assert first["promoted"] and first["version"] == 1 and first["champion"] == 1
    run, tags = _train_run(tmp_path, "g2", 6.5, 0.5)  # worse ILD: stays challenger
    second = register_and_promote(run, "generator", name, tags, RULE)
    assert not second["promoted"] and second["champion"] == 1
    assert int(client.get_model_version_by_alias(name, CHALLENGER).version) == 2
    assert int(client.get_model_version_by_alias(name, CHAMPION).version) == 1
    assert "kept challenger" in client.get_model_version(name, "2").tags["promotion"]
    run, tags = _train_run(tmp_path, "g3", 5.0, 0.4)  # better on both: champion
    third = register_and_promote(run, "generator", name, tags, RULE)
    assert third["promoted"] and third["champion"] == 3
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert int(champion.version) == 3
    assert version_metrics(champion, "2") == {"tf_ild_error_db": 5.0, "tf_ipd_error_rad": 0.4}

    gen = load_generator(f"models:/{name}@{CHAMPION}", kemar, RenderConfig(),
                         GeneratorConfig(steps=2), "cpu")
    assert gen.version.startswith(f"{name}/v3@")
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
    import importlib.util
    import json

    from flows.retrain import retrain

    spec = importlib.util.spec_from_file_location(
        "make_generator_data", "scripts/make_generator_data.py")
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    from dataclasses import replace

    from flows.params import load_params
    from models.builders import build_detector

    spec = importlib.util.spec_from_file_location("embed_truth", "scripts/embed_truth.py")
    embed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(embed)
    embed_folder = embed.embed_folder
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
