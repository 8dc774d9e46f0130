"""
Deferrable calls to an OAuth 2.0 protected API, run in the triggerer's event loop.

A trigger is serialised with the connection id and the request parameters only: never a token,
a secret or a header that carries one (an ``Authorization`` header is dropped, the trigger adds
its own). At run time it builds an :class:`~airflow_oauth_provider.hooks.oauth2.OAuth2Hook` and
takes tokens from the same token store as tasks (``hook.get_token()`` in a thread: there is no
second refresh path); the request itself goes through ``httpx.AsyncClient`` with the bearer
header, the same one-refresh-on-401 rule as the sync hook, and the same retry policy
(:mod:`airflow_oauth_provider.hooks.retry`) with an async sleep.

Events are JSON::

    {"status": "success", "response": {"status_code", "reason", "url", "headers", "encoding", "text"}}
    {"status": "error", "error": "<exception class>", "message": "...", "status_code", "reason", "url"}

:func:`response_from_event` turns a success event's ``response`` back into a ``requests.Response``.
The event's ``repr`` (which the triggerer logs) leaves out the body and headers.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import os
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.providers.common.compat.sdk import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from requests.structures import CaseInsensitiveDict

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2Error, OAuth2HttpError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.hooks.retry import ApiRetryPolicy, asend_with_retries, body_is_replayable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    import httpx

    from airflow_oauth_provider.tokens.token import Token

__all__ = [
    "OAuth2HttpSensorTrigger",
    "OAuth2HttpTrigger",
    "error_from_event",
    "import_check",
    "response_from_event",
]

log = logging.getLogger(__name__)

#: ``extra_options`` a trigger understands (each JSON-serialisable).
TRIGGER_OPTIONS = frozenset({"timeout", "verify", "allow_redirects", "check_response"})
#: Response headers never put into an event.
_DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authorization"})


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _without_authorization(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if headers is None:
        return None
    return {k: v for k, v in headers.items() if k.lower() not in ("authorization", "proxy-authorization")}


def _check_options(extra_options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(extra_options or {})
    unknown = sorted(set(options) - TRIGGER_OPTIONS)
    if unknown:
        raise OAuth2ConfigError(
            "extra_options",
            f"{', '.join(unknown)} cannot be used in deferrable mode (supported: {', '.join(sorted(TRIGGER_OPTIONS))})",
        )
    return options


class _ResponseEvent(TriggerEvent):
    """A trigger event whose ``repr`` (what the triggerer logs) shows no body and no headers."""

    def __repr__(self) -> str:
        payload = dict(self.payload)
        response = payload.get("response")
        if isinstance(response, dict):
            payload["response"] = {
                "status_code": response.get("status_code"),
                "url": _without_query(str(response.get("url") or "")),
                "text": f"<{len(response.get('text') or '')} characters>",
            }
        return f"TriggerEvent<{payload!r}>"

    __str__ = __repr__

    def __structlog__(self) -> str:
        return repr(self)


def _response_payload(response: httpx.Response) -> dict[str, Any]:
    return {
        "status_code": response.status_code,
        "reason": response.reason_phrase,
        "url": str(response.url),
        "headers": {k: v for k, v in response.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS},
        "encoding": response.encoding or "utf-8",
        "text": response.text,
    }


def _success(response: httpx.Response) -> TriggerEvent:
    return _ResponseEvent({"status": "success", "response": _response_payload(response)})


def _error(error: Exception) -> TriggerEvent:
    payload: dict[str, Any] = {"status": "error", "error": type(error).__name__, "message": str(error)}
    if isinstance(error, OAuth2HttpError):
        payload.update(status_code=error.status, reason=error.reason, url=error.url)
    return TriggerEvent(payload)


def response_from_event(payload: Mapping[str, Any]) -> requests.Response:
    """
    A ``requests.Response`` rebuilt from the ``response`` of a success event.

    :param payload: ``event["response"]``.
    """
    response = requests.Response()
    encoding = payload.get("encoding") or "utf-8"
    response.status_code = int(payload["status_code"])
    response.reason = payload.get("reason") or ""
    response.url = payload.get("url") or ""
    response.headers = CaseInsensitiveDict(payload.get("headers") or {})
    response.encoding = encoding
    response._content = (payload.get("text") or "").encode(encoding, "replace")
    return response


def error_from_event(event: Mapping[str, Any]) -> OAuth2Error:
    """
    The exception to raise for an error event: an :class:`OAuth2HttpError` when the API answered.

    :param event: the event payload.
    """
    status = event.get("status_code")
    if event.get("error") == "OAuth2HttpError" and isinstance(status, int):
        return OAuth2HttpError(status, str(event.get("reason") or ""), str(event.get("url") or ""))
    return OAuth2Error(f"the trigger failed: {event.get('error', 'error')}: {event.get('message', '')}")


def import_check(path: str) -> Callable[..., Any]:
    """
    Import a response check given as ``"package.module.function"``.

    :param path: the dotted path of a function importable on workers and triggerers.
    :raises OAuth2ConfigError: when it cannot be imported or is not callable.
    """
    module_name, _, name = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), name) if module_name else None
    except (ImportError, AttributeError) as err:
        raise OAuth2ConfigError("response_check", f"cannot import {path!r}: {err}") from None
    if not callable(function):
        raise OAuth2ConfigError("response_check", f"{path!r} is not an importable function")
    return function  # type: ignore[no-any-return]


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """``requests``' ``verify`` (a flag, or a CA bundle file or directory) as ``httpx`` takes it."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return verify


async def _arun(
    hook: OAuth2Hook,
    *,
    method: str,
    endpoint: str | None,
    data: Any,
    json: Any,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    extra_options: Mapping[str, Any] | None,
    max_retries: int | None,
    retry_non_idempotent: bool | None,
) -> httpx.Response:
    """The async twin of ``OAuth2Hook.run``: same token store, same 401 rule, same retry policy."""
    import httpx

    options = _check_options(extra_options)
    settings = await asyncio.to_thread(lambda: hook.settings)  # the connection lookup blocks
    url = hook.url_from_endpoint(endpoint)
    method = method.upper()
    timeout = options.get("timeout", settings.timeout)
    connect, read = (timeout, timeout) if isinstance(timeout, (int, float)) else timeout
    policy = ApiRetryPolicy.from_settings(settings, max_retries=max_retries, retry_non_idempotent=retry_non_idempotent)
    verify = _ssl_verify(options.get("verify", settings.verify))
    mounts = {  # requests' keys ("https", "all", "https://host") as httpx mount patterns
        (key if "://" in key else f"{key}://"): httpx.AsyncHTTPTransport(proxy=proxy, verify=verify)
        for key, proxy in settings.proxies.items()
    }
    body: dict[str, Any] = {}
    if isinstance(data, (str, bytes)):
        body["content"] = data
    elif data is not None:
        body["data"] = data
    if json is not None:
        body["json"] = json
    query = {k: v for k, v in (params or {}).items() if v is not None}

    async with httpx.AsyncClient(
        headers=settings.headers,
        verify=verify,
        timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
        follow_redirects=bool(options.get("allow_redirects", True)),
        mounts=mounts or None,
    ) as client:

        async def send_once(token: Token) -> httpx.Response:
            request_headers = {**(headers or {}), "Authorization": f"Bearer {token.access_token}"}
            return await client.request(method, url, params=query, headers=request_headers, **body)

        async def send() -> httpx.Response:
            token = await asyncio.to_thread(hook.get_token)
            response = await send_once(token)
            if response.status_code != 401:
                return response
            log.info("API answered 401 for %r; refreshing the token once and retrying", hook.oauth2_conn_id)
            await response.aclose()
            token = await asyncio.to_thread(functools.partial(hook.get_token, rejected=token))
            return await send_once(token)

        response = await asend_with_retries(
            send, policy, method, _without_query(url), replayable=body_is_replayable(data)
        )
        await response.aread()
    if options.get("check_response", True) and response.status_code >= 400:
        raise OAuth2HttpError(response.status_code, response.reason_phrase, _without_query(str(response.url)))
    return response


class OAuth2HttpTrigger(BaseTrigger):
    """
    Make one call to an OAuth 2.0 protected API from the triggerer and fire its response.

    :param oauth2_conn_id: the ``oauth2`` connection.
    :param method: the HTTP method.
    :param endpoint: path under the connection's host.
    :param data: form data or raw body.
    :param json: a JSON body.
    :param params: query parameters.
    :param headers: extra request headers (an ``Authorization`` header is dropped).
    :param extra_options: ``timeout``, ``verify``, ``allow_redirects`` and ``check_response``.
    :param max_retries: overrides the connection's ``api_retries``.
    :param retry_non_idempotent: overrides the connection's ``api_retry_non_idempotent``.
    """

    def __init__(
        self,
        oauth2_conn_id: str = OAuth2Hook.default_conn_name,
        method: str = "GET",
        endpoint: str | None = None,
        data: Any = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra_options: dict[str, Any] | None = None,
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
    ) -> None:
        super().__init__()
        self.oauth2_conn_id = oauth2_conn_id
        self.method = method
        self.endpoint = endpoint
        self.data = data
        self.json = json
        self.params = params
        self.headers = _without_authorization(headers)
        self.extra_options = _check_options(extra_options)
        self.max_retries = max_retries
        self.retry_non_idempotent = retry_non_idempotent

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the connection id and request parameters; never a token."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "oauth2_conn_id": self.oauth2_conn_id,
                "method": self.method,
                "endpoint": self.endpoint,
                "data": self.data,
                "json": self.json,
                "params": self.params,
                "headers": self.headers,
                "extra_options": self.extra_options,
                "max_retries": self.max_retries,
                "retry_non_idempotent": self.retry_non_idempotent,
            },
        )

    async def _request(self, hook: OAuth2Hook) -> httpx.Response:
        return await _arun(
            hook,
            method=self.method,
            endpoint=self.endpoint,
            data=self.data,
            json=self.json,
            params=self.params,
            headers=self.headers,
            extra_options=self.extra_options,
            max_retries=self.max_retries,
            retry_non_idempotent=self.retry_non_idempotent,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Send the request (waiting out rate limits without holding a worker) and fire one event."""
        import httpx

        hook = OAuth2Hook(oauth2_conn_id=self.oauth2_conn_id)
        try:
            response = await self._request(hook)
        except (AirflowException, httpx.HTTPError) as err:
            yield _error(err)
            return
        self._log_fire(response)
        yield _success(response)

    def _log_fire(self, response: httpx.Response) -> None:
        self.log.info(
            "%s %s answered %d; firing the trigger event",
            self.method,
            _without_query(str(response.url)),
            response.status_code,
        )


class OAuth2HttpSensorTrigger(OAuth2HttpTrigger):
    """
    Poll an OAuth 2.0 protected API from the triggerer until it answers what the sensor waits for.

    The sensor pokes once before deferring, so the first request goes out after ``poke_interval``.
    Fires a success event when the answer is not an error and ``response_check_path`` (if any)
    accepts it; an error event on any other error status, or on a 404 unless ``not_found_ok``.

    :param endpoint: path under the connection's host.
    :param oauth2_conn_id: the ``oauth2`` connection.
    :param method: the HTTP method.
    :param data: form data or raw body.
    :param json: a JSON body.
    :param params: query parameters.
    :param headers: extra request headers (an ``Authorization`` header is dropped).
    :param extra_options: ``timeout``, ``verify``, ``allow_redirects`` and ``check_response``.
    :param poke_interval: seconds between requests.
    :param not_found_ok: a 404 means "not yet" rather than an error.
    :param response_check_path: dotted path of a function ``check(response) -> bool`` (sync or
        async, given a ``requests.Response``), importable in the triggerer.
    :param max_retries: overrides the connection's ``api_retries``.
    :param retry_non_idempotent: overrides the connection's ``api_retry_non_idempotent``.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        oauth2_conn_id: str = OAuth2Hook.default_conn_name,
        method: str = "GET",
        data: Any = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra_options: dict[str, Any] | None = None,
        poke_interval: float = 60.0,
        not_found_ok: bool = False,
        response_check_path: str | None = None,
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
    ) -> None:
        super().__init__(
            oauth2_conn_id=oauth2_conn_id,
            method=method,
            endpoint=endpoint,
            data=data,
            json=json,
            params=params,
            headers=headers,
            extra_options=extra_options,
            max_retries=max_retries,
            retry_non_idempotent=retry_non_idempotent,
        )
        self.poke_interval = float(poke_interval)
        self.not_found_ok = not_found_ok
        self.response_check_path = response_check_path

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the connection id, request and polling parameters; never a token."""
        classpath, kwargs = super().serialize()
        kwargs.update(
            poke_interval=self.poke_interval,
            not_found_ok=self.not_found_ok,
            response_check_path=self.response_check_path,
        )
        return classpath, kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poke_interval`` seconds; fire once the answer passes."""
        import httpx

        hook = OAuth2Hook(oauth2_conn_id=self.oauth2_conn_id)
        try:
            check = import_check(self.response_check_path) if self.response_check_path else None
        except OAuth2Error as err:
            yield _error(err)
            return
        while True:
            await asyncio.sleep(self.poke_interval)
            try:
                response = await self._request(hook)
            except OAuth2HttpError as err:
                if err.status == 404 and self.not_found_ok:
                    self.log.info("%s answered 404; not there yet", err.url)
                    continue
                yield _error(err)
                return
            except (AirflowException, httpx.HTTPError) as err:
                yield _error(err)
                return
            event = _success(response)
            if check is not None:
                try:
                    passed = await _call_check(check, response_from_event(event.payload["response"]))
                except Exception as err:
                    yield _error(err)
                    return
                if not passed:
                    self.log.info(
                        "%s answered %d; the response check is not met yet",
                        _without_query(str(response.url)),
                        response.status_code,
                    )
                    continue
            self._log_fire(response)
            yield event
            return


async def _call_check(check: Callable[..., Any], response: requests.Response) -> bool:
    if inspect.iscoroutinefunction(check):
        result = await check(response)
    else:
        result = await asyncio.to_thread(check, response)
        if inspect.isawaitable(result):
            result = await result
    return bool(getattr(result, "is_done", result))
