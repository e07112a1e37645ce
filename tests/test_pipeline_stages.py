"""The per-video stages one by one: localization with the shipped detector, then
generation + evaluation + outputs with a generator (the renderer and the model's
fallback), as the Ray actors run them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from binaural.eval.config import EvaluateConfig
from binaural.io.audio import read_wav
from binaural.io.config import SceneConfig
from binaural.pipeline.stages import render_video, write_report
from binaural.spatial.config import LocalizeConfig, RenderConfig
from binaural.spatial.generator import DSPGenerator, generator_report
from binaural.spatial.localization import localize_video
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize
from flows.params import load_params
from models.builders import build_detector
from models.config import GeneratorConfig
from models.generator import DiffusionGenerator
from models.generator_config import preset
from models.generator_net import GeneratorNet

SCENE = SceneConfig()
EVALUATE = EvaluateConfig()


@pytest.fixture(scope="module")
def scene(tmp_path_factory, kemar) -> Path:
    out = tmp_path_factory.mktemp("scene")
    synthesize(replace(SynthConfig(), scenes=1, seed=5, max_sources=1, duration_s=2.0),
               kemar, out)
    return next(out.glob("*.mp4"))


@pytest.fixture(scope="module")
def localization(scene):
    detector = build_detector(replace(load_params().detector, device="cpu"))
    localize = replace(LocalizeConfig(), associate=load_params().localize.associate)
    return localize_video(scene, detector, SCENE, localize, source="archive/clip.mp4")


def test_localization_places_the_synthesized_source(scene, localization):
    import json

    truth = json.loads((scene.parent / "truth" / f"{scene.stem}.json").read_text())
    assert len(localization.tracks) == 1
    track = localization.tracks[0]
    true_az = np.asarray([p["azimuth_deg"] for p in truth["sources"][0]["track"]])
    assert abs(np.median(track.azimuth_deg) - np.median(true_az)) < 5.0
    assert localization.info.duration_s == pytest.approx(2.0, abs=0.1)
    assert localization.thumbnail.ndim == 3 and localization.thumbnail.shape[1] < 2 * 480


def test_render_video_writes_four_outputs_and_one_report_schema(scene, localization, kemar,
                                                                tmp_path):
    generator = DSPGenerator(kemar, RenderConfig())
    report = render_video(scene, localization, generator, tmp_path, "clip", SCENE, EVALUATE,
                          source="archive/clip.mp4")
    write_report(tmp_path, report)
    for kind, name in report["outputs"].items():
        assert (tmp_path / name).is_file(), kind
    audio, sr = read_wav(tmp_path / "clip.binaural.wav")
    assert sr == SCENE.sample_rate and audio.shape[0] == 2
    assert audio.shape[1] / sr == pytest.approx(report["duration_s"], abs=1e-3)
    assert report["input"] == "archive/clip.mp4"
    gen = report["generator"]
    assert gen == generator_report(generator, localization.tracks)
    assert {"name", "version", "hrtf", "fallback", "visual", "reverberant", "t60_s"} <= set(gen)
    assert gen["name"] == "dsp" and gen["fallback"] is None
    # Heard where the picture shows the source (reference-free, against the tracks).
    assert report["metrics"]["agreement_with_detection_deg"] < 10.0
    assert set(report["timings_s"]) == {"localization", "association", "generation",
                                        "evaluation", "loudness", "mux", "report"}
    # The shipped association ran on the second pass: which track sounds, and how surely.
    assert report["association"]["seconds"] == report["timings_s"]["association"] > 0
    assert 0 <= report["metrics"]["association_confidence"] <= 1
    assert all(0 <= p["sounding_p"] <= 1 for p in report["sources"][0]["track"])


def test_the_model_falls_back_to_the_renderer_and_says_so_with_the_source_name(
        scene, localization, kemar, tmp_path):
    torch.manual_seed(0)
    model = DiffusionGenerator(GeneratorNet(preset("tiny")), kemar, RenderConfig(),
                               GeneratorConfig(steps=2))
    nothing = replace(localization, tracks=[], warnings=[])
    report = render_video(scene, nothing, model, tmp_path, "clip", SCENE, EVALUATE,
                          source="archive/clip.mp4")
    assert report["generator"]["fallback"].startswith("no sound source found")
    assert any(w.startswith("archive/clip.mp4: no sound source found")
               for w in report["warnings"])
    assert "t60_s" in report["generator"]  # what the renderer found, in the same schema
    fallback, _ = read_wav(tmp_path / "clip.binaural.wav")
    (tmp_path / "dsp").mkdir()
    dsp = render_video(scene, nothing, DSPGenerator(kemar, RenderConfig()), tmp_path / "dsp",
                       "clip", SCENE, EVALUATE)
    assert np.array_equal(fallback, read_wav(tmp_path / "dsp" / "clip.binaural.wav")[0])
    assert dsp["input"] == str(scene)  # no source name: the local path


def test_the_report_says_when_its_detections_look_unreliable(scene, localization, kemar,
                                                             tmp_path):
    """The same video with a threshold no detection meets: the report keeps its agreement
    figure but flags it, and warns with the reason."""
    assert localization.reliability.reliable  # a drawn source: confident and steady
    strict = replace(LocalizeConfig(), min_mean_confidence=1.01)
    loc = localize_video(scene, build_detector(replace(load_params().detector, device="cpu")),
                         SCENE, strict, source="archive/clip.mp4")
    assert not loc.reliability.reliable
    assert any(w.startswith("archive/clip.mp4: detections look unreliable: low detection")
               for w in loc.warnings)
    report = render_video(scene, loc, DSPGenerator(kemar, RenderConfig()), tmp_path, "clip",
                          SCENE, EVALUATE, source="archive/clip.mp4")
    assert report["metrics"]["detections_reliable"] is False
    assert report["detector"]["reliability"]["reasons"]
    assert report["metrics"]["agreement_with_detection_deg"] is not None
