"""Where and with what an item was made: the Ray node and worker, and the code version.

Recorded in each item's report (DEST/<version>/<name>.json) and manifest record, so an
output on a cluster can be traced to the machine and process that made it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import ray

PACKAGE = "binaural"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def worker_lineage() -> dict:
    """The Ray node and worker (and actor, inside one) running this call; host and pid."""
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        info |= {"node_id": ctx.get_node_id(), "node_ip": ray.util.get_node_ip_address(),
                 "worker_id": ctx.get_worker_id()}
        actor = ctx.get_actor_id()
        if actor:
            info["actor_id"] = actor
    return info


def code_version(root: str | Path = PROJECT_ROOT) -> str:
    """`git describe --always --dirty` of a checkout, else the installed package's version,
    else 'unknown'."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True)
        if out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"{PACKAGE}=={metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        return "unknown"
