"""
The token store in a real Airflow deployment, where the supervisor blocks the ORM in tasks.

``airflow dags test`` does not block the ORM and would hide a design that needs it, so this
starts the real components — api-server, scheduler (LocalExecutor) and dag-processor — on a
fresh PostgreSQL metadata database, and runs 8 parallel tasks that share one rotating
refresh_token connection with the ``sql`` lock backend on PostgreSQL. Every API call must
succeed, the sandbox must count zero ``invalid_grant``, and there must be one refresh per expiry.

Select it alone with ``pytest -m deployment``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from tests.dbs import require
from tests.user_agent import obtain_refresh_token

pytestmark = [pytest.mark.deployment, pytest.mark.multiprocess]

PARALLEL = 8
SECONDS = 15
LIFETIME = 3
LEEWAY = 1.0
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def metadata_db():
    require(5432)
    import psycopg2

    name = f"oauth2_deploy_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def query(url: str, sql: str, *args):
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()


def test_parallel_tasks_refresh_once_per_expiry_with_orm_blocked(metadata_db, fresh_sandbox, tmp_path):
    fresh_sandbox.update_config(access_token_lifetime=LIFETIME)
    seed = obtain_refresh_token(fresh_sandbox.url)
    home, dags, results, logs = (tmp_path / d for d in ("home", "dags", "results", "logs"))
    for d in (home, dags, results, logs):
        d.mkdir()
    shutil.copy(Path(__file__).with_name("dag_template.py"), dags / "oauth2_deployment_proof.py")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_db,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="16",
        AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="16",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        OAUTH2_DEPLOY_RESULTS=str(results),
        OAUTH2_DEPLOY_PARALLEL=str(PARALLEL),
        OAUTH2_DEPLOY_SECONDS=str(SECONDS),
        AIRFLOW_CONN_DEPLOY_API=json.dumps(
            {
                "conn_type": "oauth2",
                "host": fresh_sandbox.url,
                "login": "sandbox-client",
                "password": "sandbox-secret",
                "extra": {
                    "grant_type": "refresh_token",
                    "token_url": f"{fresh_sandbox.url}/token",
                    "refresh_token": seed,
                    "lock_backend": "sql",
                    "lock_conn_id": "deploy_lock",
                    "leeway": LEEWAY,
                    "token_retries": 0,
                },
            }
        ),
        AIRFLOW_CONN_DEPLOY_LOCK=json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
        ),
    )
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    procs, log_files = [], []
    try:
        for component in (["api-server", "--port", str(port)], ["scheduler"], ["dag-processor"]):
            log = open(logs / f"{component[0]}.log", "wb")  # closed in finally
            log_files.append(log)
            procs.append(
                subprocess.Popen(
                    [str(BIN / "airflow"), *component],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_until(lambda: api_up(port), 90, "the api-server to answer", logs)
        wait_until(
            lambda: query(metadata_db, "SELECT 1 FROM dag WHERE dag_id = %s", "oauth2_deployment_proof"),
            90,
            "the dag-processor to parse the DAG",
            logs,
        )
        subprocess.run(
            [str(BIN / "airflow"), "dags", "trigger", "oauth2_deployment_proof"],
            env=env,
            check=True,
            capture_output=True,
        )
        state = wait_until(lambda: finished_state(metadata_db), 240, "the DAG run to finish", logs)
        task_results = [json.loads(p.read_text()) for p in sorted(results.glob("task-*.json"))]
        assert state == "success", (state, task_results, tail(logs))
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in log_files:
            log.close()

    stats = fresh_sandbox.stats()
    assert len(task_results) == PARALLEL
    for result in task_results:
        assert result["orm_blocked"], result  # a real supervised task process
        assert result["execution_context"], result
        assert result["backend"].startswith("sql:") and result["backend"].endswith("/execution-api"), result
        assert result["errors"] == [], result
        assert result["ok"] > 10, result
    assert stats["invalid_grant"] == 0, stats
    assert stats["refresh_reuse_detected"] == 0, stats
    issued = {int(v): t for r in task_results for v, t in r["versions"].items()}
    ended = max(r["ended_at"] for r in task_results)
    period = LIFETIME - min(LEEWAY, LIFETIME / 2)
    expiries = sum(1 for t in issued.values() if t + period <= ended)
    refreshes = stats["token_requests"].get("refresh_token", 0)
    calls = sum(r["ok"] for r in task_results)
    print(
        f"deployment proof: {PARALLEL} tasks, {calls} API calls, {refreshes} refreshes, {expiries} expiries, "
        f"invalid_grant={stats['invalid_grant']}, backend={task_results[0]['backend']}"
    )
    assert abs(refreshes - (1 + expiries)) <= 1, (refreshes, expiries, stats)
    assert expiries >= SECONDS / period / 2
    stored = query(metadata_db, "SELECT val FROM variable WHERE key = %s", "oauth2_token__deploy_api")
    assert stored and "oauth2" not in stored[0][0]  # Airflow's own Variable encryption on top of ours


def api_up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def finished_state(url: str) -> str | None:
    rows = query(url, "SELECT state FROM dag_run WHERE dag_id = %s", "oauth2_deployment_proof")
    if rows and rows[0][0] in ("success", "failed"):
        return rows[0][0]
    return None


def wait_until(check, seconds: float, what: str, logs: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{tail(logs)}")


def tail(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log")))
