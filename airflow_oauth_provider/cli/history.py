"""``airflow oauth2 history CONN_ID``: the audit trail kept next to a connection's stored token."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from airflow_oauth_provider.exceptions import OAuth2Error
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

if TYPE_CHECKING:
    import argparse

__all__ = ["history", "history_of"]

COLUMNS = ("time", "event", "where", "version", "error", "status")


def history_of(hook: OAuth2Hook) -> dict[str, Any]:
    """The audit record of a connection: events (oldest first) and the re-authorization mark."""
    backend = hook.store.backend
    if backend is None:
        return {"events": [], "reauthorization_required": None, "note": "tokens of this connection are not persisted"}
    return backend.audit(hook.settings.token_key)


def _where(event: dict[str, Any]) -> str:
    where = str(event.get("where", ""))
    if event.get("dag_id"):
        where += f" {event['dag_id']}.{event.get('task_id', '')}"
    return where


def history(args: argparse.Namespace) -> None:
    """Print the audit trail as a table, or JSON with ``-o json``."""
    try:
        record = history_of(OAuth2Hook(oauth2_conn_id=args.conn_id))
    except OAuth2Error as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    if args.output == "json":
        print(json.dumps(record), flush=True)
        return
    rows = [
        (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.get("time", 0))),
            str(event.get("event", "")),
            _where(event),
            str(event.get("version", "")),
            str(event.get("error", "")),
            str(event.get("status", "")),
        )
        for event in record.get("events", [])
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    mark = record.get("reauthorization_required")
    if mark:
        print(
            f"\nRe-authorization required since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(mark['since']))}: "
            f"{mark.get('message', mark.get('error'))}"
        )
    sys.stdout.flush()
