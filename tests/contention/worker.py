"""
One contending OS process: calls the API through a shared connection until the deadline.

Started by :mod:`tests.contention.harness` with the connection (and its lock database) in
``AIRFLOW_CONN_*`` environment variables, exactly as a worker would see them.
Usage: ``python -m tests.contention.worker CONN_ID GO_FILE DURATION OUT_JSON``: the worker writes
``OUT_JSON.ready`` once imported, then starts at the epoch time the harness writes to GO_FILE.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    conn_id, go_file, duration, out = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    from airflow_oauth_provider.exceptions import OAuth2Error
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
    from airflow_oauth_provider.tokens.store import counters

    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    hook.settings  # read the connection before the start line
    Path(out + ".ready").touch()
    while not go_file.exists():
        time.sleep(0.01)
    start_at = float(go_file.read_text())
    ok = 0
    errors: dict[str, int] = {}
    versions: dict[int, float] = {}
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + duration
    while time.time() < deadline:
        try:
            hook.run("GET", "/api/items", params={"page": 1, "per_page": 1})
            ok += 1
            token = hook.store.cached()
            versions[token.version] = token.issued_at
        except OAuth2Error as err:
            key = f"{type(err).__name__}: {str(err)[:200]}"
            errors[key] = errors.get(key, 0) + 1
            time.sleep(0.05)
    with open(out, "w") as fh:
        json.dump(
            {
                "ok": ok,
                "errors": errors,
                "versions": versions,
                "ended_at": time.time(),
                "obtained": counters.obtained,
                "lock_waits": counters.lock_waits,
                "cache_hits": counters.cache_hits,
            },
            fh,
        )


if __name__ == "__main__":
    main()
