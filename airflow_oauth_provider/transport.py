"""
Sending token requests with ``requests``: timeouts, bounded retries, and parsing in one place.

Retry rule: a request that may have reached the server is never repeated when it spends a
refresh token. With rotation and reuse detection (RFC 9700 §4.14.2) a replayed refresh token
revokes the whole grant, so only failures that prove the server did not process the request
(connection never made, 429, 503) are retried for refreshes; other grants also retry on
timeouts and other 5xx.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import requests

from airflow_oauth_provider.exceptions import OAuth2TransportError
from airflow_oauth_provider.protocol import TokenRequest, parse_token_response

if TYPE_CHECKING:
    from airflow_oauth_provider.settings import OAuth2Settings
    from airflow_oauth_provider.tokens.token import Token

__all__ = ["send_token_request"]

log = logging.getLogger(__name__)

_SAFE_STATUSES_FOR_REFRESH = frozenset({429, 503})


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether ``exc`` proves that the request did not reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return type(reason).__name__ in ("NewConnectionError", "NameResolutionError")
    return False


def send_token_request(
    session: requests.Session,
    request: TokenRequest,
    settings: OAuth2Settings,
    *,
    previous_refresh_token: str | None = None,
) -> Token:
    """
    POST ``request`` to the token endpoint and parse the answer.

    :param session: the session to send with (no bearer auth on it).
    :param request: the token request, client authentication applied.
    :param settings: timeouts, TLS, proxies, retry bounds and parsing defaults.
    :param previous_refresh_token: kept if the response carries no new refresh token.
    :raises OAuth2TransportError: after the last retry, or at once when a retry is unsafe.
    """
    is_refresh = request.param("grant_type") == "refresh_token"
    attempts = settings.token_retries + 1
    for attempt in range(1, attempts + 1):
        started = time.time()
        try:
            response = session.post(
                request.url,
                data=urlencode(request.data),
                headers={"Content-Type": "application/x-www-form-urlencoded", **request.headers},
                timeout=settings.timeout,
                verify=settings.verify,
                proxies=settings.proxies or None,
                allow_redirects=False,  # RFC 6749 §3.2: a token endpoint does not redirect credentials
            )
        except requests.RequestException as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
            error = OAuth2TransportError(
                f"token endpoint {request.url} {kind} ({type(exc).__name__}; extra.timeout is "
                f"{settings.timeout[0]:g}s connect / {settings.timeout[1]:g}s read)"
            )
            retry_safe = _never_sent(exc) or not is_refresh
        else:
            try:
                return parse_token_response(
                    response.status_code,
                    response.headers,
                    response.content,
                    url=request.url,
                    requested_scope=request.requested_scope,
                    received_at=started,
                    default_expires_in=settings.default_expires_in,
                    previous_refresh_token=previous_refresh_token,
                    scope_delimiter=settings.scope_delimiter,
                    conn_id=settings.conn_id,
                    refresh_expires_in_field=settings.refresh_expires_in_field,
                )
            except OAuth2TransportError as exc:
                error = exc
                retry_safe = not is_refresh or exc.status in _SAFE_STATUSES_FOR_REFRESH
        if attempt == attempts or not retry_safe:
            if not retry_safe and attempt < attempts:
                error.args = (
                    f"{error.args[0]}; not retried: the refresh request may have reached the server "
                    "and repeating it would replay a possibly rotated refresh token",
                )
            raise error
        if error.retry_after is not None and error.retry_after > settings.max_retry_wait:
            error.args = (
                f"{error.args[0]}; the server asked to wait {error.retry_after:.0f} s, more than extra.max_retry_wait",
            )
            raise error
        backoff = min(2 ** (attempt - 1), 30) * (0.5 + random.random())
        wait = error.retry_after if error.retry_after is not None else min(backoff, settings.max_retry_wait)
        log.warning(
            "Token request for %r failed (%s); retry %d/%d in %.1f s",
            settings.conn_id,
            f"HTTP {error.status}" if error.status else "no response",
            attempt,
            attempts - 1,
            wait,
        )
        time.sleep(wait)
    raise AssertionError("unreachable")
