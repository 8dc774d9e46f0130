"""
Keep idle refresh tokens alive: many providers expire a refresh token nobody used for a while
(Microsoft after 90 days, Xero after 60). Run this daily; it refreshes only the connections
whose refresh token is older than their ``extra.refresh_token_max_idle``.

The connections come from the Variable ``oauth2_keepalive_conn_ids`` (a JSON list). A dead grant
fails the task and the notifier says which connection needs ``airflow oauth2 authorize``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_oauth_provider.notifications.reauthorization import OAuth2ReauthorizationNotifier
from airflow_oauth_provider.operators.keepalive import OAuth2KeepAliveOperator

with DAG(
    dag_id="example_oauth2_keepalive",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["example", "oauth2"],
):
    OAuth2KeepAliveOperator(
        task_id="keep_alive",
        oauth2_conn_ids="{{ var.json.oauth2_keepalive_conn_ids }}",
        on_failure_callback=OAuth2ReauthorizationNotifier(),
    )
