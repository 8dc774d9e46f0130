"""The refresh_token grant: a pasted refresh token is used once; rotated ones are persisted and shared."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests

from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import obtain_refresh_token
from airflow_oauth_provider.tokens.store import clear_process_cache


def paste(monkeypatch, conn_id: str, url: str, refresh_token: str) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "oauth2",
                "host": url,
                "login": "sandbox-client",
                "password": "sandbox-secret",
                "extra": {"grant_type": "refresh_token", "token_url": f"{url}/token", "refresh_token": refresh_token},
            }
        ),
    )


def test_pasted_token_is_spent_once_and_the_store_wins(fresh_sandbox, monkeypatch):
    fresh_sandbox.update_config(access_token_lifetime=1)
    conn_id = f"rt_once_{os.getpid()}_{time.monotonic_ns()}"
    paste(monkeypatch, conn_id, fresh_sandbox.url, obtain_refresh_token(fresh_sandbox.url))
    first = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    for _ in range(2):  # later "processes" refresh from the store, never from the spent seed
        time.sleep(1.05)
        clear_process_cache()
        OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/items")
    latest = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    stats = fresh_sandbox.stats()
    # At least the two expiries above were refreshed (a slow machine may add one inside the leeway);
    # every refresh the server saw was persisted as exactly one new version, and the spent seed
    # was never presented again (reuse detection would have answered invalid_grant).
    assert latest.version >= 3 and latest.refresh_token != first.refresh_token
    assert stats["token_requests"]["refresh_token"] == latest.version
    assert stats["invalid_grant"] == 0 and stats["refresh_reuse_detected"] == 0


def test_pasting_a_new_refresh_token_replaces_a_dead_grant(fresh_sandbox, monkeypatch):
    fresh_sandbox.update_config(access_token_lifetime=1)
    url = fresh_sandbox.url
    conn_id = f"rt_new_{os.getpid()}_{time.monotonic_ns()}"
    paste(monkeypatch, conn_id, url, obtain_refresh_token(url))
    dead = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    requests.post(
        f"{url}/revoke", data={"token": dead.refresh_token}, auth=("sandbox-client", "sandbox-secret"), timeout=10
    )
    time.sleep(1.05)
    clear_process_cache()
    with pytest.raises(OAuth2ReauthorizationRequired):
        OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    paste(monkeypatch, conn_id, url, obtain_refresh_token(url))  # the user pastes a new one
    clear_process_cache()
    token = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    assert token.version == dead.version + 1
    assert OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/items").status_code == 200
