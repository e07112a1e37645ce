"""`remaster --model`: a registered generator (models:/NAME@ALIAS, a real MLflow registry)
loaded once by the Ray renderer actors, recorded in the report and the output version."""

from __future__ import annotations

import json
from dataclasses import replace

import mlflow
import numpy as np
import pytest
import torch

from binaural.io.audio import read_wav
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize
from flows.registry import CHAMPION, PromotionRule, register_and_promote
from flows.tracking import start_experiment
from models.generator import save_checkpoint
from models.generator_config import preset
from models.generator_net import GeneratorNet

NAME = "binaural-generator-remaster-test"


@pytest.fixture(scope="module")
def archive(tmp_path_factory, kemar):
    src = tmp_path_factory.mktemp("archive")
    synthesize(replace(SynthConfig(), scenes=1, seed=9, max_sources=2, duration_s=2.5),
               kemar, src)
    return src


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> str:
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "g.pt", GeneratorNet(preset("tiny")),
                           {"name": "generator-tiny", "size": "tiny"})
    start_experiment("generator-remaster-test")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(ckpt), "generator")
    rule = PromotionRule("2", ("tf_ild_error_db",), 0.0)
    info = register_and_promote(run.info.run_id, "generator", NAME,
                                {"eval.2.tf_ild_error_db": "5.0"}, rule)
    assert info["champion"] == 1
    return f"models:/{NAME}@{CHAMPION}"


STEPS = 3  # not the shipped setting: the report must state what this run used


def test_remaster_with_a_registered_model(archive, champion, tmp_path):
    from flows.params import load_params
    from flows.remaster import remaster

    params = load_params()
    params = replace(params, generator=replace(params.generator, steps=STEPS))
    summary = remaster(str(archive), str(tmp_path), params=params, model=champion)
    assert len(summary["done"]) == 1, summary["failed"]
    version = summary["version"]
    assert version.startswith(f"{NAME}-v1-")
    assert summary["generator"].startswith(f"{NAME}/v1@")
    name = summary["items"][0]["name"]
    report = json.loads((tmp_path / version / f"{name}.json").read_text())
    gen = report["generator"]
    assert gen["version"] == summary["generator"]
    assert gen["name"] == "generator-tiny" and gen["size"] == "tiny"
    assert gen["steps"] == STEPS and gen["sampler"] == params.generator.sampler
    assert gen["fallback"] is None
    audio, sr = read_wav(tmp_path / version / f"{name}.binaural.wav")
    assert audio.shape[0] == 2 and np.isfinite(audio).all()
    assert abs(audio.shape[1] / sr - report["duration_s"]) < 1e-3
    # The two ears differ: the output is made of the renderer's interaural cues.
    assert np.mean((audio[0] - audio[1]) ** 2) > 1e-3 * np.mean(audio ** 2)

    run = mlflow.get_run(summary["mlflow_run_id"])
    assert run.data.params["generator"] == summary["generator"]
    assert run.data.params["generator_steps"] == str(STEPS)


def test_dsp_and_model_outputs_live_under_different_versions(archive, champion, tmp_path):
    """The renderer and the registered model remaster the same archive into one DEST: each
    run does the item (neither skips it as done by the other), under its own version, and
    the two outputs differ; a rerun of either finds its own work done."""
    from flows.params import load_params
    from flows.remaster import remaster

    params = load_params()
    params = replace(params, generator=replace(params.generator, steps=STEPS))
    dsp = remaster(str(archive), str(tmp_path), params=params, model="dsp")
    model = remaster(str(archive), str(tmp_path), params=params, model=champion)
    assert dsp["version"].startswith("dsp-") and dsp["generator"] == "dsp"
    assert model["version"].startswith(f"{NAME}-v1-") and model["version"] != dsp["version"]
    assert len(dsp["done"]) == len(model["done"]) == 1
    name = dsp["items"][0]["name"]
    reports = {run["version"]: json.loads((tmp_path / run["version"] / f"{name}.json")
                                          .read_text()) for run in (dsp, model)}
    assert reports[dsp["version"]]["generator"]["name"] == "dsp"
    assert reports[model["version"]]["generator"]["version"] == model["generator"]
    wavs = [read_wav(tmp_path / run["version"] / f"{name}.binaural.wav")[0]
            for run in (dsp, model)]
    assert wavs[0].shape == wavs[1].shape and not np.array_equal(wavs[0], wavs[1])
    again = remaster(str(archive), str(tmp_path), params=params, model="dsp")
    assert again["done"] == [] and again["already_done"] == dsp["done"]


def test_a_missing_checkpoint_is_named(archive, tmp_path):
    from flows.remaster import remaster

    with pytest.raises(FileNotFoundError, match="no-such.pt"):
        remaster(str(archive), str(tmp_path), model=str(tmp_path / "no-such.pt"))
