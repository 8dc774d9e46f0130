"""
The pure retry decision shared by ``OAuth2Hook.run`` and the triggers (hooks/retry.py).

(It lives here because this issue's tests are confined to operators/sensors/triggers; it belongs
under tests/hooks/.)
"""

from __future__ import annotations

import email.utils

import pytest

from airflow_oauth_provider.hooks.retry import ApiRetryPolicy, Decision, body_is_replayable

NOW = 1_800_000_000.0


def policy(**kwargs) -> ApiRetryPolicy:
    kwargs.setdefault("jitter", lambda: 0.5)
    return ApiRetryPolicy(**kwargs)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"])
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured_for_every_method(method, status):
    decision = policy().decide(method, 1, status=status, headers={"Retry-After": "2"})
    assert decision == Decision(retry=True, wait=2.0, reason=f"HTTP {status}, Retry-After 2 s")


def test_retry_after_http_date():
    when = email.utils.formatdate(NOW + 7, usegmt=True)
    decision = policy().decide("GET", 1, status=429, headers={"retry-after": when}, now=NOW)
    assert decision.retry and decision.wait == pytest.approx(7.0)


def test_retry_after_above_max_wait_is_refused_at_once():
    decision = policy(max_wait=60).decide("GET", 1, status=429, headers={"Retry-After": "120"})
    assert not decision.retry
    assert decision.refused == "the API asked to retry after 120 s, more than api_max_retry_wait 60 s; not waiting"


def test_429_without_retry_after_backs_off():
    decision = policy(backoff=1.0).decide("POST", 2, status=429, headers={})
    assert decision == Decision(retry=True, wait=1.5, reason="HTTP 429")  # 2 s ceiling, half jittered at 0.5


@pytest.mark.parametrize("status", [500, 502, 504, 599])
def test_other_5xx_back_off_for_idempotent_methods(status):
    p = policy(backoff=1.0)
    assert [p.decide("GET", attempt, status=status).wait for attempt in (1, 2, 3)] == [0.75, 1.5, 3.0]


def test_backoff_is_capped_by_max_wait_and_jittered():
    p = ApiRetryPolicy(backoff=10, backoff_cap=30, max_wait=12, max_retries=10, jitter=lambda: 0.999)
    assert p.decide("GET", 5, status=500).wait == pytest.approx(6 + 6 * 0.999)
    low = ApiRetryPolicy(backoff=1, jitter=lambda: 0.0).decide("GET", 1, status=500).wait
    assert low == 0.5


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_5xx_and_connection_errors_not_retried_for_non_idempotent_methods(method):
    assert policy().decide(method, 1, status=500) == Decision(retry=False)
    assert policy().decide(method, 1, error=ConnectionError()) == Decision(retry=False)


def test_non_idempotent_opt_in():
    p = policy(retry_non_idempotent=True)
    assert p.decide("POST", 1, status=500).retry
    assert p.decide("POST", 1, error=TimeoutError()).reason == "TimeoutError"


@pytest.mark.parametrize("status", [200, 201, 301, 400, 401, 403, 404, 409, 501, 505])
def test_no_retry_for_other_answers(status):
    assert policy(retry_non_idempotent=True).decide("GET", 1, status=status) == Decision(retry=False)


def test_retries_run_out():
    p = policy(max_retries=2)
    assert p.decide("GET", 2, status=503, headers={"Retry-After": "1"}).retry
    last = p.decide("GET", 3, status=503, headers={"Retry-After": "1"})
    assert (last.retry, last.exhausted) == (False, True)
    assert p.decide("GET", 3, status=500).exhausted


def test_zero_retries_returns_the_answer_even_with_a_long_retry_after():
    decision = policy(max_retries=0).decide("GET", 1, status=429, headers={"Retry-After": "3600"})
    assert decision == Decision(retry=False, reason="HTTP 429, Retry-After 3600 s")


def test_from_settings_and_overrides(make_conn):
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

    conn_id = make_conn(
        host="http://127.0.0.1:1",
        token_url="http://127.0.0.1:1/token",
        api_retries=5,
        api_max_retry_wait=7,
        api_retry_non_idempotent=True,
    )
    settings = OAuth2Hook(oauth2_conn_id=conn_id).settings
    p = ApiRetryPolicy.from_settings(settings)
    assert (p.max_retries, p.max_wait, p.retry_non_idempotent) == (5, 7.0, True)
    p = ApiRetryPolicy.from_settings(settings, max_retries=0, retry_non_idempotent=False)
    assert (p.max_retries, p.max_wait, p.retry_non_idempotent) == (0, 7.0, False)
    with pytest.raises(ValueError, match="max_retries must be >= 0"):
        ApiRetryPolicy.from_settings(settings, max_retries=-1)


def test_replayable_bodies():
    assert body_is_replayable(None) and body_is_replayable(b"x") and body_is_replayable({"a": 1})
    assert not body_is_replayable(iter([b"chunk"]))
