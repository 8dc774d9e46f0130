"""
Drive triggers and deferrable operators in-process, the way the scheduler and triggerer do.

``run_deferrable`` follows each ``TaskDeferred``: the trigger is rebuilt from its
``serialize()`` output (JSON round trip, as the database would store it), run until its first
event, and the operator resumes in ``method_name`` with the deferral ``kwargs`` plus ``event``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.triggers.base import BaseTrigger, TriggerEvent


async def _first(trigger: BaseTrigger) -> TriggerEvent | None:
    async for event in trigger.run():
        return event
    return None


def first_event(trigger: BaseTrigger, timeout: float = 30) -> TriggerEvent:
    """Run ``trigger`` until it fires; fail if it ends without an event or takes too long."""
    event = asyncio.run(asyncio.wait_for(_first(trigger), timeout))
    assert event is not None, "the trigger ended without an event"
    json.dumps(event.payload)  # events are JSON
    return event


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """The trigger as the triggerer recreates it: class path + JSON round trip of its kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


@dataclasses.dataclass
class Deferral:
    trigger: BaseTrigger
    kwargs: dict[str, Any]
    event: dict[str, Any]
    timeout: Any


@dataclasses.dataclass
class DeferredRun:
    result: Any
    deferrals: list[Deferral]


def run_deferrable(operator: Any, context: dict[str, Any] | None = None, *, drop_kwargs: bool = False) -> DeferredRun:
    """
    Execute ``operator`` through every deferral.

    :param drop_kwargs: resume without the deferral kwargs, as ``airflow dags test`` does in 3.3.2.
    """
    context = context if context is not None else {}
    method, kwargs = operator.execute, {}
    deferrals: list[Deferral] = []
    while True:
        try:
            return DeferredRun(method(context, **kwargs), deferrals)
        except TaskDeferred as deferred:
            next_kwargs = json.loads(json.dumps(deferred.kwargs or {}))
            trigger = rebuild(deferred.trigger)
            event = first_event(trigger).payload
            deferrals.append(Deferral(trigger, next_kwargs, event, deferred.timeout))
            assert len(deferrals) < 100, "deferred forever"
            method = getattr(operator, deferred.method_name)
            kwargs = {"event": event} if drop_kwargs else {**next_kwargs, "event": event}


def issued_access_tokens(server: Any) -> list[str]:
    """Every access token the sandbox issued (read from its in-memory state)."""
    tokens = list(server.state._by_access)
    assert tokens, "the sandbox issued no token, or its state layout changed"
    return tokens


def sandbox_conn(make_conn: Any, server: Any, **extra: Any) -> str:
    """An ``oauth2`` client-credentials connection to ``server`` (items and jobs scopes)."""
    extra.setdefault("scope", "items:read jobs")
    return make_conn(host=server.url, token_url=server.token_url, **extra)


#: Loggers of the sandbox server running in the test process (Authlib logs issued tokens at DEBUG).
SERVER_LOGGERS = ("authlib", "werkzeug", "airflow_oauth_provider.sandbox")


def client_logs(caplog: Any, capfd: Any) -> str:
    """Everything the client side logged: captured records (server loggers excluded) and stdout/stderr."""
    records = [r for r in caplog.records if not r.name.startswith(SERVER_LOGGERS)]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in records)
    out, err = capfd.readouterr()
    return "\n".join((text, out, err))
