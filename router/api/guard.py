"""The door every face goes through: credentials (router.api.auth) checked against the rule of
the operation asked for (router.api.access_rules), one object shared by the REST and gRPC faces.

With no key configured every request is served with full access, at no cost. With a key the
read-write key costs one constant-time comparison; other credentials add one route lookup.
"""

from __future__ import annotations

import logging
from typing import Any

from router.api.access import FULL, MANAGE, Access, Need
from router.api.access_rules import RULES, Rules
from router.api.auth import Authenticator

log = logging.getLogger(__name__)


class Guard:
    def __init__(self, auth: Authenticator | None, rules: Rules = RULES) -> None:
        self.auth = auth if auth is not None and auth.secured else None
        self.rules = rules

    @property
    def secured(self) -> bool:
        return self.auth is not None

    def admit_rest(self, method: str, path: str, headers) -> Access:
        """The access a REST request is served with; raises `Refusal`. A path no rule covers
        needs a valid credential and goes on to the router (which answers 404)."""
        auth = self.auth
        if auth is None:
            return FULL
        rule = self.rules.rest(method, path)
        if rule is not None and rule[0] is Need.OPEN:
            return FULL
        access = auth.authenticate_headers(headers)
        if access.mode == MANAGE or rule is None:
            return access
        self._check(access, rule[0], rule[1], f"{method} {path}")
        return access

    def admit_grpc(self, path: str, api_key: Any, authorization: Any) -> tuple[Access, Need]:
        """The access a gRPC call is served with and the need still to check once its
        request names a collection (`check`); raises `Refusal`. A method without a rule is
        served only to the read-write key."""
        need = self.rules.grpc(path)
        if self.auth is None or need is Need.OPEN:
            return FULL, Need.OPEN
        access = self.auth.authenticate(api_key, authorization)
        need = Need.INTERNAL if need is None else need
        if need is not Need.COLLECTION_READ and need is not Need.COLLECTION_WRITE:
            self._check(access, need, None, path)
        return access, need

    def check(self, access: Access, need: Need, collection: str | None, what: str) -> None:
        """Raises `Refusal` unless ``access`` meets ``need`` on ``collection``."""
        if access.mode != MANAGE:
            self._check(access, need, collection, what)

    def check_references(self, access: Access, names, what: str) -> None:
        """Read access to each other collection a request reads (router.api.access_references);
        only a per-collection access can lack it."""
        if access.mode is None:
            for name in names:
                self._check(access, Need.COLLECTION_READ, name, what)

    @staticmethod
    def _check(access: Access, need: Need, collection: str | None, what: str) -> None:
        refusal = access.refusal(need, collection)
        if refusal is not None:
            log.info("refused %s to %s: %s", what, access.subject or "an unnamed credential",
                     refusal.message)
            raise refusal


def value_exists_in(toc):
    """The ``value_exists`` lookup of JWT claims against ``toc``: does a point match every
    ``key = value`` pair (None: no such collection)."""
    from node.errors import NotFound
    from router.operations import reads

    def exists(collection: str, matches: list[dict[str, Any]]) -> bool | None:
        try:
            target = toc.get(collection)
        except NotFound:
            return None
        must = [{"key": m["key"], "match": {"value": m["value"]}} for m in matches]
        records, _ = reads.scroll(target, {"filter": {"must": must}, "limit": 1,
                                           "with_payload": False, "with_vector": False})
        return bool(records)

    return exists
