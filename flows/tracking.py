"""MLflow set-up: the local store by default, a server by MLFLOW_TRACKING_URI."""

from __future__ import annotations

import os
from pathlib import Path


def start_experiment(name: str) -> str:
    """Select (creating if needed) an experiment; returns its id.

    With the default sqlite store, artifacts go under the project's state folder.
    """
    import mlflow
    from filelock import FileLock

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        # The first access creates and migrates the database: two runs starting at once
        # on a fresh store would both migrate it. One at a time.
        with FileLock(uri.removeprefix("sqlite:///") + ".lock", timeout=300):
            return _select(mlflow, name, uri)
    return _select(mlflow, name, uri)


def _select(mlflow, name: str, uri: str) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if uri.startswith("sqlite:"):
            location = (Path(os.environ["BINAURAL_STATE_DIR"]) / "mlartifacts" / name).as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
