"""
Client credentials: pull every page of a paged API with a token the hook obtains itself.

Connection ``oauth2_sandbox_cc`` (set by ``make demo``, or define your own)::

    AIRFLOW_CONN_OAUTH2_SANDBOX_CC='{"conn_type": "oauth2", "host": "http://127.0.0.1:8080",
        "login": "sandbox-client", "password": "sandbox-secret",
        "extra": {"token_url": "http://127.0.0.1:8080/token", "scope": "items:read"}}'
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

CONN_ID = "oauth2_sandbox_cc"


@dag(
    dag_id="example_oauth2_client_credentials",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oauth2"],
)
def example_oauth2_client_credentials():
    @task
    def fetch_all_items() -> dict[str, int]:
        hook = OAuth2Hook(oauth2_conn_id=CONN_ID)
        page, items = 1, []
        while page:
            body = hook.run("GET", "/api/items", params={"page": page, "per_page": 10}).json()
            items.extend(body["items"])
            page = body["next_page"]
        print(f"Fetched {len(items)} items; first: {items[0] if items else None}")
        return {"items": len(items), "distinct_ids": len({item["id"] for item in items})}

    fetch_all_items()


example_oauth2_client_credentials()
