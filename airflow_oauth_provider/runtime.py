"""Where this code runs: a supervised task or trigger process (ORM blocked) or a process with the ORM."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["get_connection", "in_execution_context", "orm_available"]


def in_execution_context() -> bool:
    """
    Whether we run under a Task SDK supervisor (task runner, triggerer runner, ``dags test``).

    There the metadata database is reached only through the Execution API
    (``SUPERVISOR_COMMS``); in a real deployment the ORM is blocked.
    """
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return runner is not None and getattr(runner, "SUPERVISOR_COMMS", None) is not None


def orm_available() -> bool:
    """Whether the metadata database can be used through the ORM here (CLI, API server, tests)."""
    if in_execution_context():
        return False
    try:
        from airflow import settings
    except ImportError:  # pragma: no cover - the Task SDK alone
        return False
    session = getattr(settings, "Session", None)
    return session is not None and type(session).__name__ != "BlockedDBSession"


def get_connection(conn_id: str) -> Any:
    """
    Look a connection up where this process can see it.

    In tasks and triggers the Task SDK asks the API server. Elsewhere (CLI, API server, tests)
    the SDK would consult only environment variables and external secrets backends, so the
    core lookup, which includes the metadata database, is used.
    """
    if orm_available():
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)
    from airflow.providers.common.compat.sdk import BaseHook

    return BaseHook.get_connection(conn_id)
