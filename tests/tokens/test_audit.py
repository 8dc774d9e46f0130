"""The audit trail: issue → refresh → rotation → revocation at the server → failed refresh → re-authorization."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import obtain_refresh_token
from airflow_oauth_provider.tokens.store import clear_process_cache

SECRETS_FIELDS = ("access_token", "refresh_token")


@pytest.fixture
def rotating(fresh_sandbox, make_conn):
    fresh_sandbox.update_config(access_token_lifetime=1)
    url = fresh_sandbox.url
    conn_id = make_conn(
        host=url,
        grant_type="refresh_token",
        token_url=f"{url}/token",
        revocation_url=f"{url}/revoke",
        refresh_token=obtain_refresh_token(url),
    )
    return OAuth2Hook(oauth2_conn_id=conn_id)


def test_lifecycle_events_in_order_without_secrets(rotating, fresh_sandbox):
    hook = rotating
    first = hook.get_token()  # issued from the pasted refresh token
    time.sleep(1.1)
    second = hook.get_token()  # refreshed, and the sandbox rotates the refresh token
    assert second.refresh_token != first.refresh_token
    # the grant is revoked at the server (by the provider's admin, say)
    requests.post(
        f"{fresh_sandbox.url}/revoke",
        data={"token": second.refresh_token, "token_type_hint": "refresh_token"},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    time.sleep(1.1)
    clear_process_cache()
    with pytest.raises(OAuth2ReauthorizationRequired):
        hook.get_token()
    audit = hook.store.backend.audit(hook.settings.token_key)
    assert [e["event"] for e in audit["events"]] == [
        "issued",  # the first stored token (the pasted seed was spent to get it)
        "rotated",
        "refresh_failed",
        "reauthorization_required",
    ]
    failed = audit["events"][2]
    assert (failed["error"], failed["status"], failed["version"]) == ("invalid_grant", 400, 2)
    assert audit["reauthorization_required"]["error"] == "invalid_grant"
    assert all(e["where"] == "process" and e["conn_id"] == hook.oauth2_conn_id for e in audit["events"])
    text = json.dumps(audit)
    for token in (first, second):
        assert token.access_token not in text and token.refresh_token not in text

    # a new authorization clears the mark and is recorded
    seed = obtain_refresh_token(fresh_sandbox.url)
    hook.store.replace(
        lambda current: hook.send_token_request(
            hook.grant.refresh_request(type(first)(access_token="-", refresh_token=seed))
        )
    )
    audit = hook.store.backend.audit(hook.settings.token_key)
    assert audit["events"][-1]["event"] == "authorized"
    assert audit["reauthorization_required"] is None


def test_audit_is_bounded(rotating, monkeypatch):
    monkeypatch.setenv("AIRFLOW__OAUTH2__AUDIT_EVENTS", "3")
    hook = rotating
    for _ in range(5):
        hook.get_token()
        time.sleep(1.05)
    events = hook.store.backend.audit(hook.settings.token_key)["events"]
    assert len(events) == 3
    assert [e["version"] for e in events] == sorted(e["version"] for e in events)
