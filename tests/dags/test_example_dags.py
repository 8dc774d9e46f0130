"""
The example DAGs, run end to end with ``airflow dags test`` against a sandbox started here.

The connection is an ``AIRFLOW_CONN_*`` environment variable: in ``airflow dags test`` an
inline trigger cannot look up a connection stored in the database (Airflow 3.3.2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


@pytest.fixture
def dags_env(fresh_sandbox) -> dict[str, str]:
    conn = {
        "conn_type": "oauth2",
        "host": fresh_sandbox.url,
        "login": "sandbox-client",
        "password": "sandbox-secret",
        "extra": {"token_url": fresh_sandbox.token_url, "scope": "items:read jobs"},
    }
    env = os.environ.copy()
    env["AIRFLOW_CONN_OAUTH2_SANDBOX_CC"] = json.dumps(conn)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
    return env


def dags_test(dag_id: str, env: dict[str, str]) -> str:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    print(f"{dag_id}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, output[-5000:]
    return output


def test_etl_paged(fresh_sandbox, dags_env):
    output = dags_test("example_oauth2_etl_paged", dags_env)
    print(output)
    assert "Loaded 50 items from 5 pages" in output
    assert fresh_sandbox.stats()["api_calls"] == 5


def test_job_sensor_defers_and_resumes(fresh_sandbox, dags_env):
    output = dags_test("example_oauth2_job_sensor", dags_env)
    print(output)
    assert "Job result: {'items_processed': 50}" in output
