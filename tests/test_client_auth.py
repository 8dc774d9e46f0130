"""
Client authentication, each method obtaining a token from the sandbox, and what we send (read from the stub).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from urllib.parse import quote

import jwt
import pytest

from airflow_oauth_provider import authorization
from airflow_oauth_provider.client_auth import ClientSecretBasic
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.protocol import TokenRequest
from airflow_oauth_provider.tokens.store import clear_process_cache
from tests.cli.helpers import authorize_in_process, redirect_uri, reset_stub, secrets_of, unique_conn_id
from tests.grants.keys import form_of, new_key, private_pem, public_jwk, token_response
from tests.stub_server import StubServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def module_stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def stub(module_stub: StubServer) -> StubServer:
    return reset_stub(module_stub)


@pytest.fixture(scope="module")
def keys():
    return {algorithm: new_key(algorithm) for algorithm in ("RS256", "ES256")}


def assertions_sent(stub: StubServer) -> list[dict]:
    forms = [form_of(r.body) for r in stub.requests]
    for form in forms:
        assert form["client_assertion_type"] == ASSERTION_TYPE
    return [form["client_assertion"] for form in forms]


def check_claims(claims: list[dict], client_id: str, audience: str) -> None:
    now = time.time()
    for claim in claims:
        assert claim["iss"] == claim["sub"] == client_id
        assert claim["aud"] == audience
        assert now - 15 < claim["iat"] <= now  # slightly in the past: tolerates the server's clock
        assert claim["exp"] - claim["iat"] <= 120 and claim["exp"] > now
    assert len({claim["jti"] for claim in claims}) == len(claims)


def client_log(caplog) -> str:
    """What the client side logged (the in-process sandbox's Authlib logs secrets at DEBUG: it is the server)."""
    server = ("authlib", "airflow_oauth_provider.sandbox", "werkzeug")
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(server))


def fetch_twice(conn_id: str) -> None:
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    hook.get_token()
    clear_process_cache()
    hook.get_token()


# -- client_secret_basic / post ---------------------------------------------------------------------


def test_basic_form_urlencodes_before_base64():
    """RFC 6749 §2.3.1: each of id and secret is application/x-www-form-urlencoded, then joined by ':'."""
    request = ClientSecretBasic("client:1 ü", "s3cr:t ü+/%").apply(TokenRequest("https://as/token", []))
    encoded = request.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode("ascii") == "client%3A1%20%C3%BC:s3cr%3At%20%C3%BC%2B%2F%25"


def test_basic_with_colon_and_non_ascii_secret_against_the_sandbox(sandbox, make_conn, caplog):
    client_id, secret = "basic:client-ü", "pa:ss wörd+/%=ß"
    sandbox.register_client(client_id=client_id, client_secret=secret, scope="items:read")
    conn_id = make_conn(
        conn_id=unique_conn_id("basic"),
        host=sandbox.url,
        login=client_id,
        password=secret,
        token_url=f"{sandbox.url}/token",
    )
    with caplog.at_level(logging.DEBUG):
        token = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    assert OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/me").json()["client_id"] == client_id
    assert "Requesting a token" in client_log(caplog)
    for value in [secret, quote(secret, safe=""), *secrets_of(token)]:
        assert value not in client_log(caplog)


def test_post(sandbox, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("post"),
        host=sandbox.url,
        token_url=f"{sandbox.url}/token",
        client_auth_method="client_secret_post",
    )
    assert OAuth2Hook(oauth2_conn_id=conn_id).get_token().access_token


# -- private_key_jwt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_private_key_jwt_against_the_sandbox(sandbox, make_conn, keys, algorithm, caplog):
    key = keys[algorithm]
    client_id = unique_conn_id(f"pkjwt_{algorithm.lower()}")
    sandbox.register_client(
        client_id=client_id,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public_jwk(key, kid="key-1")]},
        scope="items:read",
    )
    pem = private_pem(key)
    conn_id = make_conn(
        conn_id=unique_conn_id("pkjwt"),
        host=sandbox.url,
        login=client_id,
        password=None,
        issuer=sandbox.url,
        client_auth_method="private_key_jwt",
        private_key=pem,
        private_key_id="key-1",
        scope="items:read",
    )
    with caplog.at_level(logging.DEBUG):
        token = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
        clear_process_cache()
        OAuth2Hook(oauth2_conn_id=conn_id).get_token()  # a second assertion: a new jti, accepted too
    assert token.scope == ("items:read",)
    for value in [*secrets_of(token), pem.splitlines()[1]]:
        assert value not in client_log(caplog)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_private_key_jwt_assertion(stub, make_conn, keys, algorithm):
    key = keys[algorithm]
    token_url = f"{stub.url}/oauth2/token"
    stub.add_json(200, token_response())
    conn_id = make_conn(
        conn_id=unique_conn_id("pkjwt_stub"),
        host=stub.url,
        login="the-client",
        password=None,
        token_url=token_url,
        client_auth_method="private_key_jwt",
        private_key=private_pem(key),
        private_key_id="key-1",
    )
    fetch_twice(conn_id)

    claims = []
    for assertion in assertions_sent(stub):
        assert jwt.get_unverified_header(assertion) == {"alg": algorithm, "kid": "key-1", "typ": "JWT"}
        claims.append(jwt.decode(assertion, key.public_key(), algorithms=[algorithm], audience=token_url))
    check_claims(claims, "the-client", token_url)
    assert all("Authorization" not in r.headers for r in stub.requests)
    assert all(form_of(r.body)["client_id"] == "the-client" for r in stub.requests)


# -- client_secret_jwt -----------------------------------------------------------------------------


def test_client_secret_jwt_against_the_sandbox(sandbox, make_conn, caplog):
    conn_id = make_conn(
        conn_id=unique_conn_id("csjwt"),
        host=sandbox.url,
        token_url=f"{sandbox.url}/token",
        client_auth_method="client_secret_jwt",
    )
    with caplog.at_level(logging.WARNING):
        fetch_twice(conn_id)  # the short sandbox secret: logged, never a Python warning (filterwarnings=error)
    assert client_log(caplog).count("shorter than the 32 bytes") == 1
    assert "sandbox-secret" not in client_log(caplog)


def test_client_secret_jwt_assertion(stub, make_conn):
    secret = "a-long-enough-client-secret-of-40-bytes!"
    token_url = f"{stub.url}/token"
    stub.add_json(200, token_response())
    conn_id = make_conn(
        conn_id=unique_conn_id("csjwt_stub"),
        host=stub.url,
        login="the-client",
        password=secret,
        token_url=token_url,
        client_auth_method="client_secret_jwt",
    )
    fetch_twice(conn_id)

    claims = []
    for assertion in assertions_sent(stub):
        assert jwt.get_unverified_header(assertion)["alg"] == "HS256"
        claims.append(jwt.decode(assertion, secret, algorithms=["HS256"], audience=token_url))
    check_claims(claims, "the-client", token_url)
    assert all(secret not in r.body.decode() and "Authorization" not in r.headers for r in stub.requests)


# -- none: a public client ------------------------------------------------------------------------------


def test_public_client(sandbox, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("public"),
        host=sandbox.url,
        login="sandbox-public",
        password=None,
        client_auth_method="none",
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        scope="items:read",
    )
    token = authorize_in_process(conn_id)
    assert token.refresh_token
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    request = hook.grant.refresh_request(token)
    assert dict(request.data)["client_id"] == "sandbox-public" and "Authorization" not in request.headers
    assert hook.get_token(rejected=token).version == 2  # refreshed as a public client


# -- the same assertions at the revocation endpoint ----------------------------------------------------


def test_private_key_jwt_at_the_revocation_endpoint(sandbox, make_conn, keys):
    """The assertion's audience is the token endpoint wherever it is sent: the sandbox refuses anything else."""
    key = keys["ES256"]
    client_id = unique_conn_id("pkjwt_user")
    sandbox.register_client(
        client_id=client_id,
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["authorization_code", "refresh_token"],
        jwks={"keys": [public_jwk(key, kid="key-1")]},
        scope="items:read",
    )
    conn_id = make_conn(
        conn_id=unique_conn_id("pkjwt_revoke"),
        host=sandbox.url,
        login=client_id,
        password=None,
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        client_auth_method="private_key_jwt",
        private_key=private_pem(key),
        scope="items:read",
    )
    authorize_in_process(conn_id)
    revocations = sandbox.stats()["revocations"]

    lines = authorization.revoke(OAuth2Hook(oauth2_conn_id=conn_id))

    assert lines[:2] == [
        f"revoked the refresh_token at {sandbox.url}/revoke",
        f"revoked the access_token at {sandbox.url}/revoke",
    ]
    assert sandbox.stats()["revocations"] == revocations + 2


def test_quote_matches_what_the_sandbox_decodes():
    assert quote("a:b ü", safe="") == "a%3Ab%20%C3%BC"
