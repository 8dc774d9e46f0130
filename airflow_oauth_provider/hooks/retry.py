"""
API-side resilience: when a protected-API call is retried, and how long to wait first.

One pure function decides, :meth:`ApiRetryPolicy.decide`; two thin drivers apply it, the sync
:func:`send_with_retries` (``OAuth2Hook.run``, ``requests``, ``time.sleep``) and the async
:func:`asend_with_retries` (the triggers, ``httpx``, ``asyncio.sleep``). The rules:

======================================  ==========================================  ==================
answer                                  wait                                        methods
======================================  ==========================================  ==================
429, 503                                ``Retry-After`` (seconds or HTTP-date), or  every method: the
                                        backoff when absent; above ``max_wait``:    server says it did
                                        stop at once                                not process it
500, 502, 504 and other 5xx             exponential backoff with jitter             idempotent only
connection error, timeout               exponential backoff with jitter             idempotent only
501, 505, any other status              no retry                                    -
======================================  ==========================================  ==================

Idempotent methods are GET, HEAD, OPTIONS, PUT and DELETE (RFC 9110 §9.2.2); POST and PATCH
are retried on 5xx and connection errors only when ``retry_non_idempotent`` opts in, since the
server may have acted on the first request. A 401 never reaches this module as a retry: the
bearer auth refreshes the token once and repeats the request itself.

Every retry is logged with its reason and wait: method, URL without query string, status or
exception class. Never a body, a header or a token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests

from airflow_oauth_provider.exceptions import OAuth2HttpError
from airflow_oauth_provider.protocol import parse_retry_after

if TYPE_CHECKING:
    import httpx

    from airflow_oauth_provider.settings import OAuth2Settings

__all__ = [
    "IDEMPOTENT_METHODS",
    "ApiRetryPolicy",
    "Decision",
    "asend_with_retries",
    "body_is_replayable",
    "send_with_retries",
]

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers that say the request was not processed: safe to repeat whatever the method.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: 5xx answers that will not change on a retry.
PERMANENT_SERVER_ERRORS = frozenset({501, 505})


@dataclasses.dataclass(frozen=True)
class Decision:
    """
    What to do after one attempt.

    :param retry: send the request again after ``wait`` seconds.
    :param wait: seconds to sleep before the retry.
    :param reason: the cause, for logs (``HTTP 503``, ``ConnectTimeout``); empty when there was none.
    :param refused: set when the server asked for a wait longer than allowed: the message to fail with.
    :param exhausted: a retryable cause, but no retries left.
    """

    retry: bool
    wait: float = 0.0
    reason: str = ""
    refused: str | None = None
    exhausted: bool = False


STOP = Decision(retry=False)


@dataclasses.dataclass(frozen=True)
class ApiRetryPolicy:
    """
    How a protected-API call is retried.

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param max_wait: the longest single wait, in seconds; a ``Retry-After`` above it fails at once.
    :param retry_non_idempotent: also retry POST/PATCH on 5xx and connection errors.
    :param backoff: the first backoff wait, in seconds; doubled on every retry.
    :param backoff_cap: the longest backoff wait (never above ``max_wait``).
    :param jitter: returns a float in [0, 1); injectable for tests.
    """

    max_retries: int = 3
    max_wait: float = 60.0
    retry_non_idempotent: bool = False
    backoff: float = 1.0
    backoff_cap: float = 30.0
    jitter: Callable[[], float] = dataclasses.field(default=random.random, compare=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: OAuth2Settings,
        *,
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
    ) -> ApiRetryPolicy:
        """
        The connection's policy (``api_retries``, ``api_max_retry_wait``, ``api_retry_non_idempotent``).

        :param settings: the connection's settings.
        :param max_retries: overrides ``api_retries`` when not ``None``.
        :param retry_non_idempotent: overrides ``api_retry_non_idempotent`` when not ``None``.
        """
        retries = settings.api_retries if max_retries is None else max_retries
        if retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {retries}")
        return cls(
            max_retries=retries,
            max_wait=settings.api_max_retry_wait,
            retry_non_idempotent=(
                settings.api_retry_non_idempotent if retry_non_idempotent is None else retry_non_idempotent
            ),
        )

    def backoff_wait(self, attempt: int) -> float:
        """
        The backoff before retry number ``attempt``: ``backoff * 2**(attempt-1)``, capped, half of it jittered.

        :param attempt: the number of attempts made so far (1 after the first request).
        """
        ceiling = min(self.backoff * 2.0 ** (attempt - 1), self.backoff_cap, self.max_wait)
        return ceiling / 2 + ceiling / 2 * self.jitter()

    def may_repeat(self, method: str) -> bool:
        """Whether ``method`` may be sent again after the server may have acted on it."""
        return method.upper() in IDEMPOTENT_METHODS or self.retry_non_idempotent

    def decide(
        self,
        method: str,
        attempt: int,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        error: BaseException | None = None,
        now: float | None = None,
    ) -> Decision:
        """
        Whether to retry after attempt number ``attempt``, and after how long. Pure: no I/O, no sleep.

        :param method: the request's HTTP method.
        :param attempt: the number of attempts made so far (1 after the first request).
        :param status: the answer's status, when one arrived.
        :param headers: the answer's headers (``Retry-After`` is read from them).
        :param error: the transport error, when no answer arrived (already known to be retryable).
        :param now: the current epoch time, for an HTTP-date ``Retry-After``.
        """
        if error is not None:
            if not self.may_repeat(method):
                return STOP
            return self._backoff(attempt, type(error).__name__)
        if status is None:
            return STOP
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(_header(headers, "retry-after"), now=now)
            if retry_after is None:
                return self._backoff(attempt, f"HTTP {status}")
            reason = f"HTTP {status}, Retry-After {retry_after:g} s"
            if attempt > self.max_retries:
                return Decision(retry=False, reason=reason, exhausted=self.max_retries > 0)
            if retry_after > self.max_wait:
                return Decision(
                    retry=False,
                    reason=reason,
                    refused=(
                        f"the API asked to retry after {retry_after:g} s, more than api_max_retry_wait "
                        f"{self.max_wait:g} s; not waiting"
                    ),
                )
            return Decision(retry=True, wait=retry_after, reason=reason)
        if status >= 500 and status not in PERMANENT_SERVER_ERRORS and self.may_repeat(method):
            return self._backoff(attempt, f"HTTP {status}")
        return STOP

    def _backoff(self, attempt: int, reason: str) -> Decision:
        if attempt > self.max_retries:
            return Decision(retry=False, reason=reason, exhausted=self.max_retries > 0)
        return Decision(retry=True, wait=self.backoff_wait(attempt), reason=reason)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def body_is_replayable(data: Any, files: Any = None) -> bool:
    """Whether a request body can be sent twice (a generator, an open file or an upload cannot)."""
    return files is None and (data is None or isinstance(data, (str, bytes, bytearray, Mapping, list, tuple)))


def _requests_error_is_retryable(error: requests.RequestException) -> bool:
    if isinstance(error, requests.exceptions.SSLError):
        return False  # a certificate problem does not go away on a retry
    return isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _httpx_error_is_retryable(error: Exception) -> bool:
    import httpx

    if isinstance(error, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return False
    if isinstance(error.__cause__ or error.__context__, ssl.SSLError):
        return False
    return isinstance(error, httpx.TransportError)


def _log_retry(decision: Decision, method: str, url: str, attempt: int, policy: ApiRetryPolicy) -> None:
    log.warning(
        "%s %s: %s; retry %d/%d in %.1f s",
        method,
        url,
        decision.reason,
        attempt,
        policy.max_retries,
        decision.wait,
    )


def _log_stop(decision: Decision, method: str, url: str, policy: ApiRetryPolicy) -> None:
    if decision.exhausted:
        log.warning("%s %s: %s; giving up after %d retries", method, url, decision.reason, policy.max_retries)


def _refusal(status: int, reason: str, url: str, decision: Decision) -> OAuth2HttpError:
    return OAuth2HttpError(status, f"{reason} ({decision.refused})", url)


def send_with_retries(
    send: Callable[[], requests.Response],
    policy: ApiRetryPolicy,
    method: str,
    url: str,
    *,
    replayable: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """
    Call ``send()`` until an answer needs no retry; return that answer (checking its status is the caller's job).

    :param send: sends the request once (the bearer auth, with its one refresh on 401, is inside it).
    :param policy: the retry policy.
    :param method: the HTTP method.
    :param url: the URL without query string, for logs and errors.
    :param replayable: whether the body can be sent again; if not, nothing is retried.
    :param sleep: the sleep function; injectable for tests.
    :raises OAuth2HttpError: when the server asks for a wait above ``policy.max_wait``.
    :raises requests.RequestException: the last transport error, when retries are exhausted or not allowed.
    """
    if not replayable:
        policy = dataclasses.replace(policy, max_retries=0)
    attempt = 0
    while True:
        attempt += 1
        try:
            response = send()
        except requests.RequestException as error:
            if not _requests_error_is_retryable(error):
                raise
            decision = policy.decide(method, attempt, error=error)
            if not decision.retry:
                _log_stop(decision, method, url, policy)
                raise
        else:
            decision = policy.decide(method, attempt, status=response.status_code, headers=response.headers)
            if decision.refused:
                response.close()
                raise _refusal(response.status_code, response.reason or "", url, decision)
            if not decision.retry:
                _log_stop(decision, method, url, policy)
                return response
            response.close()
        _log_retry(decision, method, url, attempt, policy)
        sleep(decision.wait)


async def asend_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: ApiRetryPolicy,
    method: str,
    url: str,
    *,
    replayable: bool = True,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> httpx.Response:
    """
    The async twin of :func:`send_with_retries`, for ``httpx`` in the triggerer's event loop.

    :param send: sends the request once (bearer header and the one refresh on 401 inside it).
    :param policy: the retry policy.
    :param method: the HTTP method.
    :param url: the URL without query string, for logs and errors.
    :param replayable: whether the body can be sent again; if not, nothing is retried.
    :param sleep: the async sleep function; injectable for tests.
    :raises OAuth2HttpError: when the server asks for a wait above ``policy.max_wait``.
    :raises httpx.TransportError: the last transport error, when retries are exhausted or not allowed.
    """
    if not replayable:
        policy = dataclasses.replace(policy, max_retries=0)
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await send()
        except Exception as error:
            if not _httpx_error_is_retryable(error):
                raise
            decision = policy.decide(method, attempt, error=error)
            if not decision.retry:
                _log_stop(decision, method, url, policy)
                raise
        else:
            decision = policy.decide(method, attempt, status=response.status_code, headers=response.headers)
            if decision.refused:
                await response.aclose()
                raise _refusal(response.status_code, response.reason_phrase, url, decision)
            if not decision.retry:
                _log_stop(decision, method, url, policy)
                return response
            await response.aclose()
        _log_retry(decision, method, url, attempt, policy)
        await sleep(decision.wait)
