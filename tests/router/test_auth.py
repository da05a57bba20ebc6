"""router.api.auth.ApiKey: where a request's key may come from, and what a refusal says."""

from __future__ import annotations

from router.api.auth import INVALID, MISSING, ApiKey


def test_the_key_in_its_header_or_as_a_bearer_token():
    key = ApiKey("k3y")
    assert key.refusal("k3y", None) is None
    assert key.refusal(b"k3y", None) is None
    assert key.refusal(None, "Bearer k3y") is None
    assert key.refusal(None, b"bearer k3y") is None


def test_missing_or_wrong_credentials_are_refused():
    key = ApiKey("k3y")
    assert key.refusal(None, None) == MISSING
    assert key.refusal(None, "Basic k3y") == MISSING
    assert key.refusal(None, "Bearer ") == MISSING
    assert key.refusal("k3", None) == INVALID
    assert key.refusal("", None) == INVALID
    assert key.refusal(None, "Bearer k3yy") == INVALID
    assert key.refusal("wrong", "Bearer k3y") == INVALID  # the api-key header is the one read


def test_headers_as_asgi_gives_them_and_the_secret_stays_out_of_repr():
    key = ApiKey("k3y")
    assert key.refusal_of_headers([(b"host", b"x"), (b"api-key", b"k3y")]) is None
    assert key.refusal_of_headers([(b"authorization", b"Bearer k3y")]) is None
    assert key.refusal_of_headers([(b"host", b"x")]) == MISSING
    assert "k3y" not in repr(key)
