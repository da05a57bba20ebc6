"""What the gRPC port's HTTP/2 connection (``router.api.grpc.http2``) puts on the wire, and the
numbers of both protocols: frame kinds, flags, error codes, settings, window sizes and the gRPC
status codes the transport itself answers with; the frame header, HPACK literal header blocks
(never indexed, so the peer's table is never touched) and gRPC's response headers, trailers and
metadata. Its underscored names are for ``http2`` and ``http2_streams`` only."""

from __future__ import annotations

import base64
import struct
from urllib.parse import quote

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
FRAME_SIZE_ERROR, REFUSED_STREAM, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 6, 7, 9, 11

SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 1, 4, 5
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_HEADER_LIST_SIZE = 3, 6

MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME = 16_384
#: Frames we accept: the default size (SETTINGS_MAX_FRAME_SIZE is never raised).
MAX_FRAME_IN = DEFAULT_FRAME

# gRPC status codes used by the transport itself
OK, CANCELLED, UNKNOWN, INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED = 0, 1, 2, 13, 12, 8

_FRAME_HEAD = struct.Struct(">BHBBI")
_MESSAGE_HEAD = struct.Struct(">BI")
_STATUS_200 = b"\x88"  # :status 200, static table entry 8


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return _FRAME_HEAD.pack(size >> 16, size & 0xFFFF, kind, flags, stream_id) + payload


def _literal(name: bytes, value: bytes) -> bytes:
    """One header as an HPACK literal without indexing, new name, no Huffman coding."""
    return b"\x00" + _length(name) + name + _length(value) + value


def _length(text: bytes) -> bytes:
    """An HPACK string length (7-bit prefix integer, Huffman bit clear)."""
    size = len(text)
    if size < 127:
        return bytes((size,))
    out = bytearray((127,))
    size -= 127
    while size >= 128:
        out.append((size & 0x7F) | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out)


_RESPONSE_HEADERS = _STATUS_200 + _literal(b"content-type", b"application/grpc")


def grpc_message(text: str) -> bytes:
    """``grpc-message``'s percent-encoding: printable ASCII but '%' as is, the rest %XX."""
    return quote(text, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~", encoding="utf-8").encode()


def metadata_block(metadata) -> bytes:
    """Custom metadata as header literals; ``-bin`` keys carry base64 (unpadded) values."""
    out = []
    for key, value in metadata or ():
        name = key.lower().encode() if isinstance(key, str) else key.lower()
        if name.endswith(b"-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            value = base64.b64encode(raw).rstrip(b"=")
        elif isinstance(value, str):
            value = value.encode()
        out.append(_literal(name, value))
    return b"".join(out)


def trailers_block(code: int, details: str = "", metadata=()) -> bytes:
    block = _literal(b"grpc-status", str(int(code)).encode())
    if details:
        block += _literal(b"grpc-message", grpc_message(details))
    return block + metadata_block(metadata)


_OK_TRAILERS = trailers_block(OK)
