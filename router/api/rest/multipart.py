"""A streaming reader of ``multipart/form-data`` request bodies, for snapshot uploads.

A snapshot may be far larger than memory, so the ``snapshot`` part is written to a file as its
bytes arrive and nothing else of the body is kept. Only what a form upload needs is read: the
boundary, each part's ``Content-Disposition`` name, and the part bodies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from node.errors import BadRequest

_MAX_HEADERS = 16 * 1024


def boundary_of(content_type: str | None) -> bytes:
    kind, _, params = (content_type or "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise BadRequest("a snapshot upload must be multipart/form-data with a `snapshot` file")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise BadRequest("multipart/form-data without a boundary")


def _part_name(headers: bytes) -> str | None:
    for line in headers.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() != b"content-disposition":
            continue
        for param in value.decode("latin-1").split(";"):
            k, _, v = param.strip().partition("=")
            if k.lower() == "name":
                return v.strip('"')
    return None


async def save_part(chunks: AsyncIterator[bytes], content_type: str | None, field: str,
                    target: Path) -> int:
    """Write the body of form field ``field`` to ``target``; returns its size. BadRequest if the
    body is not a well-formed form holding that field."""
    delimiter = b"\r\n--" + boundary_of(content_type)
    buffer = b"\r\n"  # the first boundary has no CRLF before it
    found = False
    size = 0
    stream = chunks.__aiter__()

    async def more() -> bool:
        nonlocal buffer
        try:
            buffer += await stream.__anext__()
            return True
        except StopAsyncIteration:
            return False

    # preamble, up to the first boundary
    while (start := buffer.find(delimiter)) < 0:
        buffer = buffer[-len(delimiter):]
        if not await more():
            raise BadRequest("malformed multipart body: no boundary")
    buffer = buffer[start + len(delimiter):]
    with open(target, "wb") as out:
        while True:
            while len(buffer) < 2 and await more():
                pass
            if buffer.startswith(b"--"):
                break  # the closing boundary
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                if len(buffer) > _MAX_HEADERS or not await more():
                    raise BadRequest("malformed multipart body: part headers")
            name = _part_name(buffer[2:end])
            buffer = buffer[end + 4:]
            keep = name == field and not found
            found = found or keep
            while (stop := buffer.find(delimiter)) < 0:
                safe = len(buffer) - len(delimiter)
                if safe > 0:
                    if keep:
                        out.write(buffer[:safe])
                        size += safe
                    buffer = buffer[safe:]
                if not await more():
                    raise BadRequest("malformed multipart body: truncated part")
            if keep:
                out.write(buffer[:stop])
                size += stop
            buffer = buffer[stop + len(delimiter):]
    if not found:
        raise BadRequest(f"multipart body without a `{field}` file")
    return size
