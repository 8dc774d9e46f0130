"""``required_scopes``: a task that needs a scope the grant lacks fails before any request."""

from __future__ import annotations

import pytest

from airflow_oauth_provider.exceptions import OAuth2ScopeError
from airflow_oauth_provider.operators.http import OAuth2HttpOperator
from airflow_oauth_provider.sensors.http import OAuth2HttpSensor


@pytest.mark.parametrize("kind", ["operator", "sensor"])
def test_missing_scope_fails_before_any_request(kind, fresh_sandbox, make_conn):
    url = fresh_sandbox.url
    conn_id = make_conn(host=url, token_url=f"{url}/token", scope="items:read")
    cls = OAuth2HttpOperator if kind == "operator" else OAuth2HttpSensor
    task = cls(task_id="t", oauth2_conn_id=conn_id, endpoint="/api/items", required_scopes=["items:read", "jobs"])
    with pytest.raises(OAuth2ScopeError) as info:
        task.execute(context={})
    assert str(info.value) == (
        f"connection {conn_id!r} lacks required scopes; missing: jobs; granted: items:read; "
        "ask the provider to grant them to the client"
    )
    assert fresh_sandbox.stats()["api_calls"] == 0


def test_present_scopes_pass(fresh_sandbox, make_conn):
    url = fresh_sandbox.url
    conn_id = make_conn(host=url, token_url=f"{url}/token", scope="items:read")
    task = OAuth2HttpOperator(
        task_id="t", oauth2_conn_id=conn_id, endpoint="/api/items", required_scopes=["items:read"]
    )
    assert '"items"' in task.execute(context={})
