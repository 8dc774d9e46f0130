"""Logged response bodies never carry the connection's own secrets, even if the masker lost them."""

from __future__ import annotations

import logging

from airflow_oauth_provider.operators.http import OAuth2HttpOperator
from tests.triggers.runner import client_logs


def test_echoed_token_is_scrubbed_without_the_masker(stub, make_conn, caplog, capfd, monkeypatch):
    # Airflow's masker is a process-global that Airflow resets at every task start: simulate it
    # losing our patterns by not registering them at all.
    monkeypatch.setattr("airflow_oauth_provider.hooks.oauth2.mask_secret", lambda secret, name=None: None)
    token = "echoed-access-token-5d2e8c1a7f"
    stub.add_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
    stub.add_json(200, {"you_sent": f"Bearer {token}", "secret": "sandbox-secret"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    caplog.set_level(logging.DEBUG)
    result = OAuth2HttpOperator(task_id="t", oauth2_conn_id=conn_id, endpoint="/echo", log_response=True).execute({})
    assert token in result  # XCom gets the API's answer unchanged
    logs = client_logs(caplog, capfd)
    assert '"you_sent": "Bearer ***"' in logs and '"secret": "***"' in logs
    assert token not in logs and "sandbox-secret" not in logs
