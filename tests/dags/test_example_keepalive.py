"""
The keep-alive DAG with a 5-second ``refresh_token_max_idle``: it refreshes the idle connection
and leaves the one in use alone.

The idle connection's access token is still valid (1 h), only its refresh token is idle, so a
refresh can only come from the keep-alive. The busy connection (2 s access tokens) is used by a
background caller throughout, so its refresh token is never more than ~2 s old.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import obtain_refresh_token

ROOT = Path(__file__).resolve().parents[2]


def test_keepalive_refreshes_idle_connections_only(fresh_sandbox, monkeypatch):
    url = fresh_sandbox.url
    fresh_sandbox.register_client(
        client_id="busy-client",
        client_secret="busy-secret",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["authorization_code", "refresh_token"],
        access_token_lifetime=2,
        redirect_uris=["http://127.0.0.1:8765/callback"],
        scope="items:read offline_access",
    )
    suffix = uuid.uuid4().hex[:6]
    idle, busy = f"ka_idle_{suffix}", f"ka_busy_{suffix}"
    for conn_id, client, secret in ((idle, "sandbox-client", "sandbox-secret"), (busy, "busy-client", "busy-secret")):
        seed = obtain_refresh_token(url, client_id=client, client_secret=secret, scope="items:read offline_access")
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            json.dumps(
                {
                    "conn_type": "oauth2",
                    "host": url,
                    "login": client,
                    "password": secret,
                    "extra": {
                        "grant_type": "refresh_token",
                        "token_url": f"{url}/token",
                        "refresh_token": seed,
                        "refresh_token_max_idle": 5,
                    },
                }
            ),
        )
    monkeypatch.setenv("AIRFLOW_VAR_OAUTH2_KEEPALIVE_CONN_IDS", json.dumps([idle, busy]))
    idle_before = OAuth2Hook(oauth2_conn_id=idle).get_token()

    stop = threading.Event()

    def keep_busy() -> None:
        hook = OAuth2Hook(oauth2_conn_id=busy)
        while not stop.is_set():
            hook.run("GET", "/api/items")
            time.sleep(0.3)

    worker = threading.Thread(target=keep_busy)
    worker.start()
    try:
        time.sleep(6)  # the idle connection's refresh token is now older than 5 s
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", "example_oauth2_keepalive"],
            cwd=ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        stop.set()
        worker.join()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"Keep-alive {idle}: refreshed" in output, output[-4000:]
    assert f"Keep-alive {busy}: fresh" in output, output[-4000:]
    idle_after = OAuth2Hook(oauth2_conn_id=idle)
    stored = idle_after.store.backend.peek(idle_after.settings.token_key)
    assert stored.version == idle_before.version + 1
    assert stored.refresh_token != idle_before.refresh_token  # rotated, so its idle clock restarted
    events = idle_after.store.backend.audit(idle_after.settings.token_key)["events"]
    assert events[-1]["event"] == "rotated" and events[-1]["where"] == "task"
    assert events[-1]["dag_id"] == "example_oauth2_keepalive"
    assert fresh_sandbox.stats()["invalid_grant"] == 0
