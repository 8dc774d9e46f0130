"""
``kill -9`` of the lock holder in the middle of a refresh.

Killed before the refresh was sent: the lock frees with the dead session and the next process
refreshes normally. Killed while the refresh was in flight or after the server answered but
before the new token was saved: the server rotated a refresh token nobody received, so the next
process is told to re-authorize — at once, with one token request, never a hang or a loop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from tests.dbs import conn_env, lock_url
from tests.user_agent import obtain_refresh_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_conn(fresh_sandbox, monkeypatch, tmp_path, request):
    """A rotating refresh_token connection whose lock lives in the parametrized database."""
    kind = request.param
    url = fresh_sandbox.url
    conn_id = f"crash_{kind}_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}_LOCK", json.dumps(conn_env(kind, lock_url(kind, tmp_path))))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "oauth2",
                "host": url,
                "login": "sandbox-client",
                "password": "sandbox-secret",
                "extra": {
                    "grant_type": "refresh_token",
                    "token_url": f"{url}/token",
                    "refresh_token": obtain_refresh_token(url),
                    "lock_backend": "sql",
                    "lock_conn_id": f"{conn_id}_lock",
                    "lock_timeout": 30,
                    "token_retries": 0,
                },
            }
        ),
    )
    return conn_id


def kill_in_window(conn_id: str, mode: str, tmp_path: Path) -> None:
    marker = tmp_path / f"{mode}.marker"
    proc = subprocess.Popen([sys.executable, "-m", "tests.tokens.crash_worker", conn_id, mode, str(marker)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the crash worker exited before reaching its window"
        assert time.monotonic() < deadline, "the crash worker never reached its window"
        time.sleep(0.02)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.multiprocess
@pytest.mark.parametrize("shared_conn", ["sqlite", "postgres", "mariadb"], indirect=True)
def test_holder_killed_before_the_request_frees_the_lock(shared_conn, fresh_sandbox, tmp_path):
    kill_in_window(shared_conn, "before_request", tmp_path)
    started = time.monotonic()
    hook = OAuth2Hook(oauth2_conn_id=shared_conn)
    token = hook.get_token()
    assert time.monotonic() - started < 10  # the dead holder's session released the lock
    assert token.version == 1
    assert hook.run("GET", "/api/items").status_code == 200
    stats = fresh_sandbox.stats()
    assert stats["invalid_grant"] == 0
    assert stats["token_requests"].get("refresh_token") == 1  # the dead holder never sent its refresh


@pytest.mark.multiprocess
@pytest.mark.parametrize("mode", ["in_flight", "after_response"])
@pytest.mark.parametrize("shared_conn", ["sqlite", "postgres"], indirect=True)
def test_holder_killed_after_the_server_rotated_says_reauthorize(shared_conn, mode, fresh_sandbox, tmp_path):
    if mode == "in_flight":
        fresh_sandbox.inject_fault("/token", delay=1.5)
    kill_in_window(shared_conn, mode, tmp_path)
    time.sleep(2 if mode == "in_flight" else 0)  # the server finishes the orphaned refresh
    before = sum(fresh_sandbox.stats()["token_requests"].values())
    started = time.monotonic()
    with pytest.raises(OAuth2ReauthorizationRequired) as info:
        OAuth2Hook(oauth2_conn_id=shared_conn).get_token()
    assert time.monotonic() - started < 10
    assert f"airflow oauth2 authorize {shared_conn}" in str(info.value)
    stats = fresh_sandbox.stats()
    assert sum(stats["token_requests"].values()) == before + 1  # one attempt, no retry loop
    assert stats["invalid_grant"] == 1
