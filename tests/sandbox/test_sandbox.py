"""
The sandbox authorization server + API, driven over real HTTP with plain ``requests``.

One server serves the module; tests that need short lifetimes register their own client
(per-client ``access_token_lifetime``) or change settings and put them back.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from airflow_oauth_provider.sandbox import SandboxConfig, SandboxServer, create_app

CLIENT = ("sandbox-client", "sandbox-secret")
PUBLIC = "sandbox-public"
REDIRECT = "http://127.0.0.1:8765/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxConfig(port=0, device_interval=1)) as running:
        yield running


@pytest.fixture
def url(server) -> str:
    return server.url


def token(url: str, auth=CLIENT, **data) -> requests.Response:
    return requests.post(f"{url}/token", data=data, auth=auth, timeout=10)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(url: str, client_id: str = PUBLIC, challenge: str | None = None, **extra) -> requests.Response:
    """Log in as alice and consent; returns the (unfollowed) redirect response."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st-1", **extra}
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    form = {"username": "alice", "password": "wonderland", "confirm": "yes"}
    return requests.post(f"{url}/authorize", params=params, data=form, allow_redirects=False, timeout=10)


def code_from(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def user_tokens(url: str, scope: str = "items:read jobs") -> dict:
    """An access + refresh token for alice through the public client (code + PKCE)."""
    verifier, challenge = pkce()
    code = code_from(authorize(url, challenge=challenge, scope=scope))
    response = token(
        url,
        auth=None,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=PUBLIC,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(url: str, refresh_token: str, **extra) -> requests.Response:
    return token(url, auth=None, grant_type="refresh_token", refresh_token=refresh_token, client_id=PUBLIC, **extra)


def error_of(response: requests.Response) -> str:
    return response.json()["error"]


# -- metadata -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
def test_metadata_validates(url, path):
    metadata = requests.get(url + path, timeout=10).json()
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["issuer"] == url
    assert metadata["token_endpoint"] == f"{url}/token"
    assert metadata["device_authorization_endpoint"] == f"{url}/device_authorization"
    assert metadata["revocation_endpoint"] == f"{url}/revoke"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    assert DEVICE_GRANT in metadata["grant_types_supported"]


def test_configured_issuer():
    app = create_app(SandboxConfig(issuer="https://issuer.example"))
    metadata = app.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["issuer"] == "https://issuer.example"
    AuthorizationServerMetadata(metadata).validate()


# -- client credentials and client authentication ---------------------------------------------------


def test_client_credentials_basic(url):
    response = token(url, grant_type="client_credentials")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] == 3600
    assert body["scope"] == "items:read"
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"


def test_client_credentials_post_with_scope(url):
    response = token(
        url,
        auth=None,
        grant_type="client_credentials",
        client_id=CLIENT[0],
        client_secret=CLIENT[1],
        scope="items:read jobs",
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "items:read jobs"


def test_unknown_scope_is_invalid_scope(url):
    response = token(url, grant_type="client_credentials", scope="items:read admin")
    assert response.status_code == 400
    assert error_of(response) == "invalid_scope"


def test_wrong_secret_is_invalid_client(url):
    response = token(url, auth=(CLIENT[0], "wrong"), grant_type="client_credentials")
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_client_restricted_to_post(server, url):
    server.register_client(
        client_id="post-only", client_secret="post-secret", token_endpoint_auth_method="client_secret_post"
    )
    assert token(url, auth=("post-only", "post-secret"), grant_type="client_credentials").status_code == 401
    response = token(
        url, auth=None, grant_type="client_credentials", client_id="post-only", client_secret="post-secret"
    )
    assert response.status_code == 200


def assertion(key, client_id: str, audience: str, alg: str, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode({"alg": alg}, payload | claims, key)


def test_private_key_jwt_over_http_registration(url):
    key = ECKey.generate_key("P-256")
    registration = {
        "client_id": "pkjwt-client",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "jwks": {"keys": [key.as_dict(private=False)]},
    }
    assert requests.post(f"{url}/admin/clients", json=registration, timeout=10).status_code == 201
    signed = assertion(key, "pkjwt-client", f"{url}/token", "ES256")
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}
    assert token(url, auth=None, **form).status_code == 200
    replay = token(url, auth=None, **form)
    assert error_of(replay) == "invalid_client"
    wrong_audience = assertion(key, "pkjwt-client", "https://elsewhere.example/token", "ES256")
    assert error_of(token(url, auth=None, **form | {"client_assertion": wrong_audience})) == "invalid_client"
    # The secret-based methods are not open to this client.
    assert token(url, auth=("pkjwt-client", "x"), grant_type="client_credentials").status_code == 401


def test_client_secret_jwt(url):
    signed = assertion(OctKey.import_key(CLIENT[1]), CLIENT[0], f"{url}/token", "HS256")
    response = token(
        url, auth=None, grant_type="client_credentials", client_assertion_type=ASSERTION_TYPE, client_assertion=signed
    )
    assert response.status_code == 200, response.text


def test_jwt_bearer_grant(url):
    signed = assertion(OctKey.import_key(CLIENT[1]), CLIENT[0], f"{url}/token", "HS256", sub="alice")
    response = token(url, auth=None, grant_type=JWT_BEARER, assertion=signed)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    me = requests.get(f"{url}/api/me", headers=bearer(response.json()["access_token"]), timeout=10).json()
    assert me == {"client_id": CLIENT[0], "user": "alice", "scope": "items:read"}


# -- authorization code + PKCE ----------------------------------------------------------------------


def test_authorization_code_with_pkce(url):
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": PUBLIC, "redirect_uri": REDIRECT, "state": "st-1"}
    form_page = requests.get(
        f"{url}/authorize", params=params | {"code_challenge": challenge, "code_challenge_method": "S256"}, timeout=10
    )
    assert form_page.status_code == 200
    assert 'name="username"' in form_page.text and 'name="confirm"' in form_page.text

    code = code_from(authorize(url, challenge=challenge))
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": PUBLIC}
    response = token(url, auth=None, **exchange, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] and body["scope"] == "items:read"
    me = requests.get(f"{url}/api/me", headers=bearer(body["access_token"]), timeout=10).json()
    assert me["user"] == "alice" and me["client_id"] == PUBLIC

    # Single use: a second exchange fails and revokes what the first one got.
    assert error_of(token(url, auth=None, **exchange, code_verifier=verifier)) == "invalid_grant"
    assert requests.get(f"{url}/api/me", headers=bearer(body["access_token"]), timeout=10).status_code == 401


def test_wrong_code_verifier_is_invalid_grant(url):
    _verifier, challenge = pkce()
    code = code_from(authorize(url, challenge=challenge))
    response = token(
        url,
        auth=None,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=PUBLIC,
        code_verifier=pkce()[0],
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_grant"


def test_pkce_required_and_s256_only_for_public_client(url):
    for extra in ({}, {"code_challenge": pkce()[1], "code_challenge_method": "plain"}):
        response = authorize(url, **extra)
        assert response.status_code == 302
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["error"] == ["invalid_request"] and query["state"] == ["st-1"]


def test_confidential_client_without_pkce(url):
    code = code_from(authorize(url, client_id=CLIENT[0]))
    response = token(url, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert response.status_code == 200 and response.json()["refresh_token"]


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/callback", "http://evil.example:8765/callback"])
def test_unregistered_redirect_uri_shows_error_page(url, redirect_uri):
    response = authorize(url, challenge=pkce()[1], redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.text


def test_loopback_redirect_port_may_vary(url):
    response = authorize(url, challenge=pkce()[1], redirect_uri="http://127.0.0.1:50123/cb")
    assert response.headers["Location"].startswith("http://127.0.0.1:50123/cb?code=")


def test_token_redirect_uri_must_match(url):
    verifier, challenge = pkce()
    code = code_from(authorize(url, challenge=challenge))
    response = token(
        url,
        auth=None,
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://127.0.0.1:1/x",
        client_id=PUBLIC,
        code_verifier=verifier,
    )
    assert error_of(response) == "invalid_grant"


def test_consent_denied(url):
    params = {"response_type": "code", "client_id": PUBLIC, "redirect_uri": REDIRECT, "state": "st-1"}
    params |= {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
    response = requests.post(
        f"{url}/authorize", params=params, data={"confirm": "no"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-1"]


def test_bad_password_rerenders_form(url):
    params = {"response_type": "code", "client_id": PUBLIC, "redirect_uri": REDIRECT}
    params |= {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
    form = {"username": "alice", "password": "nope", "confirm": "yes"}
    response = requests.post(f"{url}/authorize", params=params, data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 401 and "Invalid username or password" in response.text


# -- refresh: rotation, reuse detection, scope -------------------------------------------------------


def test_refresh_rotation_and_reuse_detection(server, url):
    first = user_tokens(url)
    seen = {first["refresh_token"]}
    current = first["refresh_token"]
    for _ in range(3):
        response = refresh(url, current)
        assert response.status_code == 200, response.text
        current = response.json()["refresh_token"]
        assert current not in seen
        seen.add(current)
    newest_access = response.json()["access_token"]
    assert requests.get(f"{url}/api/items", headers=bearer(newest_access), timeout=10).status_code == 200

    before = server.stats()
    reused = refresh(url, first["refresh_token"])
    assert reused.status_code == 400 and error_of(reused) == "invalid_grant"
    # The whole family is gone: the newest refresh token and access token too.
    assert error_of(refresh(url, current)) == "invalid_grant"
    assert requests.get(f"{url}/api/items", headers=bearer(newest_access), timeout=10).status_code == 401
    after = server.stats()
    assert after["refresh_reuse_detected"] >= before["refresh_reuse_detected"] + 1
    assert after["invalid_grant"] == before["invalid_grant"] + 2
    assert after["token_errors"]["invalid_grant"] == after["invalid_grant"]


def test_concurrent_refresh_with_one_token_has_one_winner(url):
    tokens = user_tokens(url)
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: refresh(url, tokens["refresh_token"]), range(16)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 15
    assert all(error_of(r) == "invalid_grant" for r in responses if r.status_code == 400)


def test_refresh_scope_may_narrow_never_widen(url):
    tokens = user_tokens(url, scope="items:read jobs")
    narrowed = refresh(url, tokens["refresh_token"], scope="items:read")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "items:read"
    # The new refresh token keeps the original grant (RFC 6749 §6).
    again = refresh(url, narrowed.json()["refresh_token"])
    assert again.json()["scope"] == "items:read jobs"
    widened = refresh(url, again.json()["refresh_token"], scope="items:read profile")
    assert error_of(widened) == "invalid_scope"


def test_refresh_without_rotation(server, url):
    server.update_config(rotate_refresh_tokens=False)
    try:
        tokens = user_tokens(url)
        for _ in range(2):
            response = refresh(url, tokens["refresh_token"])
            assert response.status_code == 200
            assert "refresh_token" not in response.json()
    finally:
        server.update_config(rotate_refresh_tokens=True)


def test_expired_refresh_token(server, url):
    server.update_config(refresh_token_lifetime=1)
    try:
        tokens = user_tokens(url)
    finally:
        server.update_config(refresh_token_lifetime=86400)
    time.sleep(1.1)
    assert error_of(refresh(url, tokens["refresh_token"])) == "invalid_grant"


def test_unknown_refresh_token(url):
    assert error_of(refresh(url, "not-a-token")) == "invalid_grant"


def test_client_credentials_client_cannot_use_public_refresh_token(url):
    tokens = user_tokens(url)
    response = token(url, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert error_of(response) == "invalid_grant"


# -- device authorization -----------------------------------------------------------------------------


def start_device(url: str) -> dict:
    response = requests.post(
        f"{url}/device_authorization", data={"client_id": PUBLIC, "scope": "items:read"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def poll(url: str, device_code: str) -> requests.Response:
    return token(url, auth=None, grant_type=DEVICE_GRANT, device_code=device_code, client_id=PUBLIC)


def decide(url: str, user_code: str, action: str) -> requests.Response:
    form = {"user_code": user_code, "username": "bob", "password": "builder", "action": action}
    return requests.post(f"{url}/device", data=form, timeout=10)


def test_device_flow_approved(url):
    device = start_device(url)
    assert device["verification_uri"] == f"{url}/device"
    assert device["verification_uri_complete"].startswith(f"{url}/device?user_code=")
    assert device["interval"] == 1 and device["expires_in"] == 600
    assert requests.get(device["verification_uri_complete"], timeout=10).status_code == 200

    assert error_of(poll(url, device["device_code"])) == "authorization_pending"
    assert error_of(poll(url, device["device_code"])) == "slow_down"
    assert decide(url, device["user_code"].lower(), "approve").status_code == 200
    granted = poll(url, device["device_code"])
    assert granted.status_code == 200, granted.text
    assert granted.json()["refresh_token"]
    me = requests.get(f"{url}/api/me", headers=bearer(granted.json()["access_token"]), timeout=10).json()
    assert me["user"] == "bob"
    assert error_of(poll(url, device["device_code"])) == "invalid_grant"


def test_device_flow_denied(url):
    device = start_device(url)
    assert decide(url, device["user_code"], "deny").status_code == 200
    assert error_of(poll(url, device["device_code"])) == "access_denied"


def test_device_code_expires(server, url):
    server.update_config(device_expires_in=1)
    try:
        device = start_device(url)
    finally:
        server.update_config(device_expires_in=600)
    assert device["expires_in"] == 1
    time.sleep(1.1)
    assert error_of(poll(url, device["device_code"])) == "expired_token"


def test_unknown_device_code(url):
    assert error_of(poll(url, "nope")) == "invalid_grant"


# -- revocation ---------------------------------------------------------------------------------------


def test_revoke_access_token(server, url):
    access = token(url, grant_type="client_credentials").json()["access_token"]
    before = server.stats()["revocations"]
    response = requests.post(
        f"{url}/revoke", data={"token": access, "token_type_hint": "access_token"}, auth=CLIENT, timeout=10
    )
    assert response.status_code == 200
    assert requests.get(f"{url}/api/items", headers=bearer(access), timeout=10).status_code == 401
    assert server.stats()["revocations"] == before + 1


def test_revoke_refresh_token_revokes_family(url):
    tokens = user_tokens(url)
    rotated = refresh(url, tokens["refresh_token"]).json()
    response = requests.post(f"{url}/revoke", data={"token": rotated["refresh_token"], "client_id": PUBLIC}, timeout=10)
    assert response.status_code == 200
    assert error_of(refresh(url, rotated["refresh_token"])) == "invalid_grant"
    for access in (tokens["access_token"], rotated["access_token"]):
        assert requests.get(f"{url}/api/items", headers=bearer(access), timeout=10).status_code == 401


def test_revoke_unknown_token_and_unauthenticated(url):
    assert requests.post(f"{url}/revoke", data={"token": "unknown"}, auth=CLIENT, timeout=10).status_code == 200
    assert (
        requests.post(f"{url}/revoke", data={"token": "unknown"}, auth=(CLIENT[0], "x"), timeout=10).status_code == 401
    )


# -- protected API ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_token(server) -> str:
    response = token(server.url, grant_type="client_credentials", scope="items:read jobs")
    return response.json()["access_token"]


def test_api_paging(url, api_token):
    names, page = [], 1
    while page is not None:
        body = requests.get(
            f"{url}/api/items", params={"page": page, "per_page": 15}, headers=bearer(api_token), timeout=10
        ).json()
        assert body["per_page"] == 15 and body["total"] == 50 and body["page"] == page
        names += [item["name"] for item in body["items"]]
        page = body["next_page"]
    assert len(names) == 50 and len(set(names)) == 50
    default = requests.get(f"{url}/api/items", headers=bearer(api_token), timeout=10).json()
    assert len(default["items"]) == 10 and default["next_page"] == 2
    bad = requests.get(f"{url}/api/items", params={"page": "0"}, headers=bearer(api_token), timeout=10)
    assert bad.status_code == 400


def test_missing_token_challenge(url):
    response = requests.get(f"{url}/api/items", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_expired_token_is_invalid_token(server, url):
    server.register_client(client_id="short-lived", client_secret="s", access_token_lifetime=1)
    body = token(url, auth=("short-lived", "s"), grant_type="client_credentials").json()
    assert body["expires_in"] == 1
    assert requests.get(f"{url}/api/items", headers=bearer(body["access_token"]), timeout=10).status_code == 200
    time.sleep(1.5)
    response = requests.get(f"{url}/api/items", headers=bearer(body["access_token"]), timeout=10)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"') and "error_description=" in challenge
    assert response.json()["error"] == "invalid_token"


def test_insufficient_scope(url):
    access = token(url, grant_type="client_credentials", scope="items:read").json()["access_token"]
    response = requests.post(f"{url}/api/jobs", json={}, headers=bearer(access), timeout=10)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="jobs"' in response.headers["WWW-Authenticate"]


def test_jobs_finish_after_polls(url, api_token):
    created = requests.post(f"{url}/api/jobs", json={"polls_until_done": 2}, headers=bearer(api_token), timeout=10)
    assert created.status_code == 201 and created.json()["status"] == "running"
    job_url = f"{url}/api/jobs/{created.json()['id']}"
    statuses = [requests.get(job_url, headers=bearer(api_token), timeout=10).json()["status"] for _ in range(3)]
    assert statuses == ["running", "done", "done"]
    assert requests.get(f"{url}/api/jobs/nope", headers=bearer(api_token), timeout=10).status_code == 404


def test_faults(server, url, api_token):
    fault = {"path": "/api/items", "status": 503, "count": 2, "retry_after": "2"}
    assert requests.post(f"{url}/admin/faults", json=fault, timeout=10).status_code == 201
    for _ in range(2):
        response = requests.get(f"{url}/api/items", headers=bearer(api_token), timeout=10)
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert requests.get(f"{url}/api/items", headers=bearer(api_token), timeout=10).status_code == 200

    server.inject_fault("/token", status=429, count=5)
    assert token(url, grant_type="client_credentials").status_code == 429
    assert requests.delete(f"{url}/admin/faults", timeout=10).status_code == 204
    assert token(url, grant_type="client_credentials").status_code == 200


# -- stats and admin ----------------------------------------------------------------------------------


def test_stats_counts_and_reset(url):
    assert requests.post(f"{url}/stats/reset", timeout=10).status_code == 200
    token(url, grant_type="client_credentials")
    token(url, auth=(CLIENT[0], "wrong"), grant_type="client_credentials")
    requests.get(f"{url}/api/items", headers=bearer("nope"), timeout=10)
    stats = requests.get(f"{url}/stats", timeout=10).json()
    assert stats["token_requests"] == {"client_credentials": 2}
    assert stats["token_errors"]["invalid_client"] == 1 and stats["token_errors"]["invalid_grant"] == 0
    assert stats["invalid_grant"] == 0 and stats["refresh_reuse_detected"] == 0
    assert stats["api_calls"] == 1 and stats["api_401"] == 1
    assert stats["access_tokens_issued"] == 1 and stats["revocations"] == 0


def test_admin_is_loopback_only():
    client = create_app(SandboxConfig()).test_client()
    assert client.get("/stats").status_code == 200
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    for method, path in [
        ("GET", "/stats"),
        ("POST", "/stats/reset"),
        ("POST", "/admin/faults"),
        ("POST", "/admin/clients"),
    ]:
        assert client.open(path, method=method, json={}, environ_base=remote).status_code == 403
    assert client.get("/healthz", environ_base=remote).status_code == 200


def test_admin_config_and_client_validation(url):
    response = requests.post(f"{url}/admin/config", json={"access_token_lifetime": "soon"}, timeout=10)
    assert response.status_code == 400
    bad_client = {"client_id": "x", "token_endpoint_auth_method": "private_key_jwt"}
    assert requests.post(f"{url}/admin/clients", json=bad_client, timeout=10).status_code == 400


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        SandboxConfig(host="0.0.0.0")


def test_request_log_has_no_secrets(caplog):
    caplog.set_level(logging.INFO, logger="airflow_oauth_provider.sandbox")
    with SandboxServer(SandboxConfig(port=0, verbose=True)) as verbose:
        verifier, challenge = pkce()
        response = authorize(verbose.url, challenge=challenge)
        code = code_from(response)
        tokens = token(
            verbose.url,
            auth=None,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            client_id=PUBLIC,
            code_verifier=verifier,
        ).json()
    assert "POST /authorize 302" in caplog.text
    for secret in (code, verifier, tokens["access_token"], tokens["refresh_token"], "wonderland"):
        assert secret not in caplog.text


def test_command_line(tmp_path: Path):
    ready = tmp_path / "ready"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_oauth_provider.sandbox",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--no-rotation",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        assert ready.read_text().strip() == match.group(1)
        assert requests.get(f"{match.group(1)}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()
    refused = subprocess.run(
        [sys.executable, "-m", "airflow_oauth_provider.sandbox", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert refused.returncode == 2 and "loopback" in refused.stderr
