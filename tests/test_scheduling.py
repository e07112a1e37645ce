"""Scheduling items onto actors: no short clip waits behind a long one."""

from __future__ import annotations

import threading

import pytest

from tasks.scheduling import ActorPool, ProgressLog, as_pool, schedule

SIZES = {"a_short.mp4": 10, "b_long.mp4": 1000, "c_mid.mp4": 100, "d_short.mp4": 10}


def test_with_several_actors_the_longest_start_first():
    assert schedule(list(SIZES), SIZES, actors=2) == [
        "b_long.mp4", "c_mid.mp4", "a_short.mp4", "d_short.mp4"]


def test_with_one_actor_the_shortest_start_first():
    assert schedule(list(SIZES), SIZES, actors=1) == [
        "a_short.mp4", "d_short.mp4", "c_mid.mp4", "b_long.mp4"]


def test_unknown_sizes_count_as_empty():
    assert schedule(["x.mp4", "b_long.mp4"], {"b_long.mp4": 5}, actors=3) == [
        "b_long.mp4", "x.mp4"]


def test_a_busy_actor_is_not_handed_out():
    """While one item holds an actor (a long video), the next item gets the other one
    at once instead of queueing behind it, as items bound by index did."""
    pool = ActorPool(["actor-0", "actor-1"])
    held, release, taken = threading.Event(), threading.Event(), []

    def long_item():
        with pool.take() as actor:
            taken.append(actor)
            held.set()
            release.wait()

    worker = threading.Thread(target=long_item)
    worker.start()
    held.wait()
    for _ in range(3):  # short items, one after the other, all on the free actor
        with pool.take() as actor:
            assert actor != taken[0]
    release.set()
    worker.join()
    with pool.take() as a, pool.take() as b:  # both back in the pool
        assert {a, b} == {"actor-0", "actor-1"}


def test_as_pool_wraps_actors_and_keeps_pools():
    pool = ActorPool(["x"])
    assert as_pool(pool) is pool
    assert len(as_pool(["x", "y"])) == 2 and as_pool("x").actors == ["x"]
    with pytest.raises(ValueError):
        ActorPool([])


def test_progress_is_logged_every_interval_of_audio():
    log = ProgressLog("long.mp4", 600.0, 60.0)
    for done in range(10, 601, 10):  # 10-second pieces
        log(float(done))
    assert len(log.lines) == 10
    assert log.lines[0] == "long.mp4: 60 of 600 s of audio rendered (10%)"
    assert log.lines[-1].endswith("600 of 600 s of audio rendered (100%)")
    quiet = ProgressLog("x", 10.0, 0.0)
    quiet(5.0)
    assert quiet.lines == []
