"""The device flow (RFC 8628) against the sandbox: pending, slow_down, approval, refusals, timeouts."""

from __future__ import annotations

import time

import pytest

from airflow_oauth_provider import authorization
from airflow_oauth_provider.grants import DeviceCodeGrant
from airflow_oauth_provider.grants.authorization_code import OAuth2AuthorizationError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from tests.cli.helpers import stored, unique_conn_id
from tests.user_agent import approve_device


@pytest.fixture
def conn(sandbox, make_conn):
    def make(**fields):
        defaults = {
            "conn_id": unique_conn_id("device_grant"),
            "host": sandbox.url,
            "grant_type": "device_code",
            "issuer": sandbox.url,
            "scope": "items:read jobs",
        }
        return make_conn(**(defaults | fields))

    return make


def test_requests(sandbox, conn):
    grant = OAuth2Hook(oauth2_conn_id=conn()).grant
    assert isinstance(grant, DeviceCodeGrant)
    start = grant.device_authorization_request()
    assert start.url == f"{sandbox.url}/device_authorization"
    assert dict(start.data) == {"scope": "items:read jobs"}
    assert start.headers["Authorization"].startswith("Basic ")
    poll = grant.poll_request("dc")
    assert poll.url == f"{sandbox.url}/token"
    assert dict(poll.data) == {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "dc"}


def test_pending_slow_down_then_approved(sandbox, conn):
    """Polls too fast on purpose: the sandbox answers slow_down and the interval grows by 5 s (RFC 8628 §3.5)."""
    conn_id = conn()
    shown, waits = [], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the user approves while the client waits out the longer interval
            approve_device(shown[0].verification_uri, shown[0].user_code)

    before = sandbox.stats()["token_errors"]
    token = authorization.device_authorization(OAuth2Hook(oauth2_conn_id=conn_id), shown.append, sleep=sleep)

    assert waits == [1.0, 1.0, 6.0]
    after = sandbox.stats()["token_errors"]
    assert after["authorization_pending"] - before["authorization_pending"] == 1
    assert after["slow_down"] - before["slow_down"] == 1
    assert token.version == 1 and token.refresh_token and token.scope == ("items:read", "jobs")
    assert stored(conn_id).access_token == token.access_token
    assert shown[0].verification_uri == f"{sandbox.url}/device"
    assert "device_code" not in repr(shown[0])


def test_timeout_shorter_than_the_code(sandbox, conn):
    conn_id = conn()
    with pytest.raises(OAuth2AuthorizationError, match="not approved within 1 s.*longer --timeout"):
        authorization.device_authorization(OAuth2Hook(oauth2_conn_id=conn_id), lambda device: None, timeout=1)
    assert stored(conn_id) is None


def test_server_side_expiry(fresh_sandbox, make_conn):
    """The server says expired_token (our own clock is stopped here): same message, nothing stored."""
    fresh_sandbox.update_config(device_expires_in=1)
    conn_id = make_conn(
        conn_id=unique_conn_id("device_expiry"),
        host=fresh_sandbox.url,
        grant_type="device_code",
        issuer=fresh_sandbox.url,
    )
    with pytest.raises(OAuth2AuthorizationError, match="expired before it was approved") as caught:
        authorization.device_authorization(
            OAuth2Hook(oauth2_conn_id=conn_id), lambda device: None, sleep=time.sleep, clock=lambda: 0.0
        )
    assert caught.value.error == "expired_token"
    assert stored(conn_id) is None


def test_unknown_client_is_refused_at_the_device_endpoint(sandbox, conn):
    conn_id = conn(login="no-such-client")
    with pytest.raises(OAuth2AuthorizationError, match="device authorization endpoint .* refused: invalid_client"):
        authorization.device_authorization(OAuth2Hook(oauth2_conn_id=conn_id), lambda device: None)


def test_public_client_device_flow(sandbox, conn):
    conn_id = conn(login="sandbox-public", password=None, client_auth_method="none")
    token = authorization.device_authorization(
        OAuth2Hook(oauth2_conn_id=conn_id),
        lambda device: approve_device(device.verification_uri, device.user_code),
        sleep=lambda seconds: None,
    )
    assert token.refresh_token and stored(conn_id).version == 1
