"""Keep idle refresh tokens alive, so a weekly ETL never finds its grant expired."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_oauth_provider.exceptions import OAuth2Error
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["OAuth2KeepAliveOperator"]


class OAuth2KeepAliveOperator(BaseOperator):
    """
    Refresh, through the token store and its lock, every listed connection whose refresh token
    has been idle longer than its threshold; leave fresh ones alone.

    Every connection is tried; the task fails at the end if any could not be kept alive (a dead
    grant raises :class:`OAuth2ReauthorizationRequired` for the notifier to report).

    :param oauth2_conn_ids: the connections to keep alive. (templated)
    :param max_idle: seconds of idleness before a refresh; defaults to each connection's
        ``extra.refresh_token_max_idle``.
    """

    template_fields: Sequence[str] = ("oauth2_conn_ids",)

    def __init__(self, *, oauth2_conn_ids: Sequence[str], max_idle: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oauth2_conn_ids = oauth2_conn_ids
        self.max_idle = max_idle

    def execute(self, context: Any) -> dict[str, str]:
        results: dict[str, str] = {}
        failures: list[OAuth2Error] = []
        for conn_id in self.oauth2_conn_ids:
            try:
                refreshed = OAuth2Hook(oauth2_conn_id=conn_id).keep_alive(self.max_idle)
                results[conn_id] = "refreshed" if refreshed else "fresh"
            except OAuth2Error as err:
                results[conn_id] = f"failed: {type(err).__name__}"
                failures.append(err)
            self.log.info("Keep-alive %s: %s", conn_id, results[conn_id])
        if failures:
            raise failures[0]
        return results
