"""The manifest in DEST: one record per input and generator version, plus claims.

Layout below DEST (one small object each, so no run ever rewrites another's record):

    manifest/<version>/items/<sha256>.json    state: done (outputs + checksums) | failed
    manifest/<version>/done/<sha256>.json     the done record, created exclusively: the
                                              commit point, so an item is done once
    manifest/<version>/claims/<sha256>.json   held while a run processes the item
    manifest/index/<sha1 of source key>.json  source fingerprint -> content hash

A claim is taken with an exclusive create (If-None-Match on S3), so two runs started
at once never process the same item. A claim whose run died (same host, process gone)
or whose lease ran out is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field

from binaural.io.storage import (
    Location,
    create_exclusive,
    delete,
    list_prefix,
    read_bytes,
    write_bytes,
)

DONE, FAILED = "done", "failed"


@dataclass
class ItemRecord:
    """What the manifest knows of one input under one generator version."""

    sha256: str
    key: str
    name: str
    state: str
    version: str
    outputs: dict[str, dict] = field(default_factory=dict)
    error: str | None = None
    transient: bool = False
    run_id: str | None = None
    updated: float = field(default_factory=time.time)
    warnings: list[str] = field(default_factory=list)
    lineage: dict = field(default_factory=dict)  # Ray node/worker, code version (tasks.lineage)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ItemRecord:
        return cls(**json.loads(data))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Manifest:
    """Records and claims for one generator version in one DEST."""

    def __init__(self, dest: Location, version: str, lease_s: float = 3600.0):
        self.dest = dest
        self.version = version
        self.lease_s = lease_s
        self.prefix = f"manifest/{version}"

    # -- records -------------------------------------------------------------------
    def get(self, sha256: str) -> ItemRecord | None:
        data = read_bytes(self.dest, f"{self.prefix}/done/{sha256}.json") or read_bytes(
            self.dest, f"{self.prefix}/items/{sha256}.json")
        return ItemRecord.from_bytes(data) if data else None

    def put(self, record: ItemRecord) -> bool:
        """Write a record. A done record is first created exclusively under done/ (the
        commit point); False when the item was already done (by another run), in which
        case nothing is overwritten."""
        record.updated = time.time()
        if record.state == DONE and not create_exclusive(
                self.dest, f"{self.prefix}/done/{record.sha256}.json", record.to_bytes()):
            return False
        write_bytes(self.dest, f"{self.prefix}/items/{record.sha256}.json", record.to_bytes())
        return True

    def records(self) -> list[ItemRecord]:
        """Every item's record; a done record wins over a stale status copy."""
        by_sha: dict[str, ItemRecord] = {}
        for folder in ("items", "done"):
            for key in list_prefix(self.dest, f"{self.prefix}/{folder}"):
                data = read_bytes(self.dest, key)
                if data:
                    record = ItemRecord.from_bytes(data)
                    by_sha[record.sha256] = record
        return sorted(by_sha.values(), key=lambda r: r.key)

    def done_marks(self) -> list[str]:
        """The sha256 of every done record (one each: they are created exclusively)."""
        return [k.rsplit("/", 1)[-1].removesuffix(".json")
                for k in list_prefix(self.dest, f"{self.prefix}/done")]

    def needs_work(self, sha256: str) -> bool:
        """Not done, and not failed for a reason that a retry would not change."""
        record = self.get(sha256)
        return record is None or (record.state == FAILED and record.transient)

    def refuse(self, key: str, reason: str, run_id: str) -> None:
        """Record a source key refused before reading it (e.g. one containing `..`)."""
        digest = hashlib.sha1(key.encode()).hexdigest()
        body = json.dumps({"key": key, "state": FAILED, "error": reason, "run_id": run_id,
                           "time": time.time()}, indent=2)
        write_bytes(self.dest, f"{self.prefix}/refused/{digest}.json", body.encode())

    def refusals(self) -> list[dict]:
        out = []
        for key in list_prefix(self.dest, f"{self.prefix}/refused"):
            data = read_bytes(self.dest, key)
            if data:
                out.append(json.loads(data))
        return out

    # -- claims --------------------------------------------------------------------
    def _claim_key(self, sha256: str) -> str:
        return f"{self.prefix}/claims/{sha256}.json"

    def claim(self, sha256: str, run_id: str) -> bool:
        """Take the item for `run_id`; False if a live run holds it."""
        body = json.dumps({"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "time": time.time()}).encode()
        key = self._claim_key(sha256)
        if create_exclusive(self.dest, key, body):
            return True
        held = read_bytes(self.dest, key)
        if held is None:  # released in between
            return create_exclusive(self.dest, key, body)
        info = json.loads(held)
        if info.get("run_id") == run_id:
            return True
        dead = info.get("host") == socket.gethostname() and not _pid_alive(int(info["pid"]))
        expired = time.time() - float(info.get("time", 0)) > self.lease_s
        if dead or expired:
            delete(self.dest, key)
            return create_exclusive(self.dest, key, body)
        return False

    def release(self, sha256: str) -> None:
        delete(self.dest, self._claim_key(sha256))

    # -- source index --------------------------------------------------------------
    def _index_key(self, source_id: str) -> str:
        return f"manifest/index/{hashlib.sha1(source_id.encode()).hexdigest()}.json"

    def known_hash(self, source_id: str, fingerprint: str) -> str | None:
        """The content hash recorded for this source key at this fingerprint, if any."""
        data = read_bytes(self.dest, self._index_key(source_id))
        if not data:
            return None
        entry = json.loads(data)
        return entry["sha256"] if entry.get("fingerprint") == fingerprint else None

    def remember_hash(self, source_id: str, fingerprint: str, sha256: str) -> None:
        body = json.dumps({"source": source_id, "fingerprint": fingerprint, "sha256": sha256})
        write_bytes(self.dest, self._index_key(source_id), body.encode())
