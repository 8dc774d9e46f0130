"""
Scheduled ETL: every day, pull every page of a paged API with client credentials, then load it.

The operator follows ``next_page`` through ``pagination_function``; the token is obtained,
cached and renewed by the connection's hook, however many pages there are and however short
the token lives. 429 and 503 answers are waited out (``Retry-After``), other 5xx retried.

Connection ``oauth2_sandbox_cc`` (set by ``make demo``, or define your own)::

    AIRFLOW_CONN_OAUTH2_SANDBOX_CC='{"conn_type": "oauth2", "host": "http://127.0.0.1:8080",
        "login": "sandbox-client", "password": "sandbox-secret",
        "extra": {"token_url": "http://127.0.0.1:8080/token", "scope": "items:read jobs"}}'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from airflow_oauth_provider.operators.http import OAuth2HttpOperator

CONN_ID = "oauth2_sandbox_cc"
PER_PAGE = 10


def next_page(response: Any) -> dict[str, Any] | None:
    """The next request's query parameters, or None after the last page."""
    page = response.json()["next_page"]
    return {"params": {"page": page}} if page else None


def items_of(response: Any) -> list[dict[str, Any]]:
    """Keep only the records of each page (this is what goes to XCom, one list per page)."""
    return response.json()["items"]


@dag(
    dag_id="example_oauth2_etl_paged",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["example", "oauth2"],
)
def example_oauth2_etl_paged():
    extract = OAuth2HttpOperator(
        task_id="extract_items",
        oauth2_conn_id=CONN_ID,
        endpoint="/api/items",
        request_params={"page": 1, "per_page": PER_PAGE},
        pagination_function=next_page,
        response_filter=items_of,
    )

    @task
    def load(pages: list[list[dict[str, Any]]]) -> dict[str, int]:
        items = [item for page in pages for item in page]
        ids = [item["id"] for item in items]
        if len(ids) != len(set(ids)):
            raise ValueError("a page was loaded twice")
        print(f"Loaded {len(items)} items from {len(pages)} pages")
        return {"pages": len(pages), "items": len(items)}

    load(extract.output)


example_oauth2_etl_paged()
