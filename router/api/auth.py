"""Who is asking: a request's credentials turned into an `Access`, the way Qdrant does it.

A request carries a credential in an ``api-key`` header (gRPC: metadata) or as
``Authorization: Bearer <credential>``. It is, in Qdrant's order: the read-write key
(``service.api_key``), the read-only key (``service.read_only_api_key``), or, with
``service.jwt_rbac``, a JWT signed HS256 with the read-write key. Keys are compared in constant
time. Decoding a JWT (PyJWT) costs tens of microseconds, so a decoded token is cached by its
text; each use re-checks its ``exp`` against the clock, and a ``value_exists`` claim is
looked up in the data on first use, then again every `VALUE_EXISTS_RECHECK_SEC` on a worker
thread (requests go on meanwhile; a failed check refuses the token from then on), so no lookup
ever runs on an event loop after the first.
"""

from __future__ import annotations

import hmac
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt

from router.api.access import FULL, MANAGE, READ, READ_ONLY, READ_WRITE, Access, Refusal

log = logging.getLogger(__name__)

MISSING = "Must provide an API key or an Authorization bearer token"
INVALID = "Invalid API key or JWT"
STATEFUL_FAILED = "Invalid JWT, stateful validation failed"

#: Seconds a token's ``exp`` may be past (clock skew between the issuer and this node).
LEEWAY_SEC = 30
#: How often a cached token's ``value_exists`` claim is looked up again.
VALUE_EXISTS_RECHECK_SEC = 5.0
#: Decoded tokens kept; the cache is emptied when it would grow past this.
CACHE_SIZE = 4096

#: ``exists(collection, matches)`` → True/False, or None when the collection does not exist.
ValueExists = Callable[[str, list[dict[str, Any]]], "bool | None"]


@dataclass
class _Token:
    access: Access
    exp: float | None
    value_exists: tuple[str, list[dict[str, Any]]] | None
    checked_at: float = 0.0
    checking: bool = False  # a re-check is running
    failed: Refusal | None = None  # what the last re-check found


class Authenticator:
    """The node's keys; `authenticate` gives a request's `Access` or raises `Refusal`."""

    def __init__(self, api_key: str | None, read_only_api_key: str | None = None,
                 jwt_rbac: bool = False, value_exists: ValueExists | None = None) -> None:
        self._key = api_key.encode() if api_key else None
        self._read_only = read_only_api_key.encode() if read_only_api_key else None
        self._jwt_secret = api_key if (jwt_rbac and api_key) else None
        self._value_exists = value_exists
        self._tokens: dict[bytes, _Token] = {}
        self._rechecks: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:  # never the secrets themselves
        return "Authenticator(***)"

    @property
    def secured(self) -> bool:
        return self._key is not None or self._read_only is not None

    def authenticate(self, api_key: str | bytes | None,
                     authorization: str | bytes | None) -> Access:
        given = _bytes(api_key) if api_key is not None else None
        if given is None and authorization is not None:
            header = _bytes(authorization)
            if header.startswith(b"Bearer "):
                given = header[7:]
        if given is None:
            raise Refusal(401, MISSING)
        if self._key is not None and hmac.compare_digest(given, self._key):
            return FULL
        if self._read_only is not None and hmac.compare_digest(given, self._read_only):
            return READ_ONLY
        if self._jwt_secret is not None:
            return self._token_access(given)
        raise Refusal(401, INVALID)

    def authenticate_headers(self, headers) -> Access:
        """`authenticate` for ASGI-style headers: (lower-case name, value) byte pairs."""
        api_key = authorization = None
        for name, value in headers:
            if name == b"api-key":
                api_key = value
            elif name == b"authorization":
                authorization = value
        return self.authenticate(api_key, authorization)

    # -- JWT ---------------------------------------------------------------------------------
    def _token_access(self, raw: bytes) -> Access:
        token = self._tokens.get(raw)
        now = time.time()
        if token is None:
            token = self._decode(raw)
            if len(self._tokens) >= CACHE_SIZE:
                self._tokens.clear()
            self._tokens[raw] = token
        elif token.exp is not None and now > token.exp + LEEWAY_SEC:
            del self._tokens[raw]
            raise Refusal(403, "ExpiredSignature")
        if token.value_exists is not None:
            if token.failed is not None:
                self._tokens.pop(raw, None)
                raise token.failed
            if not token.checked_at:  # first use: it is not admitted before the lookup
                self._check(raw, token)
                if token.failed is not None:
                    raise token.failed
            elif now - token.checked_at >= VALUE_EXISTS_RECHECK_SEC and not token.checking:
                token.checking = True
                if self._rechecks is None:
                    self._rechecks = ThreadPoolExecutor(1, thread_name_prefix="jwt-recheck")
                self._rechecks.submit(self._check, raw, token)
        return token.access

    def _decode(self, raw: bytes) -> _Token:
        try:
            with warnings.catch_warnings():  # PyJWT warns about short keys; Qdrant accepts them
                warnings.simplefilter("ignore")
                claims = jwt.decode(
                    raw, self._jwt_secret, algorithms=["HS256"], leeway=LEEWAY_SEC,
                    options={"require": ["exp"], "verify_aud": False, "verify_iat": False,
                             "verify_nbf": False},
                )
        except jwt.ExpiredSignatureError:
            raise Refusal(403, "ExpiredSignature") from None
        except jwt.InvalidSignatureError:
            raise Refusal(403, "InvalidSignature") from None
        except jwt.InvalidTokenError:  # not a JWT, another algorithm, no exp, ...
            raise Refusal(401, INVALID) from None
        return _claims(claims)

    def _check(self, raw: bytes, token: _Token) -> None:
        """Look a token's ``value_exists`` claim up; the outcome is kept on the token."""
        collection, matches = token.value_exists
        try:
            found = self._value_exists(collection, matches) if self._value_exists else None
        except Exception:  # a lookup that fails says nothing about the token: try again later
            log.exception("the value_exists lookup of a JWT failed")
            found = True
        finally:
            token.checked_at = time.time()
            token.checking = False
        if not found:
            token.failed = Refusal(403 if found is None else 401, STATEFUL_FAILED)


def _claims(claims: Mapping[str, Any]) -> _Token:
    """A decoded token's claims as a cached `_Token`; a claim of the wrong shape is refused
    the way Qdrant refuses a token it cannot deserialize (401)."""
    subject = claims.get("subject")
    subject = subject if isinstance(subject, str) else claims.get("sub")
    access = _access(claims.get("access", MANAGE), subject if isinstance(subject, str) else None)
    exp = claims.get("exp")
    value_exists = claims.get("value_exists")
    if value_exists is not None:
        value_exists = _value_exists_claim(value_exists)
    return _Token(access, float(exp) if isinstance(exp, (int, float)) else None, value_exists)


def _access(claim: Any, subject: str | None) -> Access:
    if claim in (READ, MANAGE):
        return Access(claim, subject=subject)
    if not isinstance(claim, list):
        raise Refusal(401, INVALID)
    collections: dict[str, str] = {}
    for item in claim:
        if (not isinstance(item, dict) or not isinstance(item.get("collection"), str)
                or item.get("access") not in (READ, READ_WRITE)):
            raise Refusal(401, INVALID)
        if "payload" in item:  # Qdrant dropped payload-restricted tokens
            raise Refusal(401, f"access: payload restriction is not supported for "
                               f"collection {item['collection']}")
        if item["collection"] in collections:
            raise Refusal(401, "access: Collection name should be unique")
        collections[item["collection"]] = item["access"]
    return Access(None, MappingProxyType(collections), subject=subject)


def _value_exists_claim(claim: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(claim, dict) or not isinstance(claim.get("collection"), str):
        raise Refusal(401, INVALID)
    matches = claim.get("matches")
    if not isinstance(matches, list) or not all(
            isinstance(m, dict) and isinstance(m.get("key"), str) and "value" in m
            for m in matches):
        raise Refusal(401, INVALID)
    return claim["collection"], [{"key": m["key"], "value": m["value"]} for m in matches]


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
