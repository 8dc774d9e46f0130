"""
The example DAGs (and tests/dags/dag_files/), run end to end by ``airflow dags test`` against a sandbox.

One subprocess runs the ``dags test`` command for each DAG in turn (tests/dags/run_dags.py), from
a dags folder holding exactly these DAG files. The connections are ``AIRFLOW_CONN_*`` environment
variables: in ``airflow dags test`` an inline trigger cannot look up a connection stored in the
database (Airflow 3.3.2). The runs write to this test session's metadata database, so XComs
are read back from it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.triggers.runner import issued_access_tokens

DAG_FILES = {
    "example_oauth2_etl_paged": ROOT / "example_dags" / "example_oauth2_etl_paged.py",
    "example_oauth2_job_sensor": ROOT / "example_dags" / "example_oauth2_job_sensor.py",
    "oauth2_modes": ROOT / "tests" / "dags" / "dag_files" / "oauth2_modes.py",
}


class Runs:
    def __init__(self, output: str, server: Any) -> None:
        self.output = output
        self.server = server
        self.sections = dict(re.findall(r"=== BEGIN (\S+)\n(.*?)=== END \1", output, re.S))

    def of(self, dag_id: str) -> tuple[str, dict[str, Any]]:
        """The output of one DAG's run (checked to have succeeded) and the sandbox's counters after it."""
        section = self.sections[dag_id]
        assert f"=== FAILED {dag_id}" not in section, section[-5000:]
        assert f"DagRun Finished: dag_id={dag_id}," in section and "state=success" in section, section[-5000:]
        stats = json.loads(re.search(rf"=== STATS {dag_id} (.*)", section).group(1))
        return section, stats


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Iterator[Runs]:
    from airflow_oauth_provider.sandbox import SandboxConfig, SandboxServer

    dags_folder = tmp_path_factory.mktemp("dags")
    for path in DAG_FILES.values():
        (dags_folder / path.name).symlink_to(path)
    with SandboxServer(SandboxConfig(port=0)) as server:
        conn = json.dumps(
            {
                "conn_type": "oauth2",
                "host": server.url,
                "login": "sandbox-client",
                "password": "sandbox-secret",
                "extra": {"token_url": server.token_url, "scope": "items:read jobs"},
            }
        )
        env = {
            **os.environ,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW_CONN_OAUTH2_SANDBOX_CC": conn,
            "AIRFLOW_CONN_OAUTH2_MODES": conn,
            "PYTHONUNBUFFERED": "1",
        }
        result = subprocess.run(
            [sys.executable, "-m", "tests.dags.run_dags", server.url, *DAG_FILES],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
            cwd=ROOT,
        )
        yield Runs(result.stdout, server)


def xcoms(dag_id: str) -> dict[str, Any]:
    """The return values of the latest run of ``dag_id``, by task id."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
        )
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def test_etl_paged(runs):
    output, stats = runs.of("example_oauth2_etl_paged")
    assert "Loaded 50 items from 5 pages" in output
    assert (stats["api_calls"], stats["token_requests_total"]) == (5, 1)
    values = xcoms("example_oauth2_etl_paged")
    pages = values["extract_items"]
    assert [[item["id"] for item in page] for page in pages] == [list(range(n, n + 10)) for n in (1, 11, 21, 31, 41)]
    assert values["load"] == {"pages": 5, "items": 50}


def test_job_sensor_defers_and_resumes(runs):
    output, stats = runs.of("example_oauth2_job_sensor")
    # poll 1 by the sensor's own poke, polls 2 and 3 by the trigger, the task resuming after each
    assert output.count("Pausing task as DEFERRED") == 2
    assert output.count("[DAG TEST] running trigger in line") == 2
    assert output.count("answered 200; firing the trigger event") == 2
    assert output.count("not done yet, deferring again") == 1
    assert output.count("the sensor's condition is met") == 1
    assert "is running after 1 polls" in output and "is done after 3 polls" in output
    assert "Job result: {'items_processed': 50}" in output
    values = xcoms("example_oauth2_job_sensor")
    assert values["wait_for_job"] == values["report"] == {"items_processed": 50}
    assert isinstance(values["submit_job"], str)
    # 1 POST + 3 GETs; one token for the tasks and the inline trigger: the same store
    assert (stats["api_calls"], stats["token_requests_total"]) == (4, 1)


def test_deferrable_operator_and_reschedule_sensor(runs):
    """dag_files/oauth2_modes.py: a deferrable operator (one page, then paged) and a reschedule-mode sensor."""
    output, _ = runs.of("oauth2_modes")
    values = xcoms("oauth2_modes")
    assert values["deferred_single"] == [11, 12, 13, 14, 15]  # request_params templated from DAG params
    assert values["deferred_paged"] == [25, 25]
    assert output.count("[DAG TEST] running trigger in line") == 2
    # dags test resumes without the deferral kwargs: the second page came from the worker
    assert "fetching the remaining pages from the worker" in output
    assert output.count("Rescheduling task, marking task as UP_FOR_RESCHEDULE") == 1  # job done at the 2nd poke
    assert output.count("[DAG TEST] starting task_id=rescheduled") == 2


def test_no_secret_in_the_output(runs):
    assert "sandbox-secret" not in runs.output
    assert not [t for t in issued_access_tokens(runs.server) if t in runs.output]
