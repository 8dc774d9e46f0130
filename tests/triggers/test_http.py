"""OAuth2HttpTrigger and OAuth2HttpSensorTrigger, run in an event loop against the sandbox (hostile answers: stub)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from airflow_oauth_provider.exceptions import OAuth2ConfigError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.triggers.http import (
    OAuth2HttpSensorTrigger,
    OAuth2HttpTrigger,
    error_from_event,
    response_from_event,
)
from tests.triggers.runner import _first, client_logs, first_event, issued_access_tokens, rebuild, sandbox_conn

GOOD_TOKEN = {"token_type": "Bearer", "expires_in": 3600}


def test_serialization():
    trigger = OAuth2HttpTrigger(
        oauth2_conn_id="crm",
        method="POST",
        endpoint="/v1/items",
        data={"a": "1"},
        json={"b": [1, 2]},
        params={"page": 2},
        headers={"X-Trace": "etl"},
        extra_options={"timeout": 30, "check_response": False},
        max_retries=5,
        retry_non_idempotent=True,
    )
    assert trigger.serialize() == (
        "airflow_oauth_provider.triggers.http.OAuth2HttpTrigger",
        {
            "oauth2_conn_id": "crm",
            "method": "POST",
            "endpoint": "/v1/items",
            "data": {"a": "1"},
            "json": {"b": [1, 2]},
            "params": {"page": 2},
            "headers": {"X-Trace": "etl"},
            "extra_options": {"timeout": 30, "check_response": False},
            "max_retries": 5,
            "retry_non_idempotent": True,
        },
    )
    assert rebuild(trigger).serialize() == trigger.serialize()


def test_sensor_trigger_serialization():
    trigger = OAuth2HttpSensorTrigger(
        endpoint="/api/jobs/7",
        oauth2_conn_id="crm",
        params={"verbose": "1"},
        poke_interval=5,
        not_found_ok=True,
        response_check_path="my_pkg.checks.job_done",
    )
    assert trigger.serialize() == (
        "airflow_oauth_provider.triggers.http.OAuth2HttpSensorTrigger",
        {
            "oauth2_conn_id": "crm",
            "method": "GET",
            "endpoint": "/api/jobs/7",
            "data": None,
            "json": None,
            "params": {"verbose": "1"},
            "headers": None,
            "extra_options": {},
            "max_retries": None,
            "retry_non_idempotent": None,
            "poke_interval": 5.0,
            "not_found_ok": True,
            "response_check_path": "my_pkg.checks.job_done",
        },
    )
    assert rebuild(trigger).serialize() == trigger.serialize()


def test_an_authorization_header_is_never_serialised():
    trigger = OAuth2HttpTrigger(headers={"authorization": "Bearer pasted-by-hand", "X-Trace": "1"})
    assert trigger.serialize()[1]["headers"] == {"X-Trace": "1"}


def test_unsupported_extra_options_fail_when_deferring():
    with pytest.raises(OAuth2ConfigError, match="extra_options: cert, stream cannot be used in deferrable mode"):
        OAuth2HttpTrigger(extra_options={"stream": True, "cert": "/x", "timeout": 3})


def test_fires_the_response_with_a_token_from_the_shared_store(fresh_sandbox, make_conn, caplog, capfd):
    conn_id = sandbox_conn(make_conn, fresh_sandbox)
    OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/items")  # a task of this process got a token
    trigger = OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/api/items", params={"page": 5, "per_page": 10})
    caplog.set_level(logging.DEBUG)
    event = first_event(trigger).payload

    assert event["status"] == "success"
    response = response_from_event(event["response"])
    assert response.status_code == 200 and response.reason == "OK"
    assert response.url == f"{fresh_sandbox.url}/api/items?page=5&per_page=10"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["items"][-1] == {"id": 50, "name": "item-050"}
    assert fresh_sandbox.stats()["token_requests_total"] == 1  # the trigger reused the store's token

    tokens = issued_access_tokens(fresh_sandbox)
    held = json.dumps(trigger.serialize()) + repr(vars(trigger)) + json.dumps(event)
    assert not [t for t in tokens if t in held]
    logs = client_logs(caplog, capfd)
    assert "firing the trigger event" in logs
    assert not [t for t in tokens if t in logs]


def test_event_repr_leaves_out_body_and_headers(sandbox, make_conn):
    trigger = OAuth2HttpTrigger(oauth2_conn_id=sandbox_conn(make_conn, sandbox), endpoint="/api/items")
    event = first_event(trigger)
    assert "item-001" in event.payload["response"]["text"]
    assert "item-001" not in repr(event) and "item-001" not in str(event)
    assert "content-type" not in repr(event)
    assert repr(event).startswith("TriggerEvent<{'status': 'success', 'response': {'status_code': 200, 'url': ")


def test_refreshes_once_on_401(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", **GOOD_TOKEN})
    stub.add_json(401, {"error": "invalid_token"}, www_authenticate='Bearer error="invalid_token"')
    stub.add_json(200, {"access_token": "token-B-1234567890", **GOOD_TOKEN})
    stub.add_json(200, {"ok": True})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/api/thing")).payload
    assert event["status"] == "success"
    assert json.loads(event["response"]["text"]) == {"ok": True}
    assert [(r.method, r.path, r.headers.get("Authorization")) for r in stub.requests] == [
        ("POST", "/token", stub.requests[0].headers.get("Authorization")),
        ("GET", "/api/thing", "Bearer token-A-1234567890"),
        ("POST", "/token", stub.requests[2].headers.get("Authorization")),
        ("GET", "/api/thing", "Bearer token-B-1234567890"),
    ]


def test_a_second_401_is_an_error_event(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", **GOOD_TOKEN})
    stub.add_json(401, {"error": "invalid_token"})
    stub.add_json(200, {"access_token": "token-B-1234567890", **GOOD_TOKEN})
    stub.add_json(401, {"error": "invalid_token"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/api/thing")).payload
    assert event == {
        "status": "error",
        "error": "OAuth2HttpError",
        "message": f"401:Unauthorized from {stub.url}/api/thing",
        "status_code": 401,
        "reason": "Unauthorized",
        "url": f"{stub.url}/api/thing",
    }
    assert len(stub.requests) == 4
    err = error_from_event(event)
    assert (type(err).__name__, err.status) == ("OAuth2HttpError", 401)


def test_429_retry_after_is_waited_out_without_blocking_the_loop(fresh_sandbox, make_conn):
    fresh_sandbox.inject_fault("/api/items", status=429, retry_after="1")
    trigger = OAuth2HttpTrigger(oauth2_conn_id=sandbox_conn(make_conn, fresh_sandbox), endpoint="/api/items")

    async def run_with_ticker():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        event = await _first(trigger)
        ticker.cancel()
        return event, ticks

    started = time.monotonic()
    event, ticks = asyncio.run(run_with_ticker())
    assert event.payload["status"] == "success"
    assert time.monotonic() - started >= 1.0
    assert ticks >= 5  # the loop kept running during the wait
    assert fresh_sandbox.stats()["api_calls"] == 2


def test_retry_after_above_the_maximum_is_an_error_at_once(fresh_sandbox, make_conn):
    fresh_sandbox.inject_fault("/api/items", status=429, retry_after="90")
    conn_id = sandbox_conn(make_conn, fresh_sandbox, api_max_retry_wait=10)
    started = time.monotonic()
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/api/items")).payload
    assert time.monotonic() - started < 3  # failed at once
    assert event["status_code"] == 429
    assert "retry after 90 s, more than api_max_retry_wait 10 s" in event["message"]
    assert fresh_sandbox.stats()["api_calls"] == 1


def test_post_500_is_retried_only_when_opted_in(fresh_sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, fresh_sandbox)
    fresh_sandbox.inject_fault("/api/jobs", status=500)
    job = {"oauth2_conn_id": conn_id, "method": "POST", "endpoint": "/api/jobs", "json": {"polls_until_done": 1}}
    event = first_event(OAuth2HttpTrigger(**job)).payload
    assert (event["status"], event["status_code"]) == ("error", 500)
    assert fresh_sandbox.stats()["api_calls"] == 1
    fresh_sandbox.inject_fault("/api/jobs", status=500)
    event = first_event(OAuth2HttpTrigger(**job, retry_non_idempotent=True)).payload
    assert event["status"] == "success" and event["response"]["status_code"] == 201
    assert fresh_sandbox.stats()["api_calls"] == 3


def test_connection_refused_is_an_error_event_after_the_retries(stub, make_conn, caplog):
    stub.add_json(200, {"access_token": "token-A-1234567890", **GOOD_TOKEN})
    conn_id = make_conn(host="http://127.0.0.1:9", token_url=f"{stub.url}/token")
    caplog.set_level(logging.WARNING, logger="airflow_oauth_provider.hooks.retry")
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/x", max_retries=1)).payload
    assert (event["status"], event["error"]) == ("error", "ConnectError")
    assert "GET http://127.0.0.1:9/x: ConnectError; retry 1/1 in" in caplog.text
    assert "giving up after 1 retries" in caplog.text


def test_sensor_trigger_waits_through_404_when_not_found_ok(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", **GOOD_TOKEN})
    stub.add_json(404, {"error": "not_found"})
    stub.add_json(404, {"error": "not_found"})
    stub.add_json(200, {"status": "ready"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    trigger = OAuth2HttpSensorTrigger(endpoint="/report", oauth2_conn_id=conn_id, poke_interval=0.05, not_found_ok=True)
    event = first_event(trigger).payload
    assert event["status"] == "success" and json.loads(event["response"]["text"]) == {"status": "ready"}
    assert [r.path for r in stub.requests] == ["/token", "/report", "/report", "/report"]


def test_sensor_trigger_404_is_an_error_unless_not_found_ok(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", **GOOD_TOKEN})
    stub.add_json(404, {"error": "not_found"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    event = first_event(OAuth2HttpSensorTrigger(endpoint="/report", oauth2_conn_id=conn_id, poke_interval=0.01)).payload
    assert (event["status"], event["status_code"]) == ("error", 404)


@pytest.mark.parametrize("check", ["tests.sensors.checks.job_done", "tests.sensors.checks.job_done_async"])
def test_sensor_trigger_runs_the_check_itself(sandbox, make_conn, check):
    conn_id = sandbox_conn(make_conn, sandbox)
    job = OAuth2Hook(oauth2_conn_id=conn_id).run("POST", "/api/jobs", json={"polls_until_done": 3}).json()
    trigger = OAuth2HttpSensorTrigger(
        endpoint=f"/api/jobs/{job['id']}", oauth2_conn_id=conn_id, poke_interval=0.05, response_check_path=check
    )
    event = first_event(trigger).payload
    assert json.loads(event["response"]["text"])["status"] == "done"
    assert json.loads(event["response"]["text"])["polls"] == 3


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.sensors.nowhere.job_done", "cannot import 'tests.sensors.nowhere.job_done'"),
        ("tests.sensors.checks.NOT_CALLABLE", "'tests.sensors.checks.NOT_CALLABLE' is not an importable function"),
    ],
)
def test_sensor_trigger_with_a_bad_check_path(path, message):
    event = first_event(OAuth2HttpSensorTrigger(endpoint="/x", response_check_path=path)).payload
    assert event["status"] == "error" and event["error"] == "OAuth2ConfigError"
    assert message in event["message"]


def test_an_unknown_connection_is_an_error_event():
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id="no_such_connection", endpoint="/x")).payload
    assert event["status"] == "error" and event["error"] == "AirflowNotFoundException"
    assert "no_such_connection" in event["message"]


def test_a_ca_bundle_path_becomes_an_ssl_context():
    import ssl

    import certifi

    from airflow_oauth_provider.triggers.http import _ssl_verify

    assert isinstance(_ssl_verify(certifi.where()), ssl.SSLContext)
    assert _ssl_verify(False) is False


def test_connection_proxies_become_httpx_mounts(sandbox, make_conn):
    """An https-only proxy (unreachable) leaves the sandbox's plain-http calls alone."""
    conn_id = sandbox_conn(
        make_conn, sandbox, proxies={"https": "http://127.0.0.1:9", "https://example.com": "http://127.0.0.1:9"}
    )
    event = first_event(OAuth2HttpTrigger(oauth2_conn_id=conn_id, endpoint="/api/items")).payload
    assert event["status"] == "success"
