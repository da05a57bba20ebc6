"""Tessera's snapshot file format: a tar archive with a versioned header and a checksummed manifest.

Layout (format version 1), in this order:

* ``tessera-snapshot.json`` — the header: ``{"format": "tessera-snapshot", "version": 1,
  "kind": "shard" | "collection" | "full"}``. It comes first so that a file of a newer format
  is refused by name before anything else is read.
* the data files, as plain tar members (regular files only, relative paths). A shard's files keep
  the names they have in its directory (``state.pkl``, ``vec-*.bin``, ``hnsw-*.faiss``,
  ``wal/wal-*.log``) under a prefix chosen by the kind (``shards/<id>/`` in a collection snapshot).
* ``manifest.json`` — last, so that an archive can be *streamed* (a shard sent peer-to-peer never
  needs a temporary copy on its source): the kind's own fields (collection config, shard list,
  aliases, ...) and ``files``: ``{name: {"size": bytes, "sha256": hex}}`` for every data member.

Reading verifies everything before anything is used: the header's format and version, that every
member is a regular file with a safe relative name (no ``..``, no absolute path, no links), each
member's size and sha256 against the manifest, that no listed file is missing and none is extra.
A truncated, corrupt or foreign file raises ``InvalidSnapshot`` and leaves only the caller's
staging directory to remove. The file's own sha256 (listed as the snapshot's ``checksum``, kept
in ``<name>.checksum`` beside it) is computed while the archive is written.

This module knows nothing of shards or collections: it moves named files with checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from node import priority
from node.durable import fsync_dir
from node.errors import BadRequest

FORMAT = "tessera-snapshot"
VERSION = 1
HEADER = "tessera-snapshot.json"
MANIFEST = "manifest.json"
_BLOCK = 512
_CHUNK = 1 << 20
#: bytes of a snapshot file written between two syncs: the fsync at the end, which a WAL's fsync
#: (a wait=true write) may have to wait behind, stays small
_SYNC_EVERY = 8 << 20


class InvalidSnapshot(BadRequest):
    """A file that is not a whole, intact Tessera snapshot of a format this version reads."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Invalid snapshot: {why}")


@dataclass(frozen=True)
class Member:
    """One data file of an archive: its name in the archive, where its bytes are, how many."""

    name: str
    path: Path
    size: int


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def _bytes_member(name: str, data: bytes) -> Iterator[bytes]:
    yield _tar_header(name, len(data))
    yield data
    yield _padding(len(data))


def stream(kind: str, members: Iterable[Member], manifest: dict) -> Iterator[bytes]:
    """The archive's bytes, chunk by chunk: header, members (``size`` bytes of each file, even if
    the file has grown since), then the manifest with every member's checksum."""
    header = json.dumps({"format": FORMAT, "version": VERSION, "kind": kind}).encode()
    yield from _bytes_member(HEADER, header)
    files: dict[str, dict] = {}
    for member in members:
        _check_name(member.name)
        digest = hashlib.sha256()
        yield _tar_header(member.name, member.size)
        left = member.size
        with open(member.path, "rb") as handle:
            while left:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    raise OSError(f"{member.path} is shorter than the {member.size} bytes cut")
                digest.update(chunk)
                left -= len(chunk)
                yield chunk
        yield _padding(member.size)
        files[member.name] = {"size": member.size, "sha256": digest.hexdigest()}
    body = dict(manifest, format=FORMAT, version=VERSION, kind=kind, files=files)
    yield from _bytes_member(MANIFEST, json.dumps(body, sort_keys=True).encode())
    yield b"\0" * (2 * _BLOCK)


def write_file(chunks: Iterable[bytes], target: Path, rate: int = 0) -> tuple[int, str]:
    """Write an archive to ``target`` atomically (a hidden partial file renamed into place once
    complete and fsynced), with ``<target>.checksum`` beside it; returns (size, sha256). Runs
    below the requests' priority, and at ``rate`` bytes per second at most while the node
    serves requests (``priority.pace``): searches meanwhile keep their latency."""
    return priority.run_in_background(_write_file, chunks, target, rate)


def _write_file(chunks: Iterable[bytes], target: Path, rate: int) -> tuple[int, str]:
    partial = partial_path(target)
    started = time.monotonic()
    digest = hashlib.sha256()
    size = 0
    try:
        with open(partial, "wb") as out:
            unsynced = 0
            for chunk in chunks:
                priority.pace(len(chunk), rate, started)
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                unsynced += len(chunk)
                if unsynced >= _SYNC_EVERY:  # written back as it goes: no burst at the end
                    out.flush()
                    os.fdatasync(out.fileno())
                    unsynced = 0
            out.flush()
            os.fsync(out.fileno())
        checksum = digest.hexdigest()
        # the checksum first: a snapshot file is listed only once it is in place, and then its
        # checksum is already there
        _write_atomically(checksum_path(target), checksum.encode())
        os.replace(partial, target)
        fsync_dir(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size, checksum


def partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


def checksum_path(target: Path) -> Path:
    return target.with_name(target.name + ".checksum")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- reading ---------------------------------------------------------------------------------
def _check_name(name: str) -> None:
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or "\\" in name or any(p in ("..", ".", "") for p in
                                                              name.split("/")):
        raise InvalidSnapshot(f"unsafe member name {name!r}")


def read_header(handle: BinaryIO) -> dict:
    """The header of an archive (the first member), checked: refuses a foreign file or a format
    version newer than this one reads."""
    try:
        with tarfile.open(fileobj=handle, mode="r|") as tar:
            first = tar.next()
            if first is None or first.name != HEADER or not first.isreg():
                raise InvalidSnapshot("not a Tessera snapshot (no header)")
            return _parse_header(tar.extractfile(first).read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidSnapshot(f"not a readable archive ({exc})") from None


def _parse_header(data: bytes) -> dict:
    try:
        header = json.loads(data)
    except ValueError:
        raise InvalidSnapshot("unreadable header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidSnapshot("not a Tessera snapshot (foreign header)")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise InvalidSnapshot(
            f"snapshot format version {version} is newer than this Tessera reads "
            f"(version {VERSION}); recover it with a newer Tessera")
    return header


def extract(source: Path, dest: Path, kind: str | None = None) -> dict:
    """Extract and verify an archive into the empty directory ``dest``; returns its manifest.

    Raises ``InvalidSnapshot`` (and leaves ``dest`` for the caller to remove) for anything that is
    not an intact archive of a format version this module reads, or (``kind``) of another kind.
    """
    dest.mkdir(parents=True, exist_ok=True)
    seen: dict[str, dict] = {}
    header: dict | None = None
    manifest: dict | None = None
    try:
        with open(source, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for info in tar:
                if header is None:
                    if info.name != HEADER or not info.isreg():
                        raise InvalidSnapshot("not a Tessera snapshot (no header)")
                    header = _parse_header(tar.extractfile(info).read())
                    continue
                if manifest is not None:
                    raise InvalidSnapshot(f"member {info.name!r} after the manifest")
                if not info.isreg():
                    raise InvalidSnapshot(f"member {info.name!r} is not a regular file")
                if info.name == MANIFEST:
                    manifest = _parse_manifest(tar.extractfile(info).read())
                    continue
                _check_name(info.name)
                if info.name in seen:
                    raise InvalidSnapshot(f"member {info.name!r} appears twice")
                seen[info.name] = _extract_member(tar, info, dest)
    except InvalidSnapshot:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidSnapshot(f"truncated or corrupt archive ({exc})") from None
    if header is None:
        raise InvalidSnapshot("empty file")
    if manifest is None:
        raise InvalidSnapshot("truncated archive (no manifest)")
    if kind is not None and manifest.get("kind") != kind:
        raise InvalidSnapshot(f"a {manifest.get('kind')} snapshot, not a {kind} snapshot")
    listed = manifest["files"]
    for name, facts in listed.items():
        if seen.get(name) != facts:
            why = "missing" if name not in seen else "checksum or size mismatch"
            raise InvalidSnapshot(f"file {name!r}: {why}")
    extra = set(seen) - set(listed)
    if extra:
        raise InvalidSnapshot(f"files not in the manifest: {sorted(extra)[:5]}")
    return manifest


def _parse_manifest(data: bytes) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise InvalidSnapshot("unreadable manifest") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise InvalidSnapshot("manifest without a file list")
    return manifest


def _extract_member(tar: tarfile.TarFile, info: tarfile.TarInfo, dest: Path) -> dict:
    target = dest.joinpath(*info.name.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    source = tar.extractfile(info)
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return {"size": size, "sha256": digest.hexdigest()}
