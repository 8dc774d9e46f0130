"""
The concurrency proof: 16 OS processes share one rotating refresh_token connection.

The sandbox rotates the refresh token on every use and revokes the whole grant when a spent one
is presented, with a 3 s access-token lifetime. With the lock on SQLite, PostgreSQL and MariaDB,
every API call must succeed, the sandbox must count zero ``invalid_grant``, and the number of
refreshes must follow the number of expiries, not the number of processes.
"""

from __future__ import annotations

import pytest
import requests

from tests.contention.harness import run_contention
from tests.dbs import lock_url
from tests.user_agent import obtain_refresh_token

PROCESSES = 16
DURATION = 15.0
LIFETIME = 3
LEEWAY = 1.0


@pytest.mark.multiprocess
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mariadb"])
def test_sixteen_processes_refresh_once_per_expiry(kind, fresh_sandbox, tmp_path):
    url = lock_url(kind, tmp_path)
    requests.post(f"{fresh_sandbox.url}/admin/config", json={"access_token_lifetime": LIFETIME}, timeout=10)
    seed = obtain_refresh_token(fresh_sandbox.url)
    result = run_contention(
        sandbox_url=fresh_sandbox.url,
        refresh_token=seed,
        lock_kind=kind,
        lock_url=url,
        processes=PROCESSES,
        duration=DURATION,
        lifetime=LIFETIME,
        leeway=LEEWAY,
    )
    summary = {k: v for k, v in result.items() if k != "lock_waits"}
    assert result["failed"] == 0, summary
    assert result["ok"] > PROCESSES * 10, summary
    assert result["invalid_grant"] == 0, summary
    # the first token, then exactly one refresh per expiry (the last expiry may fall on the deadline)
    assert abs(result["token_requests"] - (1 + result["expiries"])) <= 1, summary
    assert result["expiries"] >= DURATION / result["refresh_period"] / 2, summary  # tokens really did expire
    # every token the workers obtained was a refresh the sandbox saw, and each was persisted once
    assert result["obtained"] == result["token_requests"] == result["max_version"], summary
