"""Process environment for the tools: state inside the project, telemetry off.

Called once by each entry point (CLI, DVC stage, test session) before Prefect, Ray,
MLflow or Ultralytics are imported; importing this module changes nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare_environment(state_dir: str | Path | None = None, override: bool = False) -> Path:
    """Point every tool's state at `state_dir` (default: <project>/.state).

    Values already set by the user (a Prefect server, an MLflow tracking server) win,
    unless `override` (the test session isolates itself from the user's settings).
    """
    state = Path(state_dir or os.environ.get("BINAURAL_STATE_DIR", PROJECT_ROOT / ".state"))
    state = state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    defaults = {
        "BINAURAL_STATE_DIR": str(state),
        "XDG_CONFIG_HOME": str(state / "xdg-config"),
        "XDG_CACHE_HOME": str(state / "xdg-cache"),
        "MPLCONFIGDIR": str(state / "matplotlib"),
        "MPLBACKEND": "Agg",
        "YOLO_CONFIG_DIR": str(state / "ultralytics"),
        "YOLO_OFFLINE": "1",
        "YOLO_VERBOSE": "False",
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(state / "dvc-site-cache"),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "TORCH_HOME": str(state / "torch"),
        "HF_HUB_OFFLINE": "1",
    }
    for key, value in defaults.items():
        if override:
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)
    if override:
        os.environ.pop("PREFECT_API_URL", None)
    _prepare_ultralytics(Path(os.environ["YOLO_CONFIG_DIR"]))
    os.environ[PREPARED] = "1"  # inherited: a child process starts prepared
    return state


PREPARED = "BINAURAL_ENVIRONMENT_PREPARED"


def run_as_prepared(module: str) -> None:
    """For `python -m flows.<module>`: the module's own imports brought in Prefect, which
    read its settings then. A process not started with a prepared environment prepares it
    and executes the same command again (this function returns only in a prepared one),
    so the run uses the project's state folder and start-up timeout, like the CLI's."""
    if os.environ.get(PREPARED) == "1":
        return
    prepare_environment()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])


def _prepare_ultralytics(config_dir: Path) -> None:
    """Font for dataset checks (else Ultralytics tries to download Arial.ttf)."""
    target = config_dir / "Ultralytics" / "Arial.ttf"
    if target.exists():
        return
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(font, target)


def mlflow_artifact_root() -> str:
    """Where the default local MLflow store keeps artifacts."""
    return str(Path(os.environ["BINAURAL_STATE_DIR"]) / "mlartifacts")


def exit_now(status: int) -> None:
    """End the process with `status` after Python's exit handlers, without finalising
    the interpreter.

    A process that was a Ray driver still has Ray's core-worker threads (gRPC, metrics)
    when it exits; C++ static destructors run by a normal exit freed what one of them then
    called: seen as segmentation faults after all work was done (kernel log: an instruction
    fetch from a heap page holding Ray's metric names). The exit handlers (Ray's shutdown,
    Prefect's temporary server stop, MLflow's) run here in order, the streams are flushed,
    and os._exit skips the destructors.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: nothing more can be written to it
    os._exit(status)

