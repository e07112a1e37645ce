"""A real local Prefect server, `binaural schedule` serving a cron deployment, and one
scheduled run that completes and remasters what was new."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize
from flows.environment import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def _flow_runs(api: str) -> list[dict]:
    request = urllib.request.Request(f"{api}/flow_runs/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_a_scheduled_run_completes(kemar, tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    synthesize(replace(SynthConfig(), scenes=1, seed=31, max_sources=1, duration_s=2.0,
                       width=320, height=180), kemar, src)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": api,
           "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True)
    served = None
    try:
        _wait_http(f"{api}/health", 120)
        served = subprocess.Popen(
            [str(bin_dir / "binaural"), "schedule", str(src), str(dest), "--cron",
             "* * * * *", "--name", "test-nightly"], env=env, cwd=PROJECT_ROOT,
            stdout=open(tmp_path / "serve.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline, state = time.time() + 240, None
        while time.time() < deadline:
            runs = [r for r in _flow_runs(api) if r.get("deployment_id")]
            states = [r["state_type"] for r in runs]
            if "COMPLETED" in states:
                state = "COMPLETED"
                break
            if "FAILED" in states or "CRASHED" in states:
                state = states
                break
            time.sleep(2)
        assert state == "COMPLETED", (state, (tmp_path / "serve.log").read_text()[-3000:])
        summary = json.loads((dest / "summary.json").read_text())
        assert summary["done"] == ["scene_031_0000.mp4"]
    finally:
        for proc in (served, server):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
