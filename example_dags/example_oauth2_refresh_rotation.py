"""
A rotating refresh token shared by parallel tasks: every task refreshes through one store and lock.

The connection ``oauth2_sandbox_rt`` holds a refresh token pasted once (``make demo`` obtains one
from the sandbox). The provider rotates it on every refresh; the token store persists each new
refresh token in an encrypted Variable under a lock, so no task ever replays a spent one.
Run with short access-token lifetimes (the demo uses 2 s) and each task refreshes several times.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

CONN_ID = "oauth2_sandbox_rt"
PARTITIONS = 4
SECONDS_PER_TASK = 5


@dag(
    dag_id="example_oauth2_refresh_rotation",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oauth2"],
)
def example_oauth2_refresh_rotation():
    @task
    def pull(partition: int) -> dict[str, int]:
        hook = OAuth2Hook(oauth2_conn_id=CONN_ID)
        calls, versions = 0, set()
        deadline = time.monotonic() + SECONDS_PER_TASK
        while time.monotonic() < deadline:
            hook.run("GET", "/api/items", params={"page": 1 + partition, "per_page": 5})
            versions.add(hook.get_token().version)
            calls += 1
            time.sleep(0.25)
        print(f"partition {partition}: {calls} API calls with token versions {sorted(versions)}")
        return {"calls": calls, "versions_seen": len(versions)}

    @task
    def summarize(results: list[dict[str, int]]) -> dict[str, int]:
        token = OAuth2Hook(oauth2_conn_id=CONN_ID).get_token()
        summary = {
            "api_calls": sum(r["calls"] for r in results),
            "token_version": token.version,
        }
        print(f"Summary: {summary}")
        return summary

    summarize(pull.expand(partition=list(range(PARTITIONS))))


example_oauth2_refresh_rotation()
