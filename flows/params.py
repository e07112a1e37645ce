"""params.yaml -> typed Params. The only place that reads YAML."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from binaural.config import Params, params_from_mapping
from flows.environment import PROJECT_ROOT

DEFAULT_PARAMS = PROJECT_ROOT / "params.yaml"


def load_params(path: str | Path | None = None) -> Params:
    """Read params.yaml (default: the project's); relative model/data paths in it are
    resolved against the project root so commands work from any directory."""
    path = Path(path or DEFAULT_PARAMS)
    data = yaml.safe_load(path.read_text()) or {}
    params = params_from_mapping(data, where=str(path))
    return resolve_paths(params, path.resolve().parent)


def resolve_paths(params: Params, base: Path) -> Params:
    def fix(p: str) -> str:
        if not p:
            return p
        candidate = base / p
        return str(candidate) if not Path(p).is_absolute() and candidate.exists() else p

    return replace(
        params,
        detector=replace(params.detector, weights=fix(params.detector.weights)),
        render=replace(params.render, hrtf=fix(params.render.hrtf),
                       activity_model=fix(params.render.activity_model),
                       reverb_model=fix(params.render.reverb_model)),
        synth=replace(params.synth, hrtf=fix(params.synth.hrtf)),
        train_detector=replace(params.train_detector, model=fix(params.train_detector.model)),
        generator=replace(params.generator, model=fix(params.generator.model)),
        train=replace(params.train, init=fix(params.train.init)),
    )


def with_head(params: Params, hrtf: str | None) -> Params:
    """params with render.hrtf set to `hrtf` (when given), checked by loading it here so
    a bad file fails with one line before any worker starts.

    Raises:
        FileNotFoundError, ValueError: binaural.hrtf.load_sofa's, naming the file.
    """
    from binaural.hrtf import load_sofa

    if hrtf:
        params = replace(params, render=replace(params.render, hrtf=str(Path(hrtf).resolve())))
    load_sofa(params.render.hrtf, params.scene.sample_rate)
    return params
