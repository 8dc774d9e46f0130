"""
A DAG for the real-deployment proof: parallel tasks share one rotating refresh_token connection.

Each task records whether the ORM was blocked in its process (the Airflow 3 supervisor's
``block_orm_access``), which token-store backend it used, and every token version it saw.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime

from airflow.sdk import dag, task

PARALLEL = int(os.environ.get("OAUTH2_DEPLOY_PARALLEL", "8"))
SECONDS = float(os.environ.get("OAUTH2_DEPLOY_SECONDS", "15"))


@dag(dag_id="oauth2_deployment_proof", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def oauth2_deployment_proof():
    @task
    def pull(index: int) -> None:
        from airflow import settings

        from airflow_oauth_provider.exceptions import OAuth2Error
        from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
        from airflow_oauth_provider.runtime import in_execution_context

        try:
            settings.Session()
            orm_blocked = False
        except (RuntimeError, AttributeError):
            orm_blocked = True
        hook = OAuth2Hook(oauth2_conn_id="deploy_api")
        ok, errors, versions = 0, [], {}
        deadline = time.time() + SECONDS
        while time.time() < deadline:
            try:
                hook.run("GET", "/api/items", params={"page": 1, "per_page": 1})
                ok += 1
                token = hook.store.cached()
                versions[token.version] = token.issued_at
            except OAuth2Error as err:
                errors.append(f"{type(err).__name__}: {err}"[:300])
                time.sleep(0.1)
            time.sleep(0.02)
        result = {
            "index": index,
            "orm_blocked": orm_blocked,
            "execution_context": in_execution_context(),
            "backend": hook.store.backend.name if hook.store.backend else None,
            "ok": ok,
            "errors": errors,
            "versions": versions,
            "ended_at": time.time(),
        }
        with open(os.path.join(os.environ["OAUTH2_DEPLOY_RESULTS"], f"task-{index}.json"), "w") as fh:
            json.dump(result, fh)
        if errors:
            raise RuntimeError(f"{len(errors)} API calls failed; first: {errors[0]}")

    pull.expand(index=list(range(PARALLEL)))


oauth2_deployment_proof()
