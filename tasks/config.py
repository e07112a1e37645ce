"""Orchestration settings of a remaster run (params.yaml `remaster`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemasterConfig:
    """Orchestration of a remaster run."""

    shard_size: int = 64
    actors: int = 1
    concurrency: int = 2
    lease_s: float = 3600.0
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    max_restarts: int = 2
    max_task_retries: int = 2
    mlflow_experiment: str = "remaster"
    progress_every_s: float = 60.0  # a renderer logs each item's audio done this often
    idle_worker_keep_s: float = 1.0  # a local Ray keeps idle task workers this long
    warm_start: bool = True  # CLI and bench: Ray and actors start beside Prefect's server
