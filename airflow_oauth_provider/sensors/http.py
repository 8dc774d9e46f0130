"""Wait for an OAuth 2.0 protected API to answer what a DAG needs, with the token handled (like ``HttpSensor``)."""

from __future__ import annotations

import asyncio
import inspect
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
    determine_kwargs,
)

from airflow_oauth_provider.exceptions import OAuth2HttpError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.triggers.http import (
    OAuth2HttpSensorTrigger,
    error_from_event,
    import_check,
    response_from_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import requests
    from airflow.providers.common.compat.sdk import Context

__all__ = ["OAuth2HttpSensor"]


class OAuth2HttpSensor(BaseSensorOperator):
    """
    Poke an endpoint of an OAuth 2.0 protected API until ``response_check`` accepts the answer.

    An error status fails the task (after the hook's retries for 429/5xx), except a 404 when
    ``not_found_ok`` is set: that counts as "not yet". Works in ``poke`` and ``reschedule`` mode
    and, with ``deferrable=True``, waits in the triggerer (:class:`OAuth2HttpSensorTrigger`).

    ``response_check`` is either a callable, run on the worker (in deferrable mode the task
    resumes for each answer the trigger gets, and defers again while the check says no), or the
    dotted path of a function importable everywhere (``"my_pkg.checks.job_done"``), which the
    trigger itself runs so that the task resumes only once.

    :param endpoint: path under the connection's host. (templated)
    :param oauth2_conn_id: the ``oauth2`` connection.
    :param method: the HTTP method.
    :param data: form data or raw body. (templated)
    :param json: a JSON body. (templated)
    :param request_params: query parameters (``params`` is taken by Airflow's DAG params). (templated)
    :param headers: extra request headers. (templated)
    :param response_check: ``check(response, **context) -> bool | PokeReturnValue``, or the dotted
        path of ``check(response) -> bool``; without one, any non-error answer passes.
    :param not_found_ok: a 404 answer means "not yet" instead of failing the task.
    :param extra_options: ``timeout``, ``verify``, ``allow_redirects``, ``check_response``
        (and, when not deferrable, any other ``requests`` option).
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param max_retries: overrides the connection's ``api_retries``.
    :param retry_non_idempotent: overrides the connection's ``api_retry_non_idempotent``.
    :param required_scopes: scopes the task needs; it fails before any request, naming the missing
        ones and how to add them, when the connection's grant lacks them.
    """

    template_fields: Sequence[str] = ("endpoint", "data", "json", "headers", "request_params")

    def __init__(
        self,
        *,
        endpoint: str,
        oauth2_conn_id: str = OAuth2Hook.default_conn_name,
        method: str = "GET",
        data: dict[str, Any] | str | None = None,
        json: Any = None,
        request_params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        response_check: Callable[..., bool | PokeReturnValue] | str | None = None,
        not_found_ok: bool = False,
        extra_options: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
        required_scopes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.oauth2_conn_id = oauth2_conn_id
        self.method = method.upper()
        self.data = data
        self.json = json
        self.request_params = request_params
        self.headers = headers
        self.response_check = response_check
        self.not_found_ok = not_found_ok
        self.extra_options = extra_options or {}
        self.deferrable = deferrable
        self.max_retries = max_retries
        self.retry_non_idempotent = retry_non_idempotent
        self.required_scopes = list(required_scopes or ())

    @cached_property
    def hook(self) -> OAuth2Hook:
        """The hook, built on first use."""
        return OAuth2Hook(oauth2_conn_id=self.oauth2_conn_id)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One request: True (or a done ``PokeReturnValue``) once the answer passes."""
        self.log.info("Poking %s %s", self.method, self.endpoint)
        try:
            response = self.hook.run(
                self.method,
                self.endpoint,
                data=self.data,
                json=self.json,
                params=self.request_params,
                headers=self.headers,
                extra_options=self.extra_options,
                max_retries=self.max_retries,
                retry_non_idempotent=self.retry_non_idempotent,
            )
        except OAuth2HttpError as err:
            if err.status == 404 and self.not_found_ok:
                self.log.info("%s answered 404; not there yet", err.url)
                return False
            raise
        return self._check(context, response)

    def _check(self, context: Context, response: requests.Response) -> bool | PokeReturnValue:
        check = self.response_check
        if check is None:
            return True
        if isinstance(check, str):
            result = import_check(check)(response)
        else:
            result = check(response, **determine_kwargs(check, [response], context))
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        if isinstance(result, PokeReturnValue):
            return result
        return bool(result)

    @staticmethod
    def _outcome(result: bool | PokeReturnValue) -> tuple[bool, Any]:
        if isinstance(result, PokeReturnValue):
            return bool(result.is_done), result.xcom_value
        return bool(result), None

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule); in deferrable mode, poke once, then wait in the triggerer."""
        if self.required_scopes:
            self.hook.check_scopes(self.hook.get_token(), self.required_scopes)
        if not self.deferrable:
            return super().execute(context)
        done, xcom_value = self._outcome(self.poke(context))
        if done:
            return xcom_value
        self._defer(time.time())
        return None  # not reached: defer raises

    def _defer(self, started_at: float) -> None:
        remaining = self.timeout - (time.time() - started_at)
        if remaining <= 0:
            message = f"Sensor {self.task_id} timed out after {self.timeout:g} s"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        self.defer(
            trigger=OAuth2HttpSensorTrigger(
                endpoint=self.endpoint,
                oauth2_conn_id=self.oauth2_conn_id,
                method=self.method,
                data=self.data,
                json=self.json,
                params=self.request_params,
                headers=self.headers,
                extra_options=self.extra_options,
                poke_interval=self.poke_interval,
                not_found_ok=self.not_found_ok,
                response_check_path=self.response_check if isinstance(self.response_check, str) else None,
                max_retries=self.max_retries,
                retry_non_idempotent=self.retry_non_idempotent,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining),
            kwargs={"started_at": started_at},
        )

    def execute_complete(self, context: Context, event: dict[str, Any], started_at: float | None = None) -> Any:
        """
        Resume after the trigger fired: done when the check passes, else defer again.

        :param context: the task context.
        :param event: the trigger's event.
        :param started_at: when the sensor first deferred (epoch seconds), for its ``timeout``.
        """
        if event.get("status") != "success":
            raise error_from_event(event)
        response = response_from_event(event["response"])
        done, xcom_value = self._outcome(self._check(context, response))
        if done:
            self.log.info("%s answered %d; the sensor's condition is met", self.endpoint, response.status_code)
            return xcom_value
        self.log.info("%s answered %d; not done yet, deferring again", self.endpoint, response.status_code)
        self._defer(started_at if started_at is not None else time.time())
        return None  # not reached: defer raises


async def _await(awaitable: Any) -> Any:
    return await awaitable
