"""One archive item's bookkeeping (tasks/items.py), without Ray: names, the failure
classification that decides retries, one-line reasons, and what the manifest already
settled before any download."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from binaural.io.manifest import DONE, FAILED, ItemRecord, Manifest
from binaural.io.storage import fingerprint, open_location
from binaural.io.video import MediaError
from tasks.items import (
    ItemContext,
    is_transient,
    item_name,
    one_line_reason,
    process_item,
    settled_item,
)

VERSION = "dsp-test"


def _client_error(status: int) -> ClientError:
    return ClientError({"Error": {"Code": str(status), "Message": "x"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


class _TaskError(Exception):
    """Shaped like Ray's task errors: the original exception as `cause`."""

    def __init__(self, cause: BaseException):
        super().__init__(f"task failed: {cause}")
        self.cause = cause


@pytest.mark.parametrize("key, name", [
    ("clip.mp4", "clip"),
    ("day 1/take.2.mov", "day 1__take.2"),
    ("no_suffix", "no_suffix"),
    ("a.b/c", "a.b__c"),
])
def test_item_names_flatten_folders_and_drop_the_suffix(key, name):
    assert item_name(key) == name


@pytest.mark.parametrize("exc, transient", [
    (MediaError("x.mp4: no audio stream"), False),
    (_TaskError(MediaError("x.mp4: empty file")), False),
    (ConnectionError("reset"), True),
    (TimeoutError("slow"), True),
    (_TaskError(ConnectionError("reset")), True),
    (_client_error(503), True),
    (_client_error(404), False),
    (ValueError("bad value"), False),
])
def test_only_failures_a_retry_can_cure_are_transient(exc, transient):
    assert is_transient(exc) is transient


def test_reasons_are_one_line_name_the_key_and_hide_the_working_copy():
    local = "/tmp/work/clip.123/clip.mp4"
    exc = _TaskError(MediaError(f"{local}: audio decoding failed\nTraceback ..."))
    assert one_line_reason(exc, "in/clip.mp4", local) == "in/clip.mp4: audio decoding failed"
    assert one_line_reason(ValueError(""), "in/clip.mp4") == "in/clip.mp4: ValueError: ValueError"
    assert (one_line_reason(RuntimeError("boom\nmore"), "k.mp4")
            == "k.mp4: RuntimeError: boom")


@pytest.fixture
def archive(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "clip.mp4").write_bytes(b"not decoded here")
    ctx = ItemContext(src_uri=str(src), dest_uri=str(dest), version=VERSION, run_id="r1",
                      work_dir=str(tmp_path / "work"), lease_s=60.0)
    return ctx


def test_an_unsafe_key_is_refused_and_recorded_before_anything_is_read(archive):
    line = settled_item("../escape.mp4", archive)
    assert line["status"] == FAILED and "unsafe key" in line["error"]
    assert not line["transient"]
    # process_item refuses it the same way without needing any worker
    line = process_item("a/../b.mp4", archive, workers=None)
    assert line["status"] == FAILED and "unsafe key" in line["error"]
    refused = list(open_location(archive.dest_uri).fs.find(archive.dest_uri))
    assert any("refused" in p for p in refused), refused


def test_settled_items_are_known_from_the_fingerprint_alone(archive):
    src, dest = open_location(archive.src_uri), open_location(archive.dest_uri)
    assert settled_item("clip.mp4", archive) is None  # never seen: needs work
    manifest = Manifest(dest, VERSION)
    source_id = f"{archive.src_uri}/clip.mp4"
    manifest.remember_hash(source_id, fingerprint(src, "clip.mp4"), "abc")
    assert settled_item("clip.mp4", archive) is None  # known, but not done
    manifest.put(ItemRecord(sha256="abc", key="old/name.mp4", name="clip", state=FAILED,
                            version=VERSION, error="old/name.mp4: no audio stream"))
    line = settled_item("clip.mp4", archive)
    assert line["status"] == FAILED and line["error"] == "clip.mp4: no audio stream"
    assert line["earlier"] is True
    other = ItemContext(**{**archive.__dict__, "version": "another-version"})
    assert settled_item("clip.mp4", other) is None  # a new version redoes everything


def test_a_done_item_is_skipped_with_its_outputs(archive):
    src, dest = open_location(archive.src_uri), open_location(archive.dest_uri)
    manifest = Manifest(dest, VERSION)
    manifest.remember_hash(f"{archive.src_uri}/clip.mp4", fingerprint(src, "clip.mp4"), "abc")
    outputs = {"wav": {"key": f"{VERSION}/clip.binaural.wav", "sha256": "0", "size": 1}}
    assert manifest.put(ItemRecord(sha256="abc", key="clip.mp4", name="clip", state=DONE,
                                   version=VERSION, outputs=outputs))
    line = settled_item("clip.mp4", archive)
    assert line["status"] == "skipped" and line["reason"] == "done earlier"
    assert line["outputs"] == outputs
