"""
Device authorization (RFC 8628): authorize a headless Airflow from a phone or another computer.

One-time setup, done by a person::

    airflow oauth2 authorize oauth2_sandbox_device

run anywhere the Airflow CLI reaches the metadata database (a scheduler or worker shell will do;
no browser is needed there). It prints a verification URL and a short code; open the URL on any
device, sign in, enter the code and approve. The command waits for the approval and stores the
tokens encrypted in the Variable ``oauth2_token__oauth2_sandbox_device``; from then on tasks
refresh them on their own, and a revoked grant fails tasks with ``OAuth2ReauthorizationRequired``
naming the command to run again.

Connection ``oauth2_sandbox_device``::

    AIRFLOW_CONN_OAUTH2_SANDBOX_DEVICE='{"conn_type": "oauth2", "host": "http://127.0.0.1:8080",
        "login": "sandbox-client", "password": "sandbox-secret",
        "extra": {"grant_type": "device_code", "issuer": "http://127.0.0.1:8080", "scope": "items:read jobs"}}'
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

CONN_ID = "oauth2_sandbox_device"


@dag(
    dag_id="example_oauth2_device",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oauth2"],
)
def example_oauth2_device():
    @task
    def start_job() -> str:
        """Start a job in the user's account."""
        job = OAuth2Hook(oauth2_conn_id=CONN_ID).run("POST", "/api/jobs", json={"polls_until_done": 2}).json()
        print(f"Started job {job['id']}")
        return job["id"]

    @task
    def wait_for_job(job_id: str) -> dict:
        """Poll the job until it is done (each call refreshes the token if it is due)."""
        hook = OAuth2Hook(oauth2_conn_id=CONN_ID)
        while True:
            job = hook.run("GET", f"/api/jobs/{job_id}").json()
            if job["status"] == "done":
                print(f"Job {job_id} done: {job['result']}")
                return job["result"]
            time.sleep(1)

    wait_for_job(start_job())


example_oauth2_device()
