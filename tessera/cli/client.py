"""The admin commands' one way to a node: Qdrant's public REST API over httpx, with the
exit codes a script can trust (0 ok, 1 the operation failed, 2 usage, 3 the server cannot be
reached) and the server's own error message (``{"status": {"error": ...}}``) when it refuses.

Nothing here knows Tessera's internals, so every command works against Qdrant too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

OK = 0
FAILED = 1
USAGE = 2
UNREACHABLE = 3

DEFAULT_URL = "http://127.0.0.1:6333"


class CliError(Exception):
    """A command cannot go on: one line for stderr and the exit code."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def server_message(resp: httpx.Response) -> str:
    """The error text Qdrant puts in ``status.error``, else the body (shortened)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
        if isinstance(status, str) and status not in ("ok", "acknowledged"):
            return status
    text = resp.text.strip().replace("\n", " ")
    return text[:300] or resp.reason_phrase


@dataclass
class Api:
    """A node's REST API: ``get``/``post``/... return the envelope's ``result``."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    timeout: float = 30.0
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            headers = {"api-key": self.api_key} if self.api_key else {}
            self._http = httpx.Client(base_url=self.url.rstrip("/"), headers=headers,
                                      timeout=self.timeout)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The raw response of a 2xx answer; CliError otherwise."""
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise CliError(f"{method} {self.url}{path}: no answer within {self.timeout:g} s "
                           f"({type(exc).__name__})", UNREACHABLE) from None
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach {self.url}: {exc or type(exc).__name__}",
                           UNREACHABLE) from None
        if resp.status_code >= 400:
            message = server_message(resp)
            if resp.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
                message += " (this server does not have this route: a feature it lacks)"
            raise CliError(f"{method} {path}: {resp.status_code} {message}")
        return resp

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.request(method, path, **kw)
        try:
            return resp.json().get("result")
        except ValueError:
            raise CliError(f"{method} {path}: the answer is not JSON") from None

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.call("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.call("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)
