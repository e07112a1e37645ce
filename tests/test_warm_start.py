"""Ray and the actors started before the flow (flows.warm_start): the flow uses them when
its settings are the same, and starts its own (the warm ones shut down) when not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize


@pytest.fixture(scope="module")
def archive(tmp_path_factory, kemar) -> Path:
    src = tmp_path_factory.mktemp("archive")
    synthesize(replace(SynthConfig(), scenes=1, seed=11, max_sources=1, duration_s=2.0),
               kemar, src)
    return src


def test_settings_that_differ_release_the_warm_pools():
    import ray

    from flows.params import load_params
    from flows.warm_start import claim, warm_start

    params = load_params()
    warm = warm_start(params)
    assert warm is not None
    other = replace(params, scene=replace(params.scene, fps=params.scene.fps + 1))
    assert claim(other, None, 1) is None
    assert warm.ended.is_set() and not warm.started
    assert not ray.is_initialized()
    assert claim(params, None, 1) is None  # released: nothing left to claim


def test_a_checkpoint_other_than_the_flows_releases_the_warm_pools():
    """The same params, but the flow resolved another checkpoint (a registry alias moved
    between the warm start's resolution and the flow's): the warm workers loaded the
    wrong one, so they are not used."""
    import ray

    from flows.params import load_params
    from flows.warm_start import claim, warm_start

    params = load_params()
    params = replace(params, remaster=replace(params.remaster, actors=1))
    warm = warm_start(params)
    warm.wait()
    assert warm.error is None and warm.model is not None
    assert claim(params, None, 1, ("models/weights/other.pt", "binaural-generator/7")) is None
    assert warm.ended.is_set() and not warm.started and not warm.workers
    assert not ray.is_initialized()


def test_the_flow_runs_on_the_warm_actors(archive, tmp_path):
    import ray

    from flows.params import load_params
    from flows.remaster import remaster
    from flows.warm_start import warm_start

    params = load_params()
    params = replace(params, remaster=replace(params.remaster, actors=1))
    warm = warm_start(params)
    warm.wait()
    assert warm.error is None
    worker_pids = ray.get([a.pid.remote() for a in warm.workers])
    summary = remaster(str(archive), str(tmp_path / "dest"), params=params)
    assert len(summary["done"]) == 1
    lineage = summary["items"][0]["report"]["lineage"]
    # one process localized and rendered the item: one of the warm workers
    assert lineage["detector"]["pid"] == lineage["renderer"]["pid"]
    assert lineage["detector"]["pid"] in worker_pids
    # the flow owned what the warm start began: Ray is down and the thread may end
    assert warm.ended.is_set() and not ray.is_initialized()


def test_switched_off_starts_nothing():
    import ray

    from flows.params import load_params
    from flows.warm_start import warm_start

    params = load_params()
    params = replace(params, remaster=replace(params.remaster, warm_start=False))
    assert warm_start(params) is None
    assert not ray.is_initialized()


def test_a_done_archive_starts_no_ray(archive, tmp_path):
    """A rerun over an archive whose items are all settled: the warm start surveys it
    (listing and manifest) and starts neither Ray nor the workers; the flow finds the
    items done and starts nothing either."""
    import ray

    from flows.params import load_params
    from flows.remaster import remaster
    from flows.warm_start import claim, warm_start

    params = load_params()
    params = replace(params, remaster=replace(params.remaster, actors=1, warm_start=False))
    dest = str(tmp_path / "dest")
    assert len(remaster(str(archive), dest, params=params)["done"]) == 1
    params = replace(params, remaster=replace(params.remaster, warm_start=True))
    warm = warm_start(params, None, str(archive), dest)
    warm.wait()
    assert warm.nothing_pending and warm.error is None and not warm.workers
    assert not ray.is_initialized()
    again = remaster(str(archive), dest, params=params)
    assert len(again["already_done"]) == 1 and not again["done"]
    assert claim(params, None, 1) is None  # the flow took it (and released it)
    assert not ray.is_initialized()
