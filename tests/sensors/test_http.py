"""OAuth2HttpSensor: poke, reschedule and deferrable modes against the sandbox's slow jobs."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
)

from airflow_oauth_provider.exceptions import OAuth2HttpError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sensors.http import OAuth2HttpSensor
from airflow_oauth_provider.triggers.http import OAuth2HttpSensorTrigger
from tests.triggers.runner import run_deferrable, sandbox_conn


def job_status(response):
    return response.json()["status"] == "done"


def start_job(conn_id: str, polls: int) -> str:
    return OAuth2Hook(oauth2_conn_id=conn_id).run("POST", "/api/jobs", json={"polls_until_done": polls}).json()["id"]


def sensor(conn_id: str, endpoint: str, **kwargs) -> OAuth2HttpSensor:
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return OAuth2HttpSensor(task_id="wait", oauth2_conn_id=conn_id, endpoint=endpoint, **kwargs)


def test_template_fields_are_documented():
    assert OAuth2HttpSensor.template_fields == ("endpoint", "data", "json", "headers", "request_params")
    doc = OAuth2HttpSensor.__doc__ or ""
    params = dict(re.findall(r":param (\w+): (.*?)(?=\n    :param |\Z)", doc, re.S))
    for field in OAuth2HttpSensor.template_fields:
        assert params[field].rstrip().endswith("(templated)"), field


def test_404_is_not_yet_only_when_not_found_ok(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    assert sensor(conn_id, "/api/jobs/no-such-job", not_found_ok=True).poke({}) is False
    with pytest.raises(OAuth2HttpError) as info:
        sensor(conn_id, "/api/jobs/no-such-job").poke({})
    assert info.value.status == 404


def test_other_errors_fail_even_with_not_found_ok(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox, scope="items:read")  # no "jobs" scope: 403
    with pytest.raises(OAuth2HttpError) as info:
        sensor(conn_id, "/api/jobs/no-such-job", not_found_ok=True).poke({})
    assert info.value.status == 403


def test_poke_until_the_job_is_done(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=2)
    s = sensor(conn_id, f"/api/jobs/{job_id}", response_check=job_status)
    assert s.poke({}) is False
    assert s.poke({}) is True


def test_poke_mode_returns_the_check_s_xcom_value(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=3)

    def check(response, ds):
        job = response.json()
        return PokeReturnValue(is_done=job["status"] == "done", xcom_value={"ds": ds, **job.get("result", {})})

    result = sensor(conn_id, f"/api/jobs/{job_id}", response_check=check).execute({"ds": "2026-01-01"})
    assert result == {"ds": "2026-01-01", "items_processed": 50}


def test_response_check_by_dotted_path(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=2)
    for check in ("tests.sensors.checks.job_done", "tests.sensors.checks.job_done_async"):
        s = sensor(conn_id, f"/api/jobs/{job_id}", response_check=check)
        assert s.poke({}) is (check.endswith("async"))  # the job is done at its second poll


def test_reschedule_mode_hands_the_slot_back(sandbox, make_conn):
    from airflow.providers.common.compat.sdk import timezone
    from airflow.sdk.exceptions import AirflowRescheduleException

    class TaskInstance:
        def get_first_reschedule_date(self, context):
            return None

    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=2)
    s = sensor(conn_id, f"/api/jobs/{job_id}", response_check=job_status, mode="reschedule", poke_interval=60)
    before = timezone.utcnow()
    with pytest.raises(AirflowRescheduleException) as info:
        s.execute({"ti": TaskInstance()})
    assert info.value.reschedule_date >= before + datetime.timedelta(seconds=59)
    assert s.execute({"ti": TaskInstance()}) is None  # second poke: done


def test_deferrable_with_a_callable_check_resumes_for_each_answer(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=3)
    run = run_deferrable(sensor(conn_id, f"/api/jobs/{job_id}", response_check=job_status, deferrable=True))
    # poke 1 on the worker (running); trigger: poll 2 (running) -> resume, defer again; poll 3 (done)
    assert len(run.deferrals) == 2
    assert all(isinstance(d.trigger, OAuth2HttpSensorTrigger) for d in run.deferrals)
    assert all(d.trigger.response_check_path is None for d in run.deferrals)
    assert run.deferrals[0].kwargs["started_at"] == run.deferrals[1].kwargs["started_at"]  # one timeout budget
    assert all(d.timeout.total_seconds() <= 30 for d in run.deferrals)


def test_deferrable_with_a_path_check_resumes_once(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=4)
    s = sensor(conn_id, f"/api/jobs/{job_id}", response_check="tests.sensors.checks.job_done", deferrable=True)
    run = run_deferrable(s)
    assert len(run.deferrals) == 1
    assert run.deferrals[0].trigger.response_check_path == "tests.sensors.checks.job_done"
    assert '"polls":4' in run.deferrals[0].event["response"]["text"].replace(" ", "")


def test_deferrable_done_at_the_first_poke_does_not_defer(sandbox, make_conn):
    conn_id = sandbox_conn(make_conn, sandbox)
    job_id = start_job(conn_id, polls=1)
    run = run_deferrable(sensor(conn_id, f"/api/jobs/{job_id}", response_check=job_status, deferrable=True))
    assert run.deferrals == []


def test_deferrable_404_then_found(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", "token_type": "Bearer", "expires_in": 3600})
    stub.add_json(404, {"error": "not_found"})  # the sensor's own poke
    stub.add_json(404, {"error": "not_found"})  # the trigger's
    stub.add_json(200, {"status": "ready"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    run = run_deferrable(sensor(conn_id, "/report", not_found_ok=True, deferrable=True))
    assert len(run.deferrals) == 1 and run.result is None
    assert [r.path for r in stub.requests] == ["/token", "/report", "/report", "/report"]


def test_deferrable_error_event_raises_the_http_error(stub, make_conn):
    stub.add_json(200, {"access_token": "token-A-1234567890", "token_type": "Bearer", "expires_in": 3600})
    stub.add_json(404, {"error": "not_found"})
    stub.add_json(410, {"error": "gone"})
    conn_id = make_conn(host=stub.url, token_url=f"{stub.url}/token")
    with pytest.raises(OAuth2HttpError) as info:
        run_deferrable(sensor(conn_id, "/report", not_found_ok=True, deferrable=True))
    assert info.value.status == 410


@pytest.mark.parametrize(("soft_fail", "error"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)])
def test_deferral_after_the_timeout(soft_fail, error):
    s = sensor("unused", "/x", timeout=10, soft_fail=soft_fail, deferrable=True)
    with pytest.raises(error, match="timed out after 10 s"):
        s._defer(time.time() - 11)
