"""Call an OAuth 2.0 protected API from a task: ``HttpOperator``'s arguments, with the token handled."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, conf, determine_kwargs, redact

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.triggers.http import OAuth2HttpTrigger, error_from_event, response_from_event

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import requests
    from airflow.providers.common.compat.sdk import Context

__all__ = ["OAuth2HttpOperator"]

#: Keys a ``pagination_function`` may return.
PAGE_KEYS = frozenset({"endpoint", "data", "json", "params", "headers", "extra_options"})


def _merge(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, dict):
        return {**base, **update}
    return base if update is None else update


class OAuth2HttpOperator(BaseOperator):
    """
    Call an endpoint of an OAuth 2.0 protected API; the filtered response goes to XCom.

    Tokens are obtained, cached, refreshed and persisted by the connection's
    :class:`~airflow_oauth_provider.hooks.oauth2.OAuth2Hook`; 429/503 are retried after their
    ``Retry-After`` and other 5xx with backoff (idempotent methods only unless opted in).

    Unlike ``HttpOperator``, when paginating ``response_check`` and ``response_filter`` are
    called once per page, and the XCom is the list of per-page results; the default method is GET.

    :param oauth2_conn_id: the ``oauth2`` connection.
    :param endpoint: path under the connection's host. (templated)
    :param method: the HTTP method.
    :param data: form data or raw body. (templated)
    :param json: a JSON body. (templated)
    :param request_params: query parameters (``params`` is taken by Airflow's DAG params). (templated)
    :param headers: extra request headers. (templated)
    :param response_check: ``check(response, **context) -> bool``; False fails the task.
    :param response_filter: ``filter(response, **context)``: what goes to XCom instead of
        ``response.text``; must be JSON-serialisable.
    :param pagination_function: ``f(response) -> dict | None``: None stops; a dict of
        :meth:`OAuth2Hook.run <airflow_oauth_provider.hooks.oauth2.OAuth2Hook.run>` arguments
        (``endpoint``, ``data``, ``json``, ``params``, ``headers``, ``extra_options``) is merged
        into the operator's own (dicts merged, the page's values winning; others replaced) for
        the next request.
    :param extra_options: ``timeout``, ``verify``, ``allow_redirects``, ``check_response``
        (and, when not deferrable, any other ``requests`` option).
    :param log_response: log each response body (secrets registered with Airflow's masker are
        masked); by default only the status line is logged.
    :param deferrable: send each request from the triggerer instead of holding a worker.
    :param max_retries: overrides the connection's ``api_retries``.
    :param retry_non_idempotent: overrides the connection's ``api_retry_non_idempotent``.
    :param required_scopes: scopes the task needs; it fails before any request, naming the missing
        ones and how to add them, when the connection's grant lacks them.
    """

    conn_id_field: ClassVar[str] = "oauth2_conn_id"
    template_fields: Sequence[str] = ("endpoint", "data", "json", "headers", "request_params")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "data": "py",
        "json": "json",
        "headers": "json",
        "request_params": "json",
    }
    ui_color = "#e8d5f5"

    def __init__(
        self,
        *,
        oauth2_conn_id: str = OAuth2Hook.default_conn_name,
        endpoint: str | None = None,
        method: str = "GET",
        data: dict[str, Any] | str | None = None,
        json: Any = None,
        request_params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        response_check: Callable[..., bool] | None = None,
        response_filter: Callable[..., Any] | None = None,
        pagination_function: Callable[[requests.Response], dict[str, Any] | None] | None = None,
        extra_options: dict[str, Any] | None = None,
        log_response: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
        required_scopes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.oauth2_conn_id = oauth2_conn_id
        self.endpoint = endpoint
        self.method = method.upper()
        self.data = data
        self.json = json
        self.request_params = request_params
        self.headers = headers
        self.response_check = response_check
        self.response_filter = response_filter
        self.pagination_function = pagination_function
        self.extra_options = extra_options or {}
        self.log_response = log_response
        self.deferrable = deferrable
        self.max_retries = max_retries
        self.retry_non_idempotent = retry_non_idempotent
        self.required_scopes = list(required_scopes or ())

    @cached_property
    def hook(self) -> OAuth2Hook:
        """The hook, built on first use (nothing is looked up while the DAG is parsed)."""
        return OAuth2Hook(oauth2_conn_id=self.oauth2_conn_id)

    # -- requests ------------------------------------------------------------------------------

    def _first_request(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "data": self.data,
            "json": self.json,
            "params": self.request_params,
            "headers": self.headers,
            "extra_options": self.extra_options,
        }

    def _next_request(self, response: requests.Response, previous: dict[str, Any]) -> dict[str, Any] | None:
        """The next page's request, or ``None``: the operator's arguments merged with the page's."""
        if self.pagination_function is None:
            return None
        page = self.pagination_function(response)
        if not page:
            return None
        if not isinstance(page, dict):
            raise AirflowException(f"pagination_function must return a dict or None, got {type(page).__name__}")
        unknown = sorted(set(page) - PAGE_KEYS)
        if unknown:
            raise AirflowException(f"pagination_function returned unknown keys {unknown}; allowed: {sorted(PAGE_KEYS)}")
        request = {key: _merge(value, page.get(key)) for key, value in self._first_request().items()}
        if request == previous:
            raise AirflowException("pagination_function asked for the same request again; stopping")
        return request

    def _process(self, context: Context, response: requests.Response) -> Any:
        """Log, check and filter one response."""
        self.log.info(
            "%s %s answered %d %s (%d bytes)",
            self.method,
            response.url.split("?", 1)[0],
            response.status_code,
            response.reason,
            len(response.content),
        )
        if self.log_response:
            self.log.info("Response body: %s", self.hook.scrub(redact(response.text)))
        if self.response_check is not None:
            kwargs = determine_kwargs(self.response_check, [response], context)
            if not self.response_check(response, **kwargs):
                raise AirflowException("Response check returned False.")
        if self.response_filter is not None:
            kwargs = determine_kwargs(self.response_filter, [response], context)
            return self.response_filter(response, **kwargs)
        return response.text

    def _run_pages(self, context: Context, request: dict[str, Any], results: list[Any]) -> Any:
        """Send ``request`` and every following page from this worker."""
        while True:
            response = self.hook.run(
                self.method,
                **request,
                max_retries=self.max_retries,
                retry_non_idempotent=self.retry_non_idempotent,
            )
            results.append(self._process(context, response))
            next_request = self._next_request(response, request)
            if next_request is None:
                return self._result(results)
            request = next_request

    def _result(self, results: list[Any]) -> Any:
        return results if self.pagination_function is not None else results[0]

    # -- execution -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Send the request(s); return the filtered result (a list of them when paginating)."""
        if self.required_scopes:
            self.hook.check_scopes(self.hook.get_token(), self.required_scopes)
        if self.deferrable:
            self._defer(self._first_request(), [])
        return self._run_pages(context, self._first_request(), [])

    def _defer(self, request: dict[str, Any], results: list[Any]) -> None:
        self.defer(
            trigger=OAuth2HttpTrigger(
                oauth2_conn_id=self.oauth2_conn_id,
                method=self.method,
                max_retries=self.max_retries,
                retry_non_idempotent=self.retry_non_idempotent,
                **request,
            ),
            method_name="execute_complete",
            kwargs={"results": results, "request": request},
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        results: list[Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> Any:
        """
        Resume after the trigger answered: process the page, then defer for the next one.

        :param context: the task context.
        :param event: the trigger's event.
        :param results: the results of the previous pages.
        :param request: the request the trigger sent.
        """
        if event.get("status") != "success":
            raise error_from_event(event)
        response = response_from_event(event["response"])
        # A runner that drops the deferral kwargs (``airflow dags test`` in Airflow 3.3.2) resumes
        # with none: this is then the first page, and the remaining pages are fetched from here.
        kwargs_lost = results is None
        done = list(results or [])
        request = request or self._first_request()
        done.append(self._process(context, response))
        next_request = self._next_request(response, request)
        if next_request is None:
            return self._result(done)
        if kwargs_lost:
            self.log.warning("The deferral state was not handed back; fetching the remaining pages from the worker")
            return self._run_pages(context, next_request, done)
        self._defer(next_request, done)
        return None  # not reached: defer raises
