"""The API key (``service.api_key``), checked the way Qdrant checks it on both faces.

A request carries the key in an ``api-key`` header (gRPC: metadata), or as a bearer token in
``authorization``. Without either it is refused as unauthenticated, with a wrong one likewise;
the health probes stay open so that orchestrators can watch a node without the secret.
"""

from __future__ import annotations

import hmac

MISSING = "Must provide an API key or an Authorization bearer token"
INVALID = "Invalid API key or JWT"

#: REST paths answered without a key (liveness and readiness probes, the version banner).
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/livez"})

#: gRPC methods answered without a key (the health checks).
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/qdrant.Qdrant/HealthCheck"})


class ApiKey:
    """The node's key; `refusal` says why a request's credentials do not pass (None: they do)."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def __repr__(self) -> str:  # never the secret itself
        return "ApiKey(***)"

    def refusal(self, api_key: str | bytes | None, authorization: str | bytes | None) -> str | None:
        given = api_key
        if given is None and authorization is not None:
            scheme, _, token = _bytes(authorization).partition(b" ")
            if scheme.lower() == b"bearer" and token:
                given = token.strip()
        if given is None:
            return MISSING
        return None if hmac.compare_digest(_bytes(given), self._key) else INVALID

    def refusal_of_headers(self, headers) -> str | None:
        """`refusal` for ASGI-style headers: (lower-case name, value) byte pairs."""
        api_key = authorization = None
        for name, value in headers:
            if name == b"api-key":
                api_key = value
            elif name == b"authorization":
                authorization = value
        return self.refusal(api_key, authorization)


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
