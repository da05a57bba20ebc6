"""Responses leave the REST face whole and in order: writes are joined per event-loop turn
(router/rest/http_protocol.py), so pipelined requests and `Connection: close` are checked on a raw
socket, for the lean query path and for FastAPI routes alike."""

from __future__ import annotations

import socket

import orjson


def _responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read `count` Content-Length framed responses: [(status, body)]."""
    data = b""
    out = []
    while len(out) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1]) for line in head[1:]
                if line.lower().startswith("content-length:")
            )
            if len(data) >= end + 4 + length:
                out.append((int(head[0].split()[1]), data[end + 4 : end + 4 + length]))
                data = data[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(out)} of {count} responses"
        data += chunk
    return out


def _request(method: str, path: str, body: bytes = b"", close: bool = False) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + body


def test_pipelined_requests_are_answered_whole_and_in_order(node, http, collection_name):
    http.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    http.put(
        f"/collections/{collection_name}/points?wait=true",
        json={"points": [{"id": 1, "vector": [1.0, 0.0]}, {"id": 2, "vector": [0.0, 1.0]}]},
    )
    query = orjson.dumps({"query": [0.0, 1.0], "limit": 1})
    with socket.create_connection((node.host, node.http_port), timeout=10) as sock:
        sock.sendall(
            _request("POST", f"/collections/{collection_name}/points/query", query)
            + _request("GET", "/healthz")
            + _request("POST", f"/collections/{collection_name}/points/query", b"{bad")
            + _request("GET", f"/collections/{collection_name}")
        )
        answers = _responses(sock, 4)
    assert [status for status, _ in answers] == [200, 200, 400, 200]
    assert [p["id"] for p in orjson.loads(answers[0][1])["result"]["points"]] == [2]
    assert b"healthz check passed" in answers[1][1]
    assert "error" in orjson.loads(answers[2][1])["status"]
    assert orjson.loads(answers[3][1])["result"]["points_count"] == 2


def test_connection_close_gets_the_whole_answer_then_eof(node, http, collection_name):
    http.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    query = orjson.dumps({"query": [1.0, 0.0], "limit": 3})
    with socket.create_connection((node.host, node.http_port), timeout=10) as sock:
        sock.sendall(
            _request("POST", f"/collections/{collection_name}/points/query", query, close=True)
        )
        ((status, body),) = _responses(sock, 1)
        assert status == 200 and orjson.loads(body)["result"] == {"points": []}
        assert sock.recv(65536) == b""  # and then the server closes


def test_an_empty_query_body_is_a_format_error_on_the_lean_path(node, http, collection_name):
    http.put(f"/collections/{collection_name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    with socket.create_connection((node.host, node.http_port), timeout=10) as sock:
        sock.sendall(_request("POST", f"/collections/{collection_name}/points/query")
                     + _request("POST", f"/collections/{collection_name}/points/query", b"[]"))
        (status, body), (status2, body2) = _responses(sock, 2)
    assert status == 400
    assert orjson.loads(body)["status"]["error"] == (
        "Format error in JSON body: EOF while parsing a value at line 1 column 0"
    )
    assert status2 == 400 and "error" in orjson.loads(body2)["status"]
