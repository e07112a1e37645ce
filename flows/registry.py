"""The generator's MLflow model registry: versions, aliases, promotion.

Each trained generator is registered as a new version of `train.registry_name` (its
checkpoint is a run artifact), tagged with its held-out evaluation (aggregate tags
eval.<group>.<metric>, and its per-clip figures as a JSON artifact of its run named by the
tag clip_figures), and aliased `challenger`; it becomes `champion` only when a paired test
over the held-out clips says it beats the current champion (flows.promotion, params.yaml
train.promote_*).
"""

from __future__ import annotations

import math
from pathlib import Path

from flows.promotion import PromotionRule

CHAMPION, CHALLENGER = "champion", "challenger"
METRIC_TAG = "eval."  # version tags eval.<group>.<metric> hold its held-out evaluation
CLIPS_TAG = "clip_figures"  # artifact path (in the version's run) of its per-clip figures
CLIPS_ARTIFACT = "registry/clip_figures_v{version}.json"


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def metric_tags(aggregate: dict[str, dict[str, dict]], system: str) -> dict[str, str]:
    """eval.<group>.<metric> tags of one system's aggregate evaluation."""
    tags = {}
    for group, by_system in aggregate.items():
        for key, value in (by_system.get(system) or {}).items():
            if _finite(value):
                tags[f"{METRIC_TAG}{group}.{key}"] = f"{value:.6g}"
    return tags


def version_metrics(version, group: str) -> dict[str, float]:
    """A registered version's evaluation on one group, from its tags."""
    prefix = f"{METRIC_TAG}{group}."
    return {k[len(prefix):]: float(v) for k, v in (version.tags or {}).items()
            if k.startswith(prefix)}


def store_clip_figures(name: str, version: str | int, figures: dict) -> str:
    """Keep a version's per-clip figures as a JSON artifact of its run and name it in the
    version's tag clip_figures; returns the artifact path."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = client.get_model_version(name, str(version)).run_id
    path = CLIPS_ARTIFACT.format(version=version)
    client.log_dict(run_id, figures, path)
    client.set_model_version_tag(name, str(version), CLIPS_TAG, path)
    return path


def clip_figures_of(version) -> dict | None:
    """A registered version's per-clip figures (None when it has none)."""
    import mlflow

    path = (version.tags or {}).get(CLIPS_TAG)
    if not path:
        return None
    return mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{path}")


def register_version(run_id: str, artifact_path: str, name: str, tags: dict[str, str]):
    """A new registered version from a run's artifact folder; returns the ModelVersion."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="binaural diffusion generator")
    source = f"{mlflow.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(name, source, run_id=run_id, tags=tags)
    return client.get_model_version(name, version.version)


def champion_version(name: str):
    """The version aliased champion, or None."""
    import mlflow
    from mlflow import MlflowClient

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None


def register_and_promote(run_id: str, artifact_path: str, name: str, tags: dict[str, str],
                         rule: PromotionRule, clips: dict | None = None) -> dict:
    """Register (keeping `clips`, the per-clip figures of its held-out evaluation), alias
    `challenger`, and alias `champion` when the rule's paired test over the clips says it
    beats the champion's (with no champion yet: when its aggregate tags hold the rule's
    metrics).

    Returns {version, promoted, reason, champion (the champion's version afterwards)}.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    version = register_version(run_id, artifact_path, name, tags)
    if clips is not None:
        store_clip_figures(name, version.version, clips)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    current = champion_version(name)
    if current is None:
        better, reason = rule.first(version_metrics(version, rule.group))
    else:
        better, reason = rule.compare(clips, clip_figures_of(current))
        reason = f"against champion v{current.version}: {reason}"
    if better:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    client.set_model_version_tag(name, version.version, "promotion",
                                 f"{'promoted' if better else 'kept challenger'}: {reason}")
    return {"version": int(version.version), "promoted": better, "reason": reason,
            "champion": int(version.version) if better else
            (int(current.version) if current is not None else None)}


# ---------------------------------------------------------------- which generator a spec names

REGISTRY_PREFIX = "models:/"


def resolve_registry(spec: str) -> tuple[Path, str]:
    """A `models:/NAME@ALIAS` or `models:/NAME/VERSION` URI -> (local checkpoint, version
    label "NAME/vN"), through the MLflow registry (MLFLOW_TRACKING_URI)."""
    import mlflow
    from mlflow import MlflowClient

    body = spec[len(REGISTRY_PREFIX):]
    client = MlflowClient()
    if "@" in body:
        name, alias = body.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    else:
        name, version = body.rsplit("/", 1)
        mv = client.get_model_version(name, version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}"))
    files = sorted(local.rglob("*.pt")) if local.is_dir() else [local]
    if not files:
        raise FileNotFoundError(f"{spec}: no checkpoint (*.pt) in the registered model")
    return files[0], f"{name}/v{mv.version}"


def resolve_model(spec: str) -> tuple[str, str | None]:
    """A generator spec -> (local spec, registry label): registry URIs are resolved to the
    checkpoint once (by the flow), so workers load a plain path; "dsp" and paths pass
    through (a missing path is refused by models.builders.build_generator)."""
    if spec.startswith(REGISTRY_PREFIX):
        path, label = resolve_registry(spec)
        return str(path), label
    return spec, None


def generator_identity(spec: str, label: str | None = None) -> str:
    """What a spec names, without building the network: "dsp", or "<label>@<sha12>" of the
    checkpoint (the `version` the built generator reports).

    Raises:
        FileNotFoundError: a checkpoint path that does not exist.
    """
    from models.builders import DSP
    from models.checkpoint_meta import checkpoint_identity

    local, found = resolve_model(spec)
    if local == DSP:
        return DSP
    if not Path(local).is_file():
        raise FileNotFoundError(f"{spec}: generator checkpoint not found (or use --model dsp)")
    return checkpoint_identity(local, label or found)


def load_generator(spec: str, hrtf, render, generator, device: str | None = None):
    """The generator a spec names ("dsp", a checkpoint, a registry URI), built by
    models.builders; `device` overrides params generator.device."""
    from dataclasses import replace

    from models.builders import build_generator

    local, label = resolve_model(spec)
    settings = replace(generator, device=device) if device else generator
    return build_generator(local, hrtf, render, settings, label)
