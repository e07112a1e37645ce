"""Archives on object storage: moto's S3 server on loopback, reached through s3fs.

One run over an archive of good, odd and broken items, with S3 failing transiently and a
Ray worker killed mid-run; then an immediate rerun.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace

import boto3
import pytest
from s3_support import FlakyProxy, MotoS3

from binaural.io.manifest import Manifest
from binaural.io.storage import open_location
from binaural.synth.config import SynthConfig
from binaural.synth.edge_media import WARNED, write_edge_cases
from binaural.synth.scenes import synthesize
from tasks.chaos import kill_when_first_done

BUCKET = "archive"
SCENES = 3
ESCAPE_KEY = "nested/../../escape.mp4"  # below in/: it would resolve outside the prefix


@pytest.fixture(scope="module")
def s3(kemar, tmp_path_factory):
    """A bucket holding in/: 3 synthesized scenes, the edge cases, and a `..` key."""
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL")
    saved = {k: os.environ.get(k) for k in keys}
    with MotoS3() as moto:
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=moto.url)
        local = tmp_path_factory.mktemp("archive")
        cfg = replace(SynthConfig(), scenes=SCENES, seed=21, max_sources=1, duration_s=2.0,
                      width=320, height=180)
        synthesize(cfg, kemar, local)
        expected = write_edge_cases(local, local / "scene_021_0000.mp4")
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        for path in sorted(local.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), BUCKET, f"in/{path.relative_to(local)}")
        client.put_object(Bucket=BUCKET, Key=f"in/{ESCAPE_KEY}",
                          Body=(local / "stereo.mp4").read_bytes())
        good = sorted([f"scene_021_{i:04d}.mp4" for i in range(SCENES)]
                      + [k for k, (ok, _) in expected.items() if ok])
        bad = {k: words for k, (ok, words) in expected.items() if not ok}
        yield {"url": moto.url, "good": good, "bad": bad}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def first_run(s3):
    from flows.remaster import remaster

    dest = f"s3://{BUCKET}/out"
    stop, killed = threading.Event(), []
    with FlakyProxy(s3["url"], every=11) as proxy:
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        killer = threading.Thread(target=kill_when_first_done, args=(dest, stop, killed))
        killer.start()
        try:
            summary = remaster(f"s3://{BUCKET}/in", dest, model="dsp")
        finally:
            stop.set()
            killer.join()
            os.environ["AWS_ENDPOINT_URL"] = s3["url"]
        failures = proxy.failed
    return summary, killed, failures


def test_every_good_item_is_done_once_despite_faults(s3, first_run):
    summary, killed, failures = first_run
    assert killed, "the detector worker was never killed"
    assert failures > 0, "the proxy injected no S3 failure"
    assert sorted(summary["done"]) == s3["good"]
    manifest = Manifest(open_location(f"s3://{BUCKET}/out"), summary["version"])
    records = manifest.records()
    done = [r for r in records if r.state == "done"]
    assert sorted(r.key for r in done) == s3["good"]
    assert sorted(manifest.done_marks()) == sorted(r.sha256 for r in done)  # once each
    assert {r.run_id for r in done} == {summary["run_id"]}
    client = boto3.client("s3")
    for record in done:
        for output in record.outputs.values():
            head = client.head_object(Bucket=BUCKET, Key=f"out/{output['key']}")
            assert head["ContentLength"] == output["size"]
    leftovers = client.list_objects_v2(Bucket=BUCKET, Prefix="out/manifest/").get("Contents", [])
    assert not [o for o in leftovers if "/claims/" in o["Key"]]


def test_each_bad_item_has_a_one_line_reason(s3, first_run):
    summary, _, _ = first_run
    failed = summary["failed"]
    assert set(failed) == set(s3["bad"]) | {ESCAPE_KEY}
    for key, words in s3["bad"].items():
        assert failed[key].startswith(key) and words in failed[key]
        assert "\n" not in failed[key]
    assert "unsafe key" in failed[ESCAPE_KEY]
    manifest = Manifest(open_location(f"s3://{BUCKET}/out"), summary["version"])
    reasons = {r.key: r.error for r in manifest.records() if r.state == "failed"}
    reasons |= {r["key"]: r["error"] for r in manifest.refusals()}
    assert reasons == failed  # every reason is kept in the manifest too
    client = boto3.client("s3")
    everything = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert not [k for k in everything if "escape" in k and not k.startswith("in/")]


def test_odd_inputs_are_remastered_with_warnings(s3, first_run):
    summary, _, _ = first_run
    reports = {i["key"]: i["report"] for i in summary["items"] if i["status"] == "done"}
    assert any("mixed to mono" in w for w in reports["stereo.mp4"]["warnings"])
    assert any("resampled" in w for w in reports["rate_8k.mp4"]["warnings"])
    assert reports["portrait.mp4"]["video"]["width"] == 180
    assert reports["odd_size.mp4"]["video"]["height"] == 179
    for key, words in WARNED.items():  # damaged and silent files: done, the cause named
        assert any(words in w for w in reports[key]["warnings"]), (key, reports[key])
    assert reports["phone_portrait.mp4"]["video"]["rotation_deg"] == -90


def test_an_immediate_rerun_processes_nothing(s3, first_run):
    from flows.remaster import remaster

    summary, _, _ = first_run
    again = remaster(f"s3://{BUCKET}/in", f"s3://{BUCKET}/out", model="dsp")
    assert again["done"] == []
    assert sorted(again["already_done"]) == s3["good"]
    assert again["failed"] == summary["failed"]
    runs = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="out/runs/")["Contents"]
    assert len(runs) == 2
    latest = boto3.client("s3").get_object(Bucket=BUCKET, Key="out/summary.json")
    assert json.loads(latest["Body"].read())["run_id"] == again["run_id"]
