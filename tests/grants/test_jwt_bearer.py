"""The JWT bearer grant (RFC 7523 §2.1) against the sandbox, and the assertion it signs."""

from __future__ import annotations

import time

import jwt
import pytest

from airflow_oauth_provider.exceptions import OAuth2TokenError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.tokens.store import clear_process_cache
from tests.cli.helpers import unique_conn_id
from tests.grants.keys import form_of, new_key, private_pem, public_jwk, token_response

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def keys():
    return {algorithm: new_key(algorithm) for algorithm in ("RS256", "ES256")}


@pytest.fixture(params=["RS256", "ES256"])
def service_account(request, sandbox, keys):
    """A client registered at the sandbox with its public key, allowed the jwt-bearer grant."""
    key = keys[request.param]
    client_id = unique_conn_id(f"svc_{request.param.lower()}")
    sandbox.register_client(
        client_id=client_id,
        token_endpoint_auth_method="none",
        grant_types=[GRANT],
        jwks={"keys": [public_jwk(key, kid="k1")]},
        scope="items:read profile",
    )
    return request.param, client_id, key


def conn_for(make_conn, host: str, client_id: str, key, token_url: str, **extra) -> str:
    return make_conn(
        conn_id=unique_conn_id("jwt_bearer"),
        host=host,
        login=client_id,
        password=None,
        grant_type="jwt_bearer",
        client_auth_method="none",
        token_url=token_url,
        private_key=private_pem(key),
        private_key_id="k1",
        scope="items:read",
        **extra,
    )


def test_token_for_a_user_against_the_sandbox(sandbox, make_conn, service_account):
    _, client_id, key = service_account
    conn_id = conn_for(make_conn, sandbox.url, client_id, key, f"{sandbox.url}/token", assertion_subject="alice")
    hook = OAuth2Hook(oauth2_conn_id=conn_id)

    token = hook.get_token()

    assert token.refresh_token is None and token.scope == ("items:read",)
    me = hook.run("GET", "/api/me").json()
    assert (me["client_id"], me["user"]) == (client_id, "alice")


def test_unknown_subject_is_a_token_error(sandbox, make_conn, service_account):
    _, client_id, key = service_account
    conn_id = conn_for(make_conn, sandbox.url, client_id, key, f"{sandbox.url}/token", assertion_subject="mallory")
    with pytest.raises(OAuth2TokenError) as caught:
        OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    assert caught.value.error == "invalid_grant"


def test_the_assertion(stub, make_conn, service_account):
    algorithm, client_id, key = service_account
    token_url = f"{stub.url}/oauth/token"
    conn_id = conn_for(make_conn, stub.url, client_id, key, token_url, assertion_subject="alice")
    stub.add_json(200, token_response())
    hook = OAuth2Hook(oauth2_conn_id=conn_id)

    hook.get_token()
    clear_process_cache()
    hook.get_token()

    claims = []
    for received in stub.requests:
        form = form_of(received.body)
        assert form["grant_type"] == GRANT and form["scope"] == "items:read" and form["client_id"] == client_id
        assert "Authorization" not in received.headers
        header = jwt.get_unverified_header(form["assertion"])
        assert (header["alg"], header["kid"]) == (algorithm, "k1")
        claims.append(
            jwt.decode(
                form["assertion"], key.public_key(), algorithms=[algorithm], audience=token_url, issuer=client_id
            )
        )
    assert len(claims) == 2
    now = time.time()
    for claim in claims:
        assert claim["sub"] == "alice"
        assert now - 15 < claim["iat"] < now and 0 < claim["exp"] - now <= 60
    assert claims[0]["jti"] != claims[1]["jti"]


def test_subject_defaults_to_the_client(stub, make_conn, service_account):
    _, client_id, key = service_account
    conn_id = conn_for(make_conn, stub.url, client_id, key, f"{stub.url}/token")
    stub.add_json(200, token_response())
    OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    assertion = form_of(stub.requests[0].body)["assertion"]
    assert jwt.decode(assertion, options={"verify_signature": False})["sub"] == client_id
