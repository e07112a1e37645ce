"""Archives on local disks or object storage, through fsspec (s3:// by s3fs).

Credentials and endpoints come from the usual AWS settings (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, profiles), as boto reads them. Everything that is published is
published atomically: on a local disk by rename, on S3 by a single PUT (or a multipart
upload, which becomes visible only when it completes).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec


class UnsafeKeyError(ValueError):
    """A key that would escape its root (`..`, absolute paths)."""


@dataclass(frozen=True)
class Location:
    """A root folder or prefix and the filesystem that holds it."""

    fs: fsspec.AbstractFileSystem
    root: str  # path inside fs, no trailing slash
    uri: str

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def path(self, key: str) -> str:
        """Full path of a key below the root; refuses keys that would leave it."""
        return posixpath.join(self.root, safe_key(key))

    def url(self, key: str) -> str:
        return self.fs.unstrip_protocol(self.path(key)) if not self.is_local else self.path(key)


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def open_location(uri: str | Path) -> Location:
    """Resolve a local path or fsspec URI (s3://bucket/prefix)."""
    uri = str(uri)
    options = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if uri.startswith(("s3://", "s3a://")) and endpoint:
        # Explicit, so fsspec's cached filesystem follows a changed endpoint.
        options["endpoint_url"] = endpoint
    fs, root = fsspec.core.url_to_fs(uri, **options)
    if "file" in _protocols(fs):
        root = str(Path(root).resolve())
    return Location(fs=fs, root=root.rstrip("/"), uri=uri)


def safe_key(key: str) -> str:
    """Normalise a relative key; refuse `..`, absolute paths and empty names."""
    if not key or key.startswith(("/", "\\")) or "\\" in key:
        raise UnsafeKeyError(f"{key!r}: unsafe key (absolute or backslashed)")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafeKeyError(f"{key!r}: unsafe key (contains '..', '.' or an empty part)")
    return key


def list_keys(loc: Location, suffixes: tuple[str, ...] | None = None) -> list[tuple[str, int]]:
    """Keys (relative to the root) and sizes of the files directly below it, sorted."""
    if not loc.fs.exists(loc.root):
        raise FileNotFoundError(f"{loc.uri}: no such folder or prefix")
    out = []
    for info in loc.fs.ls(loc.root, detail=True):
        if info.get("type") != "file":
            continue
        name = posixpath.basename(info["name"].rstrip("/"))
        if name.startswith("."):
            continue
        if suffixes and not name.lower().endswith(suffixes):
            continue
        out.append((name, int(info.get("size") or 0)))
    return sorted(out)


def fingerprint(loc: Location, key: str) -> str:
    """A cheap identity of a stored file's version (size + ETag or mtime)."""
    info = loc.fs.info(loc.path(key))
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    return f"{info.get('size')}:{version}"


def download(loc: Location, key: str, local: str | Path) -> str:
    """Copy a stored file to a local path; returns its SHA-256."""
    h = hashlib.sha256()
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    with loc.fs.open(loc.path(key), "rb") as src, open(local, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            dst.write(block)
    return h.hexdigest()


def publish(local: str | Path, loc: Location, key: str) -> None:
    """Publish a finished local file under `key`, atomically."""
    target = loc.path(key)
    if loc.is_local:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex}.part"
        loc.fs.put_file(str(local), tmp)
        os.replace(tmp, target)
    else:
        loc.fs.put_file(str(local), target)


def write_bytes(loc: Location, key: str, data: bytes) -> None:
    """Write a small object atomically (rename locally, one PUT on S3)."""
    target = loc.path(key)
    if loc.is_local:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex}.part"
        Path(tmp).write_bytes(data)
        os.replace(tmp, target)
    else:
        loc.fs.pipe_file(target, data)


def create_exclusive(loc: Location, key: str, data: bytes) -> bool:
    """Create `key` only if it does not exist; False when it already does.

    Locally O_CREAT|O_EXCL; on S3 a PUT with `If-None-Match: *` (412 when the key exists),
    so two runs never both claim an item.
    """
    target = loc.path(key)
    if loc.is_local:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    try:
        loc.fs.pipe_file(target, data, IfNoneMatch="*")
    except FileExistsError:
        return False
    return True


def read_bytes(loc: Location, key: str) -> bytes | None:
    """A stored object's bytes, or None when it does not exist."""
    try:
        return loc.fs.cat_file(loc.path(key))
    except FileNotFoundError:
        return None


def delete(loc: Location, key: str) -> None:
    try:
        loc.fs.rm_file(loc.path(key))
    except FileNotFoundError:
        pass


def list_prefix(loc: Location, prefix: str) -> list[str]:
    """Keys (relative to the root) of every file below `prefix`."""
    base = loc.path(prefix)
    if not loc.fs.exists(base):
        return []
    return sorted(posixpath.relpath(p, loc.root) for p in loc.fs.find(base))
