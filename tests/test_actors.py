"""The actor pools on a real local Ray cluster."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import ray

from flows.params import load_params
from tasks.actors import start_workers


@pytest.fixture
def ray_two_cpus():
    ray.init(num_cpus=2, include_dashboard=False,
             _temp_dir=str(Path(os.environ["BINAURAL_STATE_DIR"]) / "ray"))
    yield
    ray.shutdown()


def test_pools_larger_than_the_cluster_still_all_start(ray_two_cpus):
    """3 item workers on 2 CPUs: each gets a share instead of one of them waiting forever
    for a CPU (which deadlocked the items assigned to it)."""
    params = load_params()
    params = replace(params, remaster=replace(params.remaster, cpus_per_actor=1.0))
    workers = start_workers(params, actors=3)
    # Generous: on a loaded 2-core host four actors importing torch took over 120 s once.
    pids = ray.get([a.pid.remote() for a in workers], timeout=300)
    assert len(set(pids)) == 3
