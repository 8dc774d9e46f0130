"""Authorization code + PKCE: the RFC 7636 test vector, the request we build, and every redirect check."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from airflow_oauth_provider import authorization
from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2InsecureTransportError, OAuth2TokenError
from airflow_oauth_provider.grants.authorization_code import (
    AuthorizationCodeGrant,
    OAuth2AuthorizationError,
    code_challenge_s256,
    new_code_verifier,
)
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from tests.cli.helpers import redirect_uri, stored, unique_conn_id
from tests.user_agent import consent

UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@pytest.fixture
def rfc7636_appendix_b() -> dict[str, str]:
    """RFC 7636 Appendix B: the S256 example."""
    return {
        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    }


@pytest.fixture
def conn(sandbox, make_conn):
    def make(**extra):
        fields = {
            "conn_id": unique_conn_id("code_grant"),
            "host": sandbox.url,
            "grant_type": "authorization_code",
            "token_url": f"{sandbox.url}/token",
            "authorization_url": f"{sandbox.url}/authorize",
            "redirect_uri": redirect_uri(),
            "scope": "items:read offline_access",
        }
        return make_conn(**(fields | extra))

    return make


def grant_of(conn_id: str) -> AuthorizationCodeGrant:
    grant = OAuth2Hook(oauth2_conn_id=conn_id).grant
    assert isinstance(grant, AuthorizationCodeGrant)
    return grant


# -- PKCE ---------------------------------------------------------------------------------------


def test_rfc7636_appendix_b_vector(rfc7636_appendix_b):
    assert code_challenge_s256(rfc7636_appendix_b["code_verifier"]) == rfc7636_appendix_b["code_challenge"]


def test_verifier_is_long_unreserved_and_fresh():
    verifiers = {new_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert UNRESERVED.match(verifier), verifier


def test_authorization_request(conn):
    conn_id = conn(authorization_params={"prompt": "consent"})
    grant = grant_of(conn_id)
    first, second = grant.authorization_request(("jobs",)), grant.authorization_request()

    query = {k: v[0] for k, v in parse_qs(urlsplit(first.url).query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": first.redirect_uri,
        "state": first.state,
        "code_challenge": code_challenge_s256(first.code_verifier),
        "code_challenge_method": "S256",
        "scope": "items:read offline_access jobs",
        "prompt": "consent",
    }
    assert first.scope == ("items:read", "offline_access", "jobs")
    assert UNRESERVED.match(first.code_verifier) and first.code_verifier not in first.url
    # state: unguessable (256 bits from a CSPRNG) and new for every request
    assert len(first.state) >= 43 and first.state != second.state
    assert first.code_verifier != second.code_verifier
    assert first.code_verifier not in repr(first)  # the state is in the URL the user opens anyway


def test_authorization_params_cannot_override_the_protocol(conn):
    conn_id = conn(authorization_params={"state": "fixed", "code_challenge_method": "plain"})
    with pytest.raises(OAuth2ConfigError, match="code_challenge_method, state"):
        grant_of(conn_id).authorization_request()


def test_exchange_request_carries_verifier_and_redirect_uri_not_scope(conn):
    grant = grant_of(conn())
    request = grant.authorization_request()
    exchange = grant.exchange_request("the-code", request)
    assert dict(exchange.data) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.code_verifier,
    }
    assert exchange.headers["Authorization"].startswith("Basic ")
    assert exchange.requested_scope == ("items:read", "offline_access")


# -- the redirect ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redirect", "message"),
    [
        ("{base}?code=c", "state does not match"),
        ("{base}?code=c&state=other", "state does not match"),
        ("{base}?state={state}", "carries no authorization code"),
        ("http://127.0.0.1:1/callback?code=c&state={state}", "not the connection's redirect_uri"),
        ("{base}/elsewhere?code=c&state={state}", "not the connection's redirect_uri"),
        ("https://{hostport}/callback?code=c&state={state}", "not the connection's redirect_uri"),
        ("c0de", "is not the URL the browser was redirected to"),
        ("http://127.0.0.1:99999999/callback", "is not the URL the browser was redirected to"),
        ("{base}?code=c&state={state}&iss=http%3A%2F%2Fevil.example", "RFC 9207"),
    ],
)
def test_bad_redirects_are_refused(sandbox, conn, redirect, message):
    conn_id = conn(issuer=sandbox.url)
    grant = grant_of(conn_id)
    request = grant.authorization_request()
    url = redirect.format(
        base=request.redirect_uri, state=request.state, hostport=urlsplit(request.redirect_uri).netloc
    )
    with pytest.raises(OAuth2AuthorizationError, match=message) as caught:
        grant.code_from_redirect(url, request)
    assert f"`airflow oauth2 authorize {conn_id}`" in str(caught.value)


def test_error_redirect_names_the_error_and_what_to_do(conn):
    conn_id = conn()
    grant = grant_of(conn_id)
    request = grant.authorization_request()
    with pytest.raises(OAuth2TokenError) as caught:
        grant.code_from_redirect(f"{request.redirect_uri}?error=invalid_scope&state={request.state}", request)
    assert caught.value.error == "invalid_scope"
    assert "check the connection's client_id, redirect_uri and scope" in str(caught.value).lower()


def test_good_redirect_with_matching_iss(sandbox, conn):
    grant = grant_of(conn(issuer=sandbox.url))
    request = grant.authorization_request()
    url = f"{request.redirect_uri}/?code=abc&state={request.state}&iss={sandbox.url}"
    assert grant.code_from_redirect(url, request) == "abc"


# -- against the sandbox -------------------------------------------------------------------------


def test_consent_exchange_and_store(sandbox, conn):
    conn_id = conn()
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    request = authorization.begin_authorization(hook)
    token = authorization.finish_authorization(hook, request, consent(request.url))
    assert token.version == 1 and token.refresh_token and token.scope == ("items:read", "offline_access")
    assert stored(conn_id).access_token == token.access_token
    assert hook.run("GET", "/api/me").json()["user"] == "alice"


def test_the_server_checks_our_verifier(sandbox, conn):
    """A wrong verifier is refused by the sandbox: the challenge we sent is S256 of the real one."""
    conn_id = conn()
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    request = authorization.begin_authorization(hook)
    location = consent(request.url)
    forged = type(request)(request.url, request.state, new_code_verifier(), request.redirect_uri, request.scope)
    with pytest.raises(OAuth2TokenError, match="refused the authorization code: invalid_grant") as caught:
        authorization.finish_authorization(hook, forged, location)
    assert caught.value.error == "invalid_grant"
    assert stored(conn_id) is None
    assert dict(parse_qsl(urlsplit(location).query))["state"] == request.state


def test_plain_http_redirect_uri_must_be_loopback(conn):
    conn_id = conn(redirect_uri="http://airflow.example.com/oauth2/callback")
    with pytest.raises(OAuth2InsecureTransportError, match="extra.redirect_uri"):
        grant_of(conn_id).authorization_request()
    assert grant_of(conn(redirect_uri="https://airflow.example.com/oauth2/callback")).authorization_request()
