"""Spatial-audio metadata in MP4: the SA3D box of Google's spatial-media specification.

    sa3d_payload:  the box (version 0, periodic ambisonics, order, ACN, SN3D, channel map)
    tag_ambisonic: copy an MP4 with an SA3D box added to the sample entry of its first
                   audio track of `channels` channels (moov/trak/mdia/minf/stbl/stsd/mp4a),
                   every enclosing box's size fixed and, where moov precedes the media data,
                   every chunk offset (stco/co64) moved by the box's size
    box_tree:      the box paths of a file with their sizes (a box dump)
    read_sa3d:     the SA3D fields of a file's first tagged track

Box layouts follow ISO/IEC 14496-12 (box headers, stsd, AudioSampleEntry with the
QuickTime sound-description versions 1 and 2) and the spatial-media RFC
(docs/spatial-audio-rfc.md of google/spatial-media):

    SpatialAudioBox 'SA3D': uint8 version, uint8 ambisonic_type, uint32 ambisonic_order,
    uint8 channel_ordering, uint8 normalization, uint32 num_channels,
    uint32 channel_map[num_channels]

The media data is copied in blocks: memory is bounded by the moov box, not the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from binaural.io.outputs import atomic_path

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"dinf"}
AUDIO_ENTRIES = {b"mp4a", b"Opus", b"lpcm", b"sowt", b"twos", b"ipcm", b"fpcm"}
STSD_HEADER = 8  # version/flags, entry_count
AUDIO_ENTRY_HEADER = 28  # reserved(6) dref(2) version(2) revision(2) vendor(4) ch ss cid pkt rate
SOUND_V1_EXTRA, SOUND_V2_EXTRA = 16, 36
AMBISONIC_PERIODIC, ORDERING_ACN, NORMALIZATION_SN3D = 0, 0, 0
COPY_BLOCK = 1 << 20


@dataclass
class Box:
    type: bytes
    start: int  # offset of the header within the buffer or file
    size: int
    header: int  # 8, or 16 for a 64-bit size

    @property
    def end(self) -> int:
        return self.start + self.size


def _parse(buf: bytes, start: int, end: int) -> list[Box]:
    boxes, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", buf[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"corrupt box {kind!r} at {pos}")
        boxes.append(Box(kind, pos, size, header))
        pos += size
    return boxes


def _children(buf: bytes, box: Box) -> list[Box]:
    """The child boxes of a container, an stsd or an audio sample entry."""
    body = box.start + box.header
    if box.type in CONTAINERS:
        return _parse(buf, body, box.end)
    if box.type == b"stsd":
        return _parse(buf, body + STSD_HEADER, box.end)
    if box.type in AUDIO_ENTRIES:
        version = struct.unpack(">H", buf[body + 8:body + 10])[0]
        extra = {1: SOUND_V1_EXTRA, 2: SOUND_V2_EXTRA}.get(version, 0)
        return _parse(buf, body + AUDIO_ENTRY_HEADER + extra, box.end)
    return []


def _top_level(path: Path) -> list[Box]:
    boxes, size = [], path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            n, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if n == 1:
                n, header = struct.unpack(">Q", head[8:16])[0], 16
            elif n == 0:
                n = size - pos
            if n < header:
                raise ValueError(f"{path}: corrupt box {kind!r} at {pos}")
            boxes.append(Box(kind, pos, n, header))
            pos += n
    return boxes


def _read(path: Path, box: Box) -> bytes:
    with open(path, "rb") as f:
        f.seek(box.start)
        return f.read(box.size)


def box_tree(path: str | Path) -> list[tuple[str, int]]:
    """(path of each box, size) in file order, e.g. ('moov/trak/mdia/.../SA3D', 32)."""
    path = Path(path)
    out: list[tuple[str, int]] = []

    def walk(buf: bytes, box: Box, prefix: str) -> None:
        name = f"{prefix}{box.type.decode('latin-1')}"
        out.append((name, box.size))
        for child in _children(buf, box):
            walk(buf, child, name + "/")

    for top in _top_level(path):
        if top.type == b"moov":
            moov = _read(path, top)
            walk(moov, Box(top.type, 0, top.size, top.header), "")
        else:
            out.append((top.type.decode("latin-1"), top.size))
    return out


def sa3d_payload(channels: int = 4, order: int = 1) -> bytes:
    body = struct.pack(">BBIBBI", 0, AMBISONIC_PERIODIC, order, ORDERING_ACN,
                       NORMALIZATION_SN3D, channels)
    body += b"".join(struct.pack(">I", i) for i in range(channels))
    return struct.pack(">I4s", 8 + len(body), b"SA3D") + body


def _audio_entry_path(moov: bytes, channels: int) -> list[Box] | None:
    """The chain moov .. audio sample entry of the first audio track with `channels`."""
    root = _parse(moov, 0, len(moov))[0]
    for trak in (b for b in _children(moov, root) if b.type == b"trak"):
        chain = [root, trak]
        box = trak
        for kind in (b"mdia", b"minf", b"stbl", b"stsd"):
            box = next((c for c in _children(moov, box) if c.type == kind), None)
            if box is None:
                break
            chain.append(box)
        if box is None:
            continue
        for entry in _parse(moov, box.start + box.header + STSD_HEADER, box.end):
            if entry.type in AUDIO_ENTRIES:
                count = struct.unpack(">H", moov[entry.start + 24:entry.start + 26])[0]
                if count == channels:
                    return [*chain, entry]
    return None


def _shift_chunk_offsets(moov: bytearray, box: Box, delta: int) -> None:
    for child in _children(moov, box):
        if child.type in (b"stco", b"co64"):
            body = child.start + child.header
            count = struct.unpack(">I", moov[body + 4:body + 8])[0]
            fmt, width = (">I", 4) if child.type == b"stco" else (">Q", 8)
            for i in range(count):
                at = body + 8 + i * width
                struct.pack_into(fmt, moov, at, struct.unpack(fmt, moov[at:at + width])[0]
                                 + delta)
        else:
            _shift_chunk_offsets(moov, child, delta)


def tag_ambisonic(src: str | Path, dest: str | Path, channels: int = 4, order: int = 1
                  ) -> None:
    """Write `dest`: `src` with an SA3D box in its ambisonic track's sample entry.

    Raises:
        ValueError: no audio track of `channels` channels, or a box with a 64-bit size on
            the way to it (not written by our muxer).
    """
    src = Path(src)
    tops = _top_level(src)
    moov_box = next((b for b in tops if b.type == b"moov"), None)
    if moov_box is None:
        raise ValueError(f"{src}: no moov box")
    moov = bytearray(_read(src, moov_box))
    chain = _audio_entry_path(bytes(moov), channels)
    if chain is None:
        raise ValueError(f"{src}: no audio track of {channels} channels to tag")
    if any(b.header != 8 for b in chain):
        raise ValueError(f"{src}: 64-bit box sizes on the way to the audio sample entry")
    box = sa3d_payload(channels, order)
    entry = chain[-1]
    moov[entry.end:entry.end] = box
    for b in chain:  # every enclosing box grows by the inserted box
        struct.pack_into(">I", moov, b.start, b.size + len(box))
    media_after = any(b.type == b"mdat" and b.start > moov_box.start for b in tops)
    if media_after:
        root = _parse(bytes(moov), 0, len(moov))[0]
        _shift_chunk_offsets(moov, root, len(box))
    with atomic_path(dest) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
        for top in tops:
            if top.type == b"moov":
                fout.write(moov)
                continue
            fin.seek(top.start)
            remaining = top.size
            while remaining:
                block = fin.read(min(COPY_BLOCK, remaining))
                fout.write(block)
                remaining -= len(block)


def read_sa3d(path: str | Path) -> dict | None:
    """The SA3D fields of the first tagged audio track; None when there is none."""
    path = Path(path)
    moov_box = next((b for b in _top_level(path) if b.type == b"moov"), None)
    if moov_box is None:
        return None
    moov = _read(path, moov_box)
    found: list[Box] = []

    def walk(box: Box) -> None:
        for child in _children(moov, box):
            if child.type == b"SA3D":
                found.append(child)
            walk(child)

    walk(_parse(moov, 0, len(moov))[0])
    if not found:
        return None
    body = found[0].start + found[0].header
    version, kind, order, ordering, norm, count = struct.unpack(">BBIBBI",
                                                                moov[body:body + 12])
    cmap = list(struct.unpack(f">{count}I", moov[body + 12:body + 12 + 4 * count]))
    return {"version": version, "ambisonic_type": kind, "ambisonic_order": order,
            "channel_ordering": ordering, "normalization": norm, "num_channels": count,
            "channel_map": cmap}


def main(argv: list[str] | None = None) -> int:
    """`python -m binaural.io.spatial_media FILE.mp4`: the box dump and the SA3D fields."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m binaural.io.spatial_media FILE.mp4", file=sys.stderr)
        return 2
    for name, size in box_tree(args[0]):
        print(f"{'  ' * name.count('/')}{name.rsplit('/', 1)[-1]} ({size} bytes)")
    print(f"SA3D: {read_sa3d(args[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
