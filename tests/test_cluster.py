"""A real two-node Ray cluster on this host: remaster through --ray-address, items on both
nodes (their reports' lineage says where), the worker node killed mid-run, and after a
rerun every good item done exactly once. Slow (minutes): `make test-slow`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import yaml

from binaural.synth.config import SynthConfig

pytestmark = pytest.mark.slow

CLIPS = 8
PROJECT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    return os.environ | {"PYTHONPATH": str(PROJECT), "RAY_USAGE_STATS_ENABLED": "0"}


def _ours(marker: str) -> list[psutil.Process]:
    """Processes of this test's cluster: their command line names its temp folder."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(marker in arg for arg in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _done_records(dest: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in dest.glob("manifest/*/done/*.json")]


def _remaster(params: Path, src: Path, dest: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "--params", str(params), "remaster", str(src),
         str(dest), "--model", "dsp", "--ray-address", address],
        cwd=PROJECT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def cluster():
    """A head node and a worker node, each with 2 CPUs; killed by pid at the end."""
    temp = tempfile.mkdtemp(prefix="rc13-", dir="/tmp")  # short: Ray's socket paths
    port, worker_port = _free_port(), _free_port()
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2",
                    f"--temp-dir={temp}", "--include-dashboard=false",
                    '--resources={"head_node": 1}'], env=_env(), check=True, timeout=180,
                   capture_output=True)
    subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", "--num-cpus=2",
                    f"--node-manager-port={worker_port}", '--resources={"worker_node": 1}'],
                   env=_env(), check=True, timeout=180, capture_output=True)
    try:
        yield f"127.0.0.1:{port}", worker_port, temp
    finally:
        for proc in _ours(temp):
            proc.kill()


def test_two_nodes_a_killed_worker_and_a_rerun(cluster, tmp_path, kemar):
    from binaural.synth.scenes import synthesize

    address, worker_port, temp = cluster
    src, dest = tmp_path / "src", tmp_path / "dest"
    synthesize(replace(SynthConfig(), scenes=CLIPS, seed=13, max_sources=1, duration_s=1.5),
               kemar, src)
    data = yaml.safe_load((PROJECT / "params.yaml").read_text())
    data["remaster"] |= {"actors": 2, "concurrency": 2, "shard_size": 4,
                         "cpus_per_actor": 0.5}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data))

    run = _remaster(params, src, dest, address)
    deadline = time.monotonic() + 600
    nodes: set[str] = set()
    while time.monotonic() < deadline and run.poll() is None:
        nodes = {r["lineage"]["renderer"]["node_id"] for r in _done_records(dest)}
        if len(nodes) >= 2:  # items finished on both nodes: now kill the worker node
            break
        time.sleep(1.0)
    assert len(nodes) >= 2, "items did not reach both nodes"
    killed_after = len(_done_records(dest))
    raylets = [p for p in _ours(temp) if "raylet" in " ".join(p.cmdline())
               and f"--node_manager_port={worker_port}" in " ".join(p.cmdline())]
    assert len(raylets) == 1
    os.kill(raylets[0].pid, signal.SIGKILL)
    out, _ = run.communicate(timeout=900)
    assert run.returncode == 0, out[-3000:]

    rerun = _remaster(params, src, dest, address)
    out2, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out2[-3000:]

    summaries = [json.loads(p.read_text()) for p in sorted((dest / "runs").glob("*.json"))]
    assert len(summaries) == 2
    first, second = (set(s["done"]) for s in summaries)
    assert not first & second  # nothing done twice
    assert len(first | second) == CLIPS  # every good item done
    assert set(summaries[1]["already_done"]) == first
    records = _done_records(dest)
    assert len(records) == CLIPS and len({r["sha256"] for r in records}) == CLIPS
    per_node: dict[str, int] = {}
    for r in records:
        node = r["lineage"]["renderer"]["node_id"]
        per_node[node] = per_node.get(node, 0) + 1
    print(f"\nitems per node {sorted(per_node.values(), reverse=True)}; killed the worker "
          f"node after {killed_after} done; first run {len(first)} done, "
          f"{len(summaries[0]['failed'])} failed; rerun {len(second)} done")
