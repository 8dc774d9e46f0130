"""The hook against the real sandbox: client auth methods, paging, proactive and reactive refresh, no leaks."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import requests

from airflow_oauth_provider.exceptions import OAuth2HttpError, OAuth2TokenError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook


def cc_hook(make_conn, server, **extra) -> OAuth2Hook:
    extra.setdefault("token_url", f"{server.url}/token")
    extra.setdefault("scope", "items:read")
    return OAuth2Hook(oauth2_conn_id=make_conn(host=server.url, **extra))


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_each_auth_method(method, make_conn, sandbox):
    client_id = f"only-{method}-{uuid.uuid4().hex[:6]}"
    sandbox.register_client(
        client_id=client_id,
        client_secret="s3cr3t: with spaces & ünïcode",  # form-urlencoded before base64 (RFC 6749 §2.3.1)
        token_endpoint_auth_method=method,
        grant_types=["client_credentials"],
        scope="items:read",
    )
    hook = cc_hook(
        make_conn, sandbox, login=client_id, password="s3cr3t: with spaces & ünïcode", client_auth_method=method
    )
    body = hook.run("GET", "/api/me").json()
    assert body["client_id"] == client_id
    other = "client_secret_post" if method == "client_secret_basic" else "client_secret_basic"
    wrong = cc_hook(
        make_conn, sandbox, login=client_id, password="s3cr3t: with spaces & ünïcode", client_auth_method=other
    )
    with pytest.raises(OAuth2TokenError) as info:
        wrong.get_token()
    assert info.value.error == "invalid_client"


def test_run_pages_through_the_api(make_conn, sandbox):
    hook = cc_hook(make_conn, sandbox)
    page, ids = 1, []
    while page:
        body = hook.run("GET", "/api/items", params={"page": page, "per_page": 7}).json()
        ids += [item["id"] for item in body["items"]]
        page = body["next_page"]
    assert ids == list(range(1, 51))


def test_token_is_cached_between_calls(make_conn, fresh_sandbox):
    hook = cc_hook(make_conn, fresh_sandbox)
    for _ in range(5):
        hook.run("GET", "/api/me")
    assert fresh_sandbox.stats()["token_requests"] == {"client_credentials": 1}


def test_proactive_refresh_before_expiry(make_conn, fresh_sandbox):
    fresh_sandbox.update_config(access_token_lifetime=2)
    hook = cc_hook(make_conn, fresh_sandbox)  # leeway 60 s is capped at half the lifetime: 1 s
    first = hook.get_token()
    hook.run("GET", "/api/me")
    time.sleep(1.1)  # inside the leeway, still valid at the server
    hook.run("GET", "/api/me")
    assert hook.get_token().access_token != first.access_token
    stats = fresh_sandbox.stats()
    assert stats["api_401"] == 0  # refreshed before the server ever refused it
    assert stats["token_requests"] == {"client_credentials": 2}


def test_401_refreshes_once_and_retries_once(make_conn, fresh_sandbox):
    hook = cc_hook(make_conn, fresh_sandbox, revocation_url=f"{fresh_sandbox.url}/revoke")
    token = hook.get_token()
    revoked = requests.post(
        f"{fresh_sandbox.url}/revoke",
        data={"token": token.access_token},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    assert revoked.status_code == 200
    response = hook.run("GET", "/api/items")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    stats = fresh_sandbox.stats()
    assert stats["api_401"] == 1
    assert stats["token_requests"] == {"client_credentials": 2}


def test_persistent_401_is_surfaced_after_one_retry(make_conn, sandbox, stub):
    stub.add(401, "", www_authenticate='Bearer error="invalid_token"')
    hook = OAuth2Hook(oauth2_conn_id=make_conn(host=stub.url, token_url=f"{sandbox.url}/token"))
    with pytest.raises(OAuth2HttpError) as info:
        hook.run("GET", "/api/items", params={"q": "secret-query"})
    assert info.value.status == 401
    assert str(info.value) == f"401:Unauthorized from {stub.url}/api/items"  # no query string
    assert len(stub.requests) == 2
    first, second = (r.headers["Authorization"] for r in stub.requests)
    assert first != second  # the retry carried a freshly refreshed token


def test_403_is_not_refreshed(make_conn, fresh_sandbox):
    hook = cc_hook(make_conn, fresh_sandbox, scope="profile")
    with pytest.raises(OAuth2HttpError) as info:
        hook.run("GET", "/api/items")
    assert info.value.status == 403
    assert fresh_sandbox.stats()["token_requests"] == {"client_credentials": 1}


def test_bearer_token_never_goes_to_another_origin(make_conn, sandbox):
    hook = cc_hook(make_conn, sandbox)
    with pytest.raises(Exception, match="is not on the connection's host"):
        hook.run("GET", "https://evil.example/steal")


def test_no_issued_token_or_secret_in_any_log(make_conn, fresh_sandbox, caplog, capfd):
    """A full run with refreshes and a 401, every logger at DEBUG: no token or secret may appear."""
    fresh_sandbox.update_config(access_token_lifetime=2)
    for name in ("", "urllib3", "requests_oauthlib", "oauthlib", "airflow_oauth_provider"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen: set[str] = set()
    with caplog.at_level(logging.DEBUG):
        hook = cc_hook(make_conn, fresh_sandbox, revocation_url=f"{fresh_sandbox.url}/revoke")
        for _ in range(3):
            hook.run("GET", "/api/items")
            seen.add(hook.get_token().access_token)
            time.sleep(1.1)
        token = hook.get_token()
        requests.post(
            f"{fresh_sandbox.url}/revoke",
            data={"token": token.access_token},
            auth=("sandbox-client", "sandbox-secret"),
            timeout=10,
        )
        hook.run("GET", "/api/items")
        seen.add(hook.get_token().access_token)
        print(repr(hook.get_token()), hook.settings)
    out, err = capfd.readouterr()
    # The sandbox runs in this process; its own (server-side) Authlib/werkzeug records are not the client's.
    server = ("authlib", "werkzeug", "airflow_oauth_provider.sandbox")
    client = [r for r in caplog.records if not r.name.startswith(server)]
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in client) + out + err
    assert len(seen) >= 3
    assert "Requesting a token" in text  # the capture did see our log lines
    for secret in [*seen, "sandbox-secret"]:
        assert secret not in text
