"""
Test DAG: the operator and sensor modes that the example DAGs do not show, run by ``airflow dags test``.

Connection ``oauth2_modes`` comes from the test as an ``AIRFLOW_CONN_*`` variable.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_oauth_provider.operators.http import OAuth2HttpOperator
from airflow_oauth_provider.sensors.http import OAuth2HttpSensor

CONN_ID = "oauth2_modes"


def next_page(response):
    page = response.json()["next_page"]
    return {"params": {"page": page}} if page else None


@dag(dag_id="oauth2_modes", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def oauth2_modes():
    deferred_single = OAuth2HttpOperator(
        task_id="deferred_single",
        oauth2_conn_id=CONN_ID,
        endpoint="/api/items",
        request_params={"page": "{{ params.page }}", "per_page": 5},
        response_filter=lambda response: [item["id"] for item in response.json()["items"]],
        deferrable=True,
        params={"page": 3},
    )
    deferred_paged = OAuth2HttpOperator(
        task_id="deferred_paged",
        oauth2_conn_id=CONN_ID,
        endpoint="/api/items",
        request_params={"page": 1, "per_page": 25},
        pagination_function=next_page,
        response_filter=lambda response: len(response.json()["items"]),
        deferrable=True,
    )
    job = OAuth2HttpOperator(
        task_id="start_job",
        oauth2_conn_id=CONN_ID,
        method="POST",
        endpoint="/api/jobs",
        json={"polls_until_done": 2},
        response_filter=lambda response: response.json()["id"],
    )
    rescheduled = OAuth2HttpSensor(
        task_id="rescheduled",
        oauth2_conn_id=CONN_ID,
        endpoint="/api/jobs/{{ ti.xcom_pull(task_ids='start_job') }}",
        response_check=lambda response: response.json()["status"] == "done",
        mode="reschedule",
        poke_interval=1,
        timeout=60,
    )
    deferred_single >> deferred_paged >> job >> rescheduled


oauth2_modes()
