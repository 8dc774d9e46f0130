"""
Every malformed or hostile token-endpoint answer becomes a named error, through the real hook.

These answers come from a scripted stub server: a standards-compliant server never sends them.
"""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

from airflow_oauth_provider.exceptions import (
    OAuth2ReauthorizationRequired,
    OAuth2ResponseError,
    OAuth2TokenError,
    OAuth2TransportError,
)
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

GOOD = {"access_token": "good-access-token-1", "token_type": "Bearer", "expires_in": 3600}


@pytest.fixture
def hook_for(stub, make_conn):
    def make(**extra) -> OAuth2Hook:
        extra.setdefault("token_retries", 0)
        return OAuth2Hook(oauth2_conn_id=make_conn(token_url=f"{stub.url}/token", **extra))

    return make


def error_of(hook: OAuth2Hook, cls: type[Exception] = OAuth2ResponseError) -> Exception:
    with pytest.raises(cls) as info:
        hook.get_token()
    return info.value


def test_html_error_page_on_200(stub, hook_for):
    stub.add(200, "<html><body><h1>Login required</h1></body></html>", content_type="text/html")
    err = error_of(hook_for())
    assert type(err) is OAuth2ResponseError
    assert str(err) == (
        f"token endpoint {stub.url}/token answered HTTP 200 with a body that is not JSON "
        "(content type text/html): <html><body><h1>Login required</h1></body></html>"
    )


def test_html_error_page_on_400(stub, hook_for):
    stub.add(400, "<html>Bad Request</html>", content_type="text/html; charset=utf-8")
    err = error_of(hook_for())
    assert "HTTP 400 with a body that is not JSON (content type text/html; charset=utf-8)" in str(err)
    assert err.status == 400


def test_empty_body(stub, hook_for):
    stub.add(200, "", content_type="application/json")
    assert str(error_of(hook_for())).endswith("not JSON (content type application/json): (empty body)")


def test_json_that_is_not_an_object(stub, hook_for):
    stub.add_json(200, ["access_token", "x"])
    assert "JSON that is not an object (a list)" in str(error_of(hook_for()))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"token_type": "Bearer", "expires_in": 60}, "field 'access_token' is missing or not a non-empty string"),
        ({"access_token": "", "token_type": "Bearer"}, "field 'access_token' is missing or not a non-empty string"),
        ({"access_token": "abcdefgh"}, "field 'token_type' is missing or not a string (RFC 6749 §5.1 requires it)"),
        (
            {"access_token": "abcdefgh", "token_type": "mac"},
            "field 'token_type' is 'mac'; only Bearer tokens (RFC 6750) are supported",
        ),
        ({**GOOD, "expires_in": "soon"}, "field 'expires_in' is 'soon', not a number of seconds"),
        ({**GOOD, "expires_in": True}, "field 'expires_in' is a boolean, not a number of seconds"),
        ({**GOOD, "expires_in": -5}, "field 'expires_in' is negative (-5)"),
        ({**GOOD, "expires_in": [1]}, "field 'expires_in' is not a number of seconds"),
        ({**GOOD, "scope": 7}, "field 'scope' is not a string"),
        ({**GOOD, "refresh_token": 12}, "field 'refresh_token' is not a non-empty string"),
    ],
)
def test_invalid_fields_are_named(stub, hook_for, payload, message):
    stub.add_json(200, payload)
    err = error_of(hook_for())
    assert str(err) == f"token response from {stub.url}/token: {message}"


def test_string_expires_in_is_accepted(stub, hook_for):
    stub.add_json(200, {**GOOD, "expires_in": "120"})
    token = hook_for().get_token()
    assert token.expires_at is not None
    assert 110 < token.expires_at - time.time() <= 120


def test_missing_expires_in_uses_the_default_and_warns_once(stub, hook_for, caplog):
    stub.add_json(200, {"access_token": "no-expiry-token", "token_type": "bearer"})
    hook = hook_for(default_expires_in=900)
    with caplog.at_level(logging.WARNING):
        token = hook.get_token()
        hook.store.get(hook._obtain, rejected=token)  # a second response without expires_in
    assert 890 < token.expires_at - time.time() <= 900
    warnings = [r for r in caplog.records if "has no 'expires_in'" in r.getMessage()]
    assert len(warnings) == 1
    assert "assuming 900 s" in warnings[0].getMessage()


def test_rfc6749_error_response(stub, hook_for):
    stub.add_json(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    err = error_of(hook_for(), OAuth2TokenError)
    assert (err.error, err.error_description, err.status) == ("invalid_client", "Client authentication failed", 401)
    assert str(err) == "token endpoint answered HTTP 401 error='invalid_client': Client authentication failed"


def test_error_field_on_http_200(stub, hook_for):
    stub.add_json(200, {"error": "invalid_scope"})
    err = error_of(hook_for(), OAuth2TokenError)
    assert err.error == "invalid_scope"


def test_error_status_without_error_field(stub, hook_for):
    stub.add_json(403, {"message": "forbidden"})
    err = error_of(hook_for())
    assert str(err) == (
        f"token endpoint {stub.url}/token answered HTTP 403 without an RFC 6749 'error' field (application/json)"
    )


def test_invalid_grant_on_seed_refresh_token_means_reauthorize(stub, hook_for):
    stub.add_json(400, {"error": "invalid_grant", "error_description": "Token reused"})
    hook = hook_for(grant_type="refresh_token", refresh_token="seed-refresh-token", persist_token=False)
    err = error_of(hook, OAuth2ReauthorizationRequired)
    assert err.error == "invalid_grant"
    assert f"airflow oauth2 authorize {hook.oauth2_conn_id}" in str(err)


def test_429_with_retry_after_seconds_is_waited_out(stub, hook_for):
    stub.add(429, "slow down", content_type="text/plain", retry_after="1")
    stub.add_json(200, GOOD)
    started = time.monotonic()
    token = hook_for(token_retries=2).get_token()
    assert token.access_token == GOOD["access_token"]
    assert time.monotonic() - started >= 1.0
    assert len(stub.requests) == 2


def test_503_with_retry_after_http_date(stub, hook_for):
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    stub.add(503, "<html>maintenance</html>", content_type="text/html", retry_after=when)
    stub.add_json(200, GOOD)
    assert hook_for(token_retries=1).get_token().access_token == GOOD["access_token"]
    assert len(stub.requests) == 2


def test_retry_after_beyond_the_bound_fails_at_once(stub, hook_for):
    stub.add(429, "", retry_after="3600")
    err = error_of(hook_for(token_retries=3, max_retry_wait=5), OAuth2TransportError)
    assert err.status == 429
    assert "asked to wait 3600 s, more than extra.max_retry_wait" in str(err)
    assert len(stub.requests) == 1


def test_5xx_exhausts_retries_with_a_clear_error(stub, hook_for):
    stub.add(502, "<html>Bad gateway</html>", content_type="text/html")
    err = error_of(hook_for(token_retries=1, max_retry_wait=0.01), OAuth2TransportError)
    assert str(err) == f"token endpoint {stub.url}/token answered HTTP 502 (text/html): <html>Bad gateway</html>"
    assert len(stub.requests) == 2


def test_timeout_is_bounded_and_named(stub, hook_for):
    stub.add_json(200, GOOD)
    stub.script[0].delay = 2
    started = time.monotonic()
    err = error_of(hook_for(timeout=0.5), OAuth2TransportError)
    assert time.monotonic() - started < 1.9
    assert (
        str(err)
        == f"token endpoint {stub.url}/token timed out (ReadTimeout; extra.timeout is 0.5s connect / 0.5s read)"
    )


def test_refresh_is_not_retried_after_a_timeout(stub, hook_for):
    """A replayed refresh token would revoke the grant at servers with reuse detection."""
    stub.add_json(
        200,
        GOOD,
    )
    stub.script[0].delay = 2
    hook = hook_for(
        grant_type="refresh_token",
        refresh_token="seed-refresh-token",
        persist_token=False,
        timeout=0.5,
        token_retries=3,
    )
    err = error_of(hook, OAuth2TransportError)
    assert "not retried: the refresh request may have reached the server" in str(err)
    assert len(stub.requests) == 1


def test_refresh_is_not_retried_after_a_500(stub, hook_for):
    stub.add(500, "oops")
    hook = hook_for(
        grant_type="refresh_token", refresh_token="seed-refresh-token", persist_token=False, token_retries=3
    )
    error_of(hook, OAuth2TransportError)
    assert len(stub.requests) == 1


def test_token_values_in_an_error_body_are_redacted(stub, hook_for):
    stub.add(500, 'upstream said {"access_token": "leaked-token-value"}', content_type="text/plain")
    err = error_of(hook_for(), OAuth2TransportError)
    assert "leaked-token-value" not in str(err)
    assert '"access_token": "***"' in str(err)


def test_redirect_from_token_endpoint_is_not_followed(stub, hook_for):
    stub.add(302, "", location="https://evil.example/steal")
    err = error_of(hook_for())
    assert "HTTP 302" in str(err)
    assert len(stub.requests) == 1
