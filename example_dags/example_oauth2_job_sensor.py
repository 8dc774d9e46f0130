"""
Start a job on an API, then wait for it in the triggerer: no worker slot is held while it runs.

``submit_job`` POSTs the job (a POST is not retried on a 5xx unless ``retry_non_idempotent``
says so: the job might have been created). ``wait_for_job`` is a deferrable sensor: it polls
``GET /api/jobs/<id>`` from the triggerer, with the same token store as the tasks, and the task
resumes on a worker to read each answer until the job is ``done``; the job's result goes to XCom.

Connection ``oauth2_sandbox_cc`` needs the ``jobs`` scope (see ``example_oauth2_etl_paged``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import PokeReturnValue, dag, task

from airflow_oauth_provider.operators.http import OAuth2HttpOperator
from airflow_oauth_provider.sensors.http import OAuth2HttpSensor

CONN_ID = "oauth2_sandbox_cc"


def job_finished(response: Any) -> PokeReturnValue:
    """Done once the job says so; its result becomes the sensor's XCom."""
    job = response.json()
    print(f"Job {job['id']} is {job['status']} after {job['polls']} polls")
    return PokeReturnValue(is_done=job["status"] == "done", xcom_value=job.get("result"))


@dag(
    dag_id="example_oauth2_job_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oauth2"],
)
def example_oauth2_job_sensor():
    submit = OAuth2HttpOperator(
        task_id="submit_job",
        oauth2_conn_id=CONN_ID,
        method="POST",
        endpoint="/api/jobs",
        json={"polls_until_done": 3},
        response_filter=lambda response: response.json()["id"],
    )

    wait = OAuth2HttpSensor(
        task_id="wait_for_job",
        oauth2_conn_id=CONN_ID,
        endpoint="/api/jobs/{{ ti.xcom_pull(task_ids='submit_job') }}",
        response_check=job_finished,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def report(result: dict[str, Any]) -> dict[str, Any]:
        print(f"Job result: {result}")
        return result

    submit >> wait
    report(wait.output)


example_oauth2_job_sensor()
