"""``airflow oauth2 history``: a connection's whole lifecycle, in order, with no secret in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_oauth_provider import authorization
from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import consent
from airflow_oauth_provider.tokens.store import clear_process_cache

ROOT = Path(__file__).resolve().parents[2]


def authorize(hook: OAuth2Hook):
    """What `airflow oauth2 authorize` and the Connect button do, with the user scripted."""
    request = authorization.begin_authorization(hook)
    return authorization.finish_authorization(hook, request, consent(request.url))


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "oauth2", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_history_shows_the_lifecycle_in_order(fresh_sandbox, make_conn):
    url = fresh_sandbox.url
    fresh_sandbox.update_config(access_token_lifetime=1, rotate_refresh_tokens=False)
    conn_id = make_conn(
        host=url,
        grant_type="authorization_code",
        token_url=f"{url}/token",
        authorization_url=f"{url}/authorize",
        redirect_uri="http://127.0.0.1:8765/callback",
        scope="items:read offline_access",
    )
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    issued = [authorize(hook)]
    time.sleep(1.1)
    issued.append(hook.get_token())  # refreshed, same refresh token
    fresh_sandbox.update_config(rotate_refresh_tokens=True)
    time.sleep(1.1)
    issued.append(hook.get_token())  # rotated
    requests.post(
        f"{url}/revoke",
        data={"token": issued[-1].refresh_token, "token_type_hint": "refresh_token"},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    time.sleep(1.1)
    clear_process_cache()
    with pytest.raises(OAuth2ReauthorizationRequired):
        hook.get_token()
    assert (
        cli("status", conn_id, "-o", "json")
        and json.loads(cli("history", conn_id, "-o", "json"))["reauthorization_required"]["error"] == "invalid_grant"
    )
    issued.append(authorize(hook))  # the human fixes it

    record = json.loads(cli("history", conn_id, "-o", "json"))
    assert [e["event"] for e in record["events"]] == [
        "authorized",
        "refreshed",
        "rotated",
        "refresh_failed",
        "reauthorization_required",
        "authorized",
    ]
    assert [e.get("version") for e in record["events"]] == [1, 2, 3, 3, 3, 4]
    assert record["events"][3]["error"] == "invalid_grant" and record["events"][3]["status"] == 400
    assert record["reauthorization_required"] is None
    table = cli("history", conn_id)
    assert table.splitlines()[0].split() == ["time", "event", "where", "version", "error", "status"]
    assert [line.split()[1] for line in table.splitlines()[1:] if line.strip()] == [
        e["event"] for e in record["events"]
    ]
    everything = json.dumps(record) + table
    for token in issued:
        assert token.access_token not in everything
        assert token.refresh_token not in everything
