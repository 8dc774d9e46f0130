"""
Metrics and audit events: what happened to a credential, where, and how long it took.

Metrics go through Airflow's own ``Stats`` (StatsD or OpenTelemetry, as the deployment
configures it; a no-op where metrics are off). Names and tags:

=================================  =======  ====================================================
name                               type     tags / meaning
=================================  =======  ====================================================
``oauth2.token.obtained``          counter  conn_id, grant_type, event (issued/refreshed/rotated)
``oauth2.token.request_duration``  timer    conn_id, grant_type: token endpoint latency
``oauth2.token.request_failed``    counter  conn_id, grant_type, error (RFC code or class name)
``oauth2.token.cache_hit``         counter  conn_id: a valid cached token was used
``oauth2.lock.wait``               timer    conn_id: time to acquire the token lock
``oauth2.lock.timeout``            counter  conn_id
``oauth2.token.expires_in``        gauge    conn_id: seconds until the access token expires
``oauth2.refresh_token.age``       gauge    conn_id: seconds since the refresh token was issued
``oauth2.reauthorization_required`` counter conn_id
=================================  =======  ====================================================

Audit events carry no secret: the event name, time, where it ran (task, trigger, cli, ui or
process, with dag_id/task_id when known), the token record version, and for failures the RFC
error code and HTTP status. They are logged as one structured line each and kept, bounded, in
the store next to the token (see :mod:`airflow_oauth_provider.tokens.store`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

__all__ = ["EVENTS", "METRICS", "event", "gauge", "incr", "origin", "set_origin", "timing"]

log = logging.getLogger("airflow_oauth_provider.audit")

EVENTS = (
    "issued",
    "refreshed",
    "rotated",
    "authorized",
    "revoked",
    "refresh_failed",
    "reauthorization_required",
    "lock_timeout",
)
METRICS = (
    "oauth2.token.obtained",
    "oauth2.token.request_duration",
    "oauth2.token.request_failed",
    "oauth2.token.cache_hit",
    "oauth2.lock.wait",
    "oauth2.lock.timeout",
    "oauth2.token.expires_in",
    "oauth2.refresh_token.age",
    "oauth2.reauthorization_required",
)

_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("oauth2_origin", default=None)


def set_origin(name: str) -> contextvars.Token[str | None]:
    """Declare where the following token operations run (``cli``, ``ui``); tasks are detected."""
    return _origin.set(name)


def origin() -> dict[str, Any]:
    """Where this process runs: task (with dag_id/task_id), trigger, cli, ui or process."""
    declared = _origin.get()
    if declared:
        return {"where": declared}
    from airflow_oauth_provider.runtime import in_execution_context

    if not in_execution_context():
        return {"where": "process"}
    try:
        from airflow.providers.common.compat.sdk import get_current_context

        context = get_current_context()
        ti = context["ti"]
        return {"where": "task", "dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id}
    except Exception:  # no task context: the triggerer runs triggers without one
        return {"where": "trigger"}


_STATS: Any = None


def _stats() -> Any:
    """Airflow's Stats, looked up once (this runs on the cache-hit path)."""
    global _STATS
    if _STATS is None:
        from airflow.providers.common.compat.sdk import Stats

        _STATS = Stats
    return _STATS


def incr(name: str, **tags: Any) -> None:
    """Increment a counter; metrics never break a token operation."""
    try:
        _stats().incr(name, tags=tags)
    except Exception:  # pragma: no cover - a broken metrics backend
        log.debug("metric %s not emitted", name, exc_info=True)


def timing(name: str, seconds: float, **tags: Any) -> None:
    """Record a duration (sent in milliseconds, as Airflow's timers are)."""
    try:
        _stats().timing(name, seconds * 1000.0, tags=tags)
    except Exception:  # pragma: no cover
        log.debug("metric %s not emitted", name, exc_info=True)


def gauge(name: str, value: float, **tags: Any) -> None:
    """Set a gauge."""
    try:
        _stats().gauge(name, value, tags=tags)
    except Exception:  # pragma: no cover
        log.debug("metric %s not emitted", name, exc_info=True)


def event(conn_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """
    Build an audit event, log it as one structured line, and return it for persisting.

    :param conn_id: the connection.
    :param name: one of :data:`EVENTS`.
    :param fields: ``version``, ``error``, ``status``, ``detail``; never a secret.
    """
    record: dict[str, Any] = {"time": round(time.time(), 3), "event": name, "conn_id": conn_id, **origin()}
    record.update({k: v for k, v in fields.items() if v is not None})
    log.info("oauth2 event %s", json.dumps(record, sort_keys=True))
    return record
