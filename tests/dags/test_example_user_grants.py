"""
The user-grant example DAGs end to end: a person authorizes once with the CLI, then DAG runs refresh
and rotate on their own.

Access tokens live 2 s here, so every ``airflow dags test`` run finds the stored token expired,
refreshes it and stores the rotated refresh token as a new record version; the sandbox's reuse
detection would revoke the whole grant if any spent refresh token were ever presented again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.cli.helpers import authorize_code_with_cli, authorize_device_in_process, redirect_uri, secrets_of, stored
from tests.conftest import ROOT

CODE_CONN = "oauth2_sandbox_code"
DEVICE_CONN = "oauth2_sandbox_device"


@pytest.fixture
def short_lived(fresh_sandbox):
    fresh_sandbox.update_config(access_token_lifetime=2)
    return fresh_sandbox


def define(monkeypatch, conn_id: str, sandbox, **extra) -> None:
    conn = {
        "conn_type": "oauth2",
        "host": sandbox.url,
        "login": "sandbox-client",
        "password": "sandbox-secret",
        "extra": {"issuer": sandbox.url, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def dags_test(dag_id: str, dags_folder) -> str:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id],
        env=os.environ.copy() | {"AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    print(f"airflow dags test {dag_id}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, output[-5000:]
    assert f"DagRun Finished: dag_id={dag_id}" in output and "state=success" in output, output[-5000:]
    return output


def test_authorization_code_dag_runs_rotate_without_reuse(short_lived, monkeypatch, tmp_path):
    (tmp_path / "dag.py").symlink_to(ROOT / "example_dags" / "example_oauth2_authorization_code.py")  # parse only it
    define(
        monkeypatch,
        CODE_CONN,
        short_lived,
        grant_type="authorization_code",
        redirect_uri=redirect_uri(),
        scope="items:read offline_access",
    )
    cli = authorize_code_with_cli(CODE_CONN)
    assert cli.returncode == 0, cli.output
    seen = [stored(CODE_CONN)]

    outputs = []
    for _ in range(3):  # each run starts > 2 s after the last token was issued: it finds it expired
        outputs.append(dags_test("example_oauth2_authorization_code", tmp_path))
        seen.append(stored(CODE_CONN))

    versions = [token.version for token in seen]
    assert versions == sorted(set(versions)), f"the stored version must grow on every run: {versions}"
    assert len({token.refresh_token for token in seen}) == len(seen)  # rotated every run
    for output in outputs:
        assert "Calling the API as alice" in output and "Fetched 50 items on behalf of alice" in output
        for secret in [*secrets_of(*seen), "sandbox-secret"]:
            assert secret not in output
    stats = short_lived.stats()
    assert stats["invalid_grant"] == 0 and stats["refresh_reuse_detected"] == 0
    assert stats["token_requests"]["refresh_token"] >= 3
    assert stats["api_401"] == 0


def test_device_dag_tasks(short_lived, monkeypatch):
    """
    The device example's tasks, called in this process after a device authorization (a full
    ``airflow dags test`` costs ~9 s of CPU; the code example above proves that path three times).
    """
    from airflow.dag_processing.dagbag import DagBag

    define(monkeypatch, DEVICE_CONN, short_lived, grant_type="device_code", scope="items:read jobs")
    first = authorize_device_in_process(DEVICE_CONN)
    bag = DagBag(dag_folder=str(ROOT / "example_dags" / "example_oauth2_device.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("example_oauth2_device")
    assert [task.task_id for task in dag.topological_sort()] == ["start_job", "wait_for_job"]

    time.sleep(1.1)  # the 2 s access token is due (refresh leeway: half its lifetime)
    job_id = dag.get_task("start_job").python_callable()
    result = dag.get_task("wait_for_job").python_callable(job_id)

    assert result == {"items_processed": 50}
    latest = stored(DEVICE_CONN)
    assert latest.version > first.version and latest.refresh_token != first.refresh_token
    assert short_lived.stats()["invalid_grant"] == 0


def test_example_dags_import_only_public_names():
    for name in ("example_oauth2_authorization_code.py", "example_oauth2_device.py"):
        source = (ROOT / "example_dags" / name).read_text()
        imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        provider_imports = [line for line in imports if "airflow_oauth_provider" in line]
        assert provider_imports == ["from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook"], name
        assert "airflow oauth2 authorize" in source.split('"""')[1]
