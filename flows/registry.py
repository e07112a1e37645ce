"""The generator's MLflow model registry: versions, aliases, promotion.

Each trained generator is registered as a new version of `train.registry_name` (its
checkpoint is a run artifact), tagged with its held-out evaluation, and aliased
`challenger`; it becomes `champion` only when it beats the current champion by the rule
of params.yaml (train.promote_group, promote_metrics, promote_min_improvement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHAMPION, CHALLENGER = "champion", "challenger"
METRIC_TAG = "eval."  # version tags eval.<group>.<metric> hold its held-out evaluation


@dataclass(frozen=True)
class PromotionRule:
    group: str
    metrics: tuple[str, ...]
    min_improvement: float = 0.0  # fraction every metric must improve by

    def beats(self, candidate: dict[str, float], champion: dict[str, float] | None
              ) -> tuple[bool, str]:
        """Whether candidate metrics (lower is better) beat the champion's; and why."""
        missing = [m for m in self.metrics if not _finite(candidate.get(m))]
        if missing:
            return False, f"candidate lacks {missing} on group {self.group}"
        if champion is None:
            return True, "no champion yet"
        reasons = []
        for m in self.metrics:
            old, new = champion.get(m), candidate[m]
            if not _finite(old):
                continue
            needed = old - self.min_improvement * abs(old)
            if not new < needed:
                return False, (f"{m} {new:.4f} does not beat champion {old:.4f} "
                               f"(needs < {needed:.4f})")
            reasons.append(f"{m} {new:.4f} < {old:.4f}")
        return True, "; ".join(reasons) or "champion has no comparable metrics"


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
                         rule: PromotionRule) -> dict:
    """Register, alias `challenger`, and alias `champion` when the rule says it is better.

    Returns {version, promoted, reason, champion (the champion's version afterwards)}.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    version = register_version(run_id, artifact_path, name, tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    current = champion_version(name)
    candidate = version_metrics(version, rule.group)
    better, reason = rule.beats(candidate, version_metrics(current, rule.group)
                                if current is not None else None)
    if better:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    client.set_model_version_tag(name, version.version, "promotion",
                                 f"{'promoted' if better else 'kept challenger'}: {reason}")
    return {"version": int(version.version), "promoted": better, "reason": reason,
            "champion": int(version.version) if better else
            (int(current.version) if current is not None else None)}
