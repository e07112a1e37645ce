"""Whole runs as a user starts them (the CLI in its own process) against moto's S3:
two runs at once never do an item twice; a run killed half-way is finished by the next."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from s3_support import MotoS3

from binaural.io.manifest import Manifest
from binaural.io.storage import open_location
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import synthesize
from flows.environment import PROJECT_ROOT

pytestmark = pytest.mark.slow
BUCKET = "resume"
CLIPS = 6


@pytest.fixture(scope="module")
def s3(kemar, tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")}
    with MotoS3() as moto:
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=moto.url)
        local = tmp_path_factory.mktemp("resume-src")
        synthesize(replace(SynthConfig(), scenes=CLIPS, seed=41, max_sources=1,
                           duration_s=2.0, width=320, height=180), kemar, local)
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        for path in sorted(local.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), BUCKET, f"in/{path.relative_to(local)}")
        yield moto
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _start(dest: str, log: Path) -> subprocess.Popen:
    binaural = Path(sys.executable).parent / "binaural"
    return subprocess.Popen([str(binaural), "remaster", f"s3://{BUCKET}/in", dest],
                            cwd=PROJECT_ROOT, env={**os.environ}, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _summaries(prefix: str) -> list[dict]:
    client = boto3.client("s3")
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/runs/").get("Contents", [])
    return [json.loads(client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
            for o in listing]


def _done_records(dest: str) -> dict:
    """sha256 -> the run that recorded it done (done records are created exclusively)."""
    loc = open_location(dest)
    loc.fs.invalidate_cache()
    keys = [p[len(loc.root) + 1:] for p in loc.fs.find(f"{loc.root}/manifest")]
    versions = {k.split("/")[1] for k in keys if k.split("/")[1] != "index"}
    assert len(versions) == 1, versions
    manifest = Manifest(loc, versions.pop())
    return {r.sha256: r.run_id for r in manifest.records() if r.state == "done"}


def test_two_runs_at_once_do_each_item_exactly_once(s3, tmp_path):
    """Two CLI runs started together on one DEST: no item is done by both, every item is
    done, and each done record names the run that did it. Which run does how many depends
    on their start-up race (one may do all of them): what is checked is exactly-once, not
    an even split."""
    dest = f"s3://{BUCKET}/both"
    procs = [_start(dest, tmp_path / f"run{i}.log") for i in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, (tmp_path / "run0.log").read_text()[-2000:]
    runs = _summaries("both")
    assert len(runs) == 2
    done = [set(r["done"]) for r in runs]
    assert not done[0] & done[1], "an item was processed by both runs"
    assert len(done[0] | done[1]) == CLIPS
    records = _done_records(dest)
    assert len(records) == CLIPS
    by_run = Counter(records.values())
    # each run's record count is what its summary says it did (an idle run: none)
    assert sorted(by_run.values()) == sorted(len(d) for d in done if d)


def test_a_run_killed_half_way_is_finished_by_the_next(s3, tmp_path):
    dest = f"s3://{BUCKET}/killed"
    first = _start(dest, tmp_path / "first.log")
    client = boto3.client("s3")
    deadline = time.time() + 400
    while time.time() < deadline:
        items = client.list_objects_v2(Bucket=BUCKET, Prefix="killed/manifest/").get(
            "Contents", [])
        if sum("/items/" in o["Key"] for o in items) >= 2:
            break
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the machine dies: driver, Ray and all
    first.wait(timeout=30)
    before = _done_records(dest)
    assert 0 < len(before) < CLIPS, "the kill came too late or too early to test resuming"
    second = _start(dest, tmp_path / "second.log")
    assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-2000:]
    (summary,) = _summaries("killed")  # the killed run never wrote one
    assert len(summary["done"]) + len(summary["already_done"]) == CLIPS
    assert summary["in_other_runs"] == [], "the dead run's claims were not taken over"
    after = _done_records(dest)
    assert len(after) == CLIPS
    # What the killed run recorded stays its own; the second run did only the rest.
    assert {sha: after[sha] for sha in before} == before
    assert len(summary["done"]) == CLIPS - len(before)
