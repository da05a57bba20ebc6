"""router.api.auth.Authenticator: where a credential may come from, which access each kind of
credential grants, and Qdrant's refusals for every kind of bad one."""

from __future__ import annotations

import time

import jwt
import pytest

from router.api import auth
from router.api.access import FULL, READ_ONLY, Refusal
from router.api.auth import INVALID, MISSING, STATEFUL_FAILED, Authenticator

# short keys are what some deployments use; PyJWT warns about them when signing test tokens
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

KEY = "k3y-that-signs-the-tokens-and-is-32-bytes-or-more"


def _token(claims: dict, key: str = KEY, algorithm: str = "HS256") -> str:
    claims.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(claims, key, algorithm=algorithm)


def _refusal(authenticator: Authenticator, api_key=None, authorization=None) -> tuple[int, str]:
    with pytest.raises(Refusal) as info:
        authenticator.authenticate(api_key, authorization)
    return info.value.status, info.value.message


def test_the_keys_in_their_header_or_as_a_bearer_token():
    keys = Authenticator("k3y", read_only_api_key="r3ad")
    assert keys.authenticate("k3y", None) is FULL
    assert keys.authenticate(b"k3y", None) is FULL
    assert keys.authenticate(None, "Bearer k3y") is FULL
    assert keys.authenticate(None, b"Bearer r3ad") is READ_ONLY
    assert keys.authenticate_headers([(b"host", b"x"), (b"api-key", b"r3ad")]) is READ_ONLY
    assert "k3y" not in repr(keys) and "r3ad" not in repr(keys)


def test_missing_or_wrong_keys_are_refused():
    keys = Authenticator("k3y", read_only_api_key="r3ad")
    assert _refusal(keys) == (401, MISSING)
    assert _refusal(keys, None, "Basic k3y") == (401, MISSING)
    assert _refusal(keys, None, "bearer k3y") == (401, MISSING)  # Qdrant's prefix is exact
    for wrong in ("k3", "", "r3adr3ad", "k3yy"):
        assert _refusal(keys, wrong) == (401, INVALID)
    assert _refusal(keys, "wrong", "Bearer k3y") == (401, INVALID)  # api-key is the one read
    # without jwt_rbac a well-signed token is just a wrong key
    assert _refusal(keys, _token({"access": "m"}, key="k3y")) == (401, INVALID)


def test_tokens_grant_their_claims():
    keys = Authenticator(KEY, jwt_rbac=True)
    read = keys.authenticate(_token({"access": "r", "subject": "ann"}), None)
    assert (read.mode, read.subject, read.internal) == ("r", "ann", False)
    manage = keys.authenticate(None, "Bearer " + _token({}))  # no access claim: manage
    assert manage.mode == "m" and not manage.internal  # never the peer services' key
    listed = keys.authenticate(_token({"access": [{"collection": "a", "access": "rw"},
                                                  {"collection": "b", "access": "r"}]}), None)
    assert listed.mode is None and dict(listed.collections) == {"a": "rw", "b": "r"}


def test_bad_tokens_are_refused_as_qdrant_refuses_them():
    keys = Authenticator(KEY, jwt_rbac=True)
    assert _refusal(keys, _token({"access": "r"}, key="another-key")) == (403, "InvalidSignature")
    expired = _token({"access": "r", "exp": int(time.time()) - 120})
    assert _refusal(keys, expired) == (403, "ExpiredSignature")
    recent = _token({"access": "r", "exp": int(time.time()) - 5})  # within the 30 s leeway
    assert keys.authenticate(recent, None).mode == "r"
    no_exp = jwt.encode({"access": "r"}, KEY, algorithm="HS256")
    assert _refusal(keys, no_exp) == (401, INVALID)
    assert _refusal(keys, _token({"access": "r"}, algorithm="HS512")) == (401, INVALID)
    unsigned = jwt.encode({"access": "m", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert _refusal(keys, unsigned) == (401, INVALID)
    assert _refusal(keys, "not.a.jwt") == (401, INVALID)
    assert _refusal(keys, _token({"access": "x"})) == (401, INVALID)
    assert _refusal(keys, _token({"access": [{"collection": "a", "access": "m"}]})) == \
        (401, INVALID)
    twice = [{"collection": "a", "access": "r"}, {"collection": "a", "access": "rw"}]
    assert _refusal(keys, _token({"access": twice}))[0] == 401


def test_a_cached_token_still_expires(monkeypatch):
    keys = Authenticator(KEY, jwt_rbac=True)
    token = _token({"access": "r", "exp": int(time.time()) + 1})
    assert keys.authenticate(token, None).mode == "r"
    later = time.time() + 40
    monkeypatch.setattr(auth.time, "time", lambda: later)
    assert _refusal(keys, token) == (403, "ExpiredSignature")


def test_value_exists_is_rechecked_at_a_bounded_interval_off_the_request(monkeypatch):
    present = {"value": True}
    calls = []

    def exists(collection, matches):
        calls.append((collection, matches))
        return present["value"]

    keys = Authenticator(KEY, jwt_rbac=True, value_exists=exists)
    claim = {"collection": "users", "matches": [{"key": "user", "value": "ann"}]}
    token = _token({"access": "r", "value_exists": claim})
    gone = _token({"access": "r", "value_exists": claim, "sub": "other"})
    now = [1000.0]
    monkeypatch.setattr(auth.time, "time", lambda: now[0])
    for _ in range(3):
        assert keys.authenticate(token, None).mode == "r"
    assert calls == [("users", [{"key": "user", "value": "ann"}])]  # once, then cached
    present["value"] = False
    assert keys.authenticate(token, None).mode == "r"  # within the interval
    now[0] += auth.VALUE_EXISTS_RECHECK_SEC
    assert keys.authenticate(token, None).mode == "r"  # served while the re-check runs
    _wait(lambda: len(calls) == 2)
    _wait(lambda: not keys._tokens.get(token.encode(), auth._Token(None, None, None)).checking)
    assert _refusal(keys, token) == (401, STATEFUL_FAILED)
    present["value"] = None  # the collection is gone: a new token finds out on first use
    assert _refusal(keys, gone) == (403, STATEFUL_FAILED)


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
