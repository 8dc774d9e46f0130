"""OAuth2HttpOperator against the real sandbox (the stub only for answers the sandbox never gives)."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_oauth_provider.exceptions import OAuth2HttpError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.operators.http import OAuth2HttpOperator
from airflow_oauth_provider.triggers.http import OAuth2HttpTrigger
from tests.triggers.runner import client_logs, issued_access_tokens, run_deferrable, sandbox_conn


def next_page(response):
    page = response.json()["next_page"]
    return {"params": {"page": page}} if page else None


def items_of(response):
    return response.json()["items"]


def operator(conn_id: str, **kwargs) -> OAuth2HttpOperator:
    kwargs.setdefault("task_id", "call_api")
    kwargs.setdefault("endpoint", "/api/items")
    return OAuth2HttpOperator(oauth2_conn_id=conn_id, **kwargs)


def test_template_fields_are_documented():
    assert OAuth2HttpOperator.template_fields == ("endpoint", "data", "json", "headers", "request_params")
    doc = OAuth2HttpOperator.__doc__ or ""
    params = dict(re.findall(r":param (\w+): (.*?)(?=\n    :param |\Z)", doc, re.S))
    for field in OAuth2HttpOperator.template_fields:
        assert params[field].rstrip().endswith("(templated)"), field
    assert not any(
        "(templated)" in text for name, text in params.items() if name not in OAuth2HttpOperator.template_fields
    )


def test_hook_is_built_lazily():
    op = operator("no_such_connection")
    assert "hook" not in op.__dict__
    hook = op.hook
    assert isinstance(hook, OAuth2Hook) and hook.oauth2_conn_id == "no_such_connection"
    assert op.hook is hook
    assert "settings" not in hook.__dict__  # nothing looked up yet


def test_default_result_is_the_response_text(sandbox, make_conn):
    result = operator(sandbox_conn(make_conn, sandbox), request_params={"page": 2, "per_page": 3}).execute({})
    assert isinstance(result, str)
    assert [item["id"] for item in json.loads(result)["items"]] == [4, 5, 6]


def test_response_check_and_filter_receive_context(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    seen = {}

    def check(response, ds):
        seen["ds"] = ds
        return response.status_code == 200

    op = operator(conn_id, request_params={"per_page": 2}, response_check=check, response_filter=items_of)
    assert op.execute({"ds": "2026-01-01"}) == [{"id": 1, "name": "item-001"}, {"id": 2, "name": "item-002"}]
    assert seen == {"ds": "2026-01-01"}
    with pytest.raises(AirflowException, match="Response check returned False"):
        operator(conn_id, response_check=lambda response: False).execute({})


def test_fifty_pages_with_tokens_expiring_during_the_run(fresh_sandbox, make_conn, caplog, capfd):
    """50 pages, one item each, with 1 s access tokens: every page exactly once, tokens renewed."""
    fresh_sandbox.update_config(access_token_lifetime=1, items_total=50)
    conn_id = sandbox_conn(make_conn, fresh_sandbox)

    def slow_next_page(response):
        time.sleep(0.05)  # make the run outlast several tokens
        return next_page(response)

    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    pages = operator(
        conn_id, request_params={"page": 1, "per_page": 1}, pagination_function=slow_next_page, response_filter=items_of
    ).execute({})
    elapsed = time.monotonic() - started

    assert [item["id"] for page in pages for item in page] == list(range(1, 51))
    assert all(len(page) == 1 for page in pages)
    stats = fresh_sandbox.stats()
    assert stats["api_calls"] - stats["api_401"] == 50  # each page served once (a 401 serves nothing)
    assert stats["access_tokens_issued"] >= 1 + int(elapsed)  # renewed while paging
    tokens = issued_access_tokens(fresh_sandbox)
    assert len(tokens) == stats["access_tokens_issued"]
    logs = client_logs(caplog, capfd)
    assert "Requesting a token" in logs
    assert not [t for t in tokens if t in logs]


def test_429_retry_after_is_waited_out(fresh_sandbox, make_conn, caplog):
    fresh_sandbox.inject_fault("/api/items", status=429, retry_after="2")
    caplog.set_level(logging.WARNING, logger="airflow_oauth_provider.hooks.retry")
    started = time.monotonic()
    result = operator(sandbox_conn(make_conn, fresh_sandbox), response_filter=items_of).execute({})
    elapsed = time.monotonic() - started
    assert len(result) == 10
    assert 2.0 <= elapsed < 4.0
    assert fresh_sandbox.stats()["faults_served"] == 1
    assert fresh_sandbox.stats()["api_calls"] == 2
    assert f"GET {fresh_sandbox.url}/api/items: HTTP 429, Retry-After 2 s; retry 1/3 in 2.0 s" in caplog.text


def test_retry_after_above_the_maximum_fails_at_once(fresh_sandbox, make_conn):
    fresh_sandbox.inject_fault("/api/items", status=503, retry_after="120")
    conn_id = sandbox_conn(make_conn, fresh_sandbox, api_max_retry_wait=5)
    started = time.monotonic()
    with pytest.raises(OAuth2HttpError) as info:
        operator(conn_id).execute({})
    assert time.monotonic() - started < 3  # failed at once
    assert info.value.status == 503
    assert "retry after 120 s, more than api_max_retry_wait 5 s; not waiting" in str(info.value)
    assert fresh_sandbox.stats()["api_calls"] == 1


def job_operator(conn_id: str, **kwargs) -> OAuth2HttpOperator:
    return operator(
        conn_id,
        method="POST",
        endpoint="/api/jobs",
        json={"polls_until_done": 1},
        response_filter=lambda r: r.json()["id"],
        **kwargs,
    )


def test_500_on_post_is_not_retried(fresh_sandbox, make_conn, caplog):
    fresh_sandbox.inject_fault("/api/jobs", status=500)
    with pytest.raises(OAuth2HttpError) as info:
        job_operator(sandbox_conn(make_conn, fresh_sandbox)).execute({})
    assert info.value.status == 500
    assert fresh_sandbox.stats()["api_calls"] == 1
    assert "retry" not in caplog.text


def test_500_on_post_is_retried_when_the_operator_opts_in(fresh_sandbox, make_conn, caplog):
    fresh_sandbox.inject_fault("/api/jobs", status=500)
    caplog.set_level(logging.WARNING, logger="airflow_oauth_provider.hooks.retry")
    job_id = job_operator(sandbox_conn(make_conn, fresh_sandbox), retry_non_idempotent=True).execute({})
    assert isinstance(job_id, str) and job_id
    assert fresh_sandbox.stats()["api_calls"] == 2
    assert re.search(r"POST http://\S+/api/jobs: HTTP 500; retry 1/3 in \d\.\d s", caplog.text)


def test_503_on_post_is_retried_without_opt_in(fresh_sandbox, make_conn):
    """A 503 (like a 429) says the request was not processed: repeating a POST is safe."""
    fresh_sandbox.inject_fault("/api/jobs", status=503, retry_after="0")
    assert job_operator(sandbox_conn(make_conn, fresh_sandbox)).execute({})
    assert fresh_sandbox.stats()["api_calls"] == 2


def test_connection_opt_in_and_operator_override(fresh_sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, fresh_sandbox, api_retry_non_idempotent=True)
    fresh_sandbox.inject_fault("/api/jobs", status=502)
    assert job_operator(conn_id).execute({})
    assert fresh_sandbox.stats()["api_calls"] == 2
    fresh_sandbox.inject_fault("/api/jobs", status=502)
    with pytest.raises(OAuth2HttpError):
        job_operator(conn_id, retry_non_idempotent=False).execute({})
    assert fresh_sandbox.stats()["api_calls"] == 3


def test_max_retries_override(fresh_sandbox, make_conn):
    fresh_sandbox.inject_fault("/api/items", status=503, count=2, retry_after="0")
    conn_id = sandbox_conn(make_conn, fresh_sandbox)
    with pytest.raises(OAuth2HttpError) as info:
        operator(conn_id, max_retries=0).execute({})
    assert info.value.status == 503
    assert operator(conn_id, max_retries=1, response_filter=items_of).execute({})  # second fault, then success
    assert fresh_sandbox.stats()["api_calls"] == 3


def test_pagination_function_contract(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    with pytest.raises(AirflowException, match=r"unknown keys \['page'\]"):
        operator(conn_id, pagination_function=lambda r: {"page": 2}).execute({})
    with pytest.raises(AirflowException, match="same request again"):
        operator(conn_id, request_params={"page": 1}, pagination_function=lambda r: {"params": {"page": 1}}).execute({})
    # dicts merge with the operator's own arguments, the page's values winning
    pages = operator(
        conn_id,
        request_params={"page": 1, "per_page": 20},
        headers={"X-Trace": "etl"},
        pagination_function=next_page,
        response_filter=lambda r: (r.request.headers["X-Trace"], r.json()["page"], r.json()["per_page"]),
    ).execute({})
    assert pages == [("etl", 1, 20), ("etl", 2, 20), ("etl", 3, 20)]


def test_deferrable_single_request(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    run = run_deferrable(operator(conn_id, request_params={"per_page": 2}, deferrable=True))
    assert [item["id"] for item in json.loads(run.result)["items"]] == [1, 2]
    assert len(run.deferrals) == 1
    assert isinstance(run.deferrals[0].trigger, OAuth2HttpTrigger)
    token = OAuth2Hook(oauth2_conn_id=conn_id).get_access_token()  # the same store's token
    for deferral in run.deferrals:
        assert token not in json.dumps(deferral.trigger.serialize()) + json.dumps(deferral.kwargs)


def test_deferrable_pagination_defers_once_a_page(sandbox, make_conn):
    op = operator(
        sandbox_conn(make_conn, sandbox),
        request_params={"page": 1, "per_page": 10},
        pagination_function=next_page,
        response_filter=items_of,
        deferrable=True,
    )
    run = run_deferrable(op)
    assert [item["id"] for page in run.result for item in page] == list(range(1, 51))
    assert [d.trigger.params["page"] for d in run.deferrals] == [1, 2, 3, 4, 5]


def test_deferrable_pagination_when_the_runner_drops_the_kwargs(sandbox, make_conn, capfd):
    """``airflow dags test`` (3.3.2) resumes with the event only: the remaining pages come from the worker."""
    op = operator(
        sandbox_conn(make_conn, sandbox),
        request_params={"page": 1, "per_page": 10},
        pagination_function=next_page,
        response_filter=items_of,
        deferrable=True,
    )
    run = run_deferrable(op, drop_kwargs=True)
    assert [item["id"] for page in run.result for item in page] == list(range(1, 51))
    assert len(run.deferrals) == 1
    assert "fetching the remaining pages from the worker" in capfd.readouterr().out


def test_deferrable_error_event_raises_the_http_error(fresh_sandbox, make_conn):
    fresh_sandbox.inject_fault("/api/items", status=500, count=10)
    op = operator(sandbox_conn(make_conn, fresh_sandbox), deferrable=True, max_retries=0)
    with pytest.raises(OAuth2HttpError) as info:
        run_deferrable(op)
    assert info.value.status == 500


def test_log_response_masks_a_token_echoed_by_the_api(stub, make_conn, caplog, capfd):
    """A hostile API that echoes the bearer token: the logged body is masked, no header is logged."""
    token = "stub-access-token-6a1f0c2e9b"
    stub.add_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
    stub.add_json(200, {"you_sent": f"Bearer {token}", "items": []})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    caplog.set_level(logging.DEBUG)
    result = operator(conn_id, log_response=True).execute({})
    assert token in result  # the API's own answer goes to XCom unchanged
    assert stub.requests[1].headers["Authorization"] == f"Bearer {token}"
    logs = client_logs(caplog, capfd)
    assert "Response body:" in logs and '"you_sent": "Bearer ***"' in logs
    assert token not in logs


def test_body_is_not_logged_by_default(sandbox, make_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    operator(sandbox_conn(make_conn, sandbox)).execute({})
    logs = client_logs(caplog, capfd)
    assert re.search(r"GET http://\S+/api/items answered 200 OK \(\d+ bytes\)", logs)
    assert "item-001" not in logs and "Response body" not in logs
