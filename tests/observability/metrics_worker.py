"""
Runs a token lifecycle with StatsD on, initialised as Airflow's task runner does it.

Usage: ``python -m tests.observability.metrics_worker SANDBOX_URL REFRESH_TOKEN``; the StatsD
host/port come from ``AIRFLOW__METRICS__*`` in the environment.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time


def main() -> None:
    url, seed = sys.argv[1], sys.argv[2]
    from airflow.providers.common.compat.sdk import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)

    from airflow_oauth_provider.exceptions import OAuth2LockTimeout
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
    from airflow_oauth_provider.tokens.store import clear_process_cache

    os.environ["AIRFLOW_CONN_METRICS_RT"] = json.dumps(
        {
            "conn_type": "oauth2",
            "host": url,
            "login": "sandbox-client",
            "password": "sandbox-secret",
            "extra": {
                "grant_type": "refresh_token",
                "token_url": f"{url}/token",
                "refresh_token": seed,
                "lock_timeout": 0.5,
            },
        }
    )
    hook = OAuth2Hook(oauth2_conn_id="metrics_rt")
    hook.run("GET", "/api/items")  # issued
    hook.run("GET", "/api/items")  # cache hit
    time.sleep(1.1)
    hook.run("GET", "/api/items")  # rotated
    # a sibling holds the lock: this process times out
    lock_file = hook.store.backend.lock._file(hook.settings.token_key)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(lock_file, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    time.sleep(1.1)
    clear_process_cache()
    try:
        hook.get_token()
    except OAuth2LockTimeout:
        pass
    release.set()
    holder.join()
    # the grant is revoked at the server: the next refresh fails and asks for re-authorization
    import requests

    from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired

    stored = hook.store.backend.peek(hook.settings.token_key)
    requests.post(
        f"{url}/revoke", data={"token": stored.refresh_token}, auth=("sandbox-client", "sandbox-secret"), timeout=10
    )
    time.sleep(1.1)
    clear_process_cache()
    try:
        hook.get_token()
    except OAuth2ReauthorizationRequired:
        pass
    print("statsd_on", conf.getboolean("metrics", "statsd_on"), flush=True)


if __name__ == "__main__":
    main()
