"""
One long-lived contending OS process, reused for every round of the benchmark.

It is ``tests/contention/worker.py`` turned into a loop: importing Airflow costs ~2 s of CPU a
process, and starting 1+4+16+32 fresh processes for each of three databases would spend most of
the time budget on imports (2 cores). Each round uses a new connection id, hence a new token key,
a new in-process cache entry and a new Variable, and the store counters are reset, so rounds do
not see each other's tokens.

Usage: ``python -m benchmarks.pool_worker INDEX CONTROL_DIR``. Protocol (files in CONTROL_DIR):

- the worker touches ``ready-INDEX`` once imported;
- ``round-K.json`` = ``{"env": {...}, "conn_id": ..., "workers": P, "duration": S}``: workers with
  ``INDEX < P`` set the environment (the ``AIRFLOW_CONN_*`` variables), build the hook and touch
  ``round-K.ready-INDEX``; the others skip to round K+1;
- ``round-K.go`` holds the epoch start time; the worker calls the API until start + S and writes
  ``round-K.wINDEX.json``;
- ``stop``: exit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _wait_for(*paths: Path) -> Path:
    while True:
        for path in paths:
            if path.exists():
                return path
        time.sleep(0.01)


def _warm_up(control: Path) -> None:
    """
    Pay every one-time cost before the first start line: imports, reading a connection, building
    a backend, the first ORM query (SQLAlchemy mapper configuration). A fresh task process pays
    these too, but before it needs a token, not while a sibling waits on the lock.
    """
    import psycopg2  # noqa: F401
    import pymysql  # noqa: F401

    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

    conn_id = "bench_warm_up"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {
            "conn_type": "oauth2",
            "host": "http://127.0.0.1:9",
            "login": "warm-up",
            "password": "warm-up",
            "extra": {
                "grant_type": "refresh_token",
                "token_url": "http://127.0.0.1:9/token",
                "refresh_token": "warm-up",
                "lock_backend": "sql",
                "lock_conn_id": f"{conn_id}_lock",
            },
        }
    )
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}_LOCK"] = json.dumps(
        {"conn_type": "sqlite", "host": str(control / "warm-up-lock.db")}
    )
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    assert hook.store.backend is not None
    hook.store.backend.peek(f"{conn_id}_{os.getpid()}")
    hook.get_session()


def run_round(spec: dict, go_file: Path, ready_file: Path) -> dict:
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
    from airflow_oauth_provider.tokens.store import counters

    os.environ.update(spec["env"])
    hook = OAuth2Hook(oauth2_conn_id=spec["conn_id"])
    hook.settings  # noqa: B018 - read the connection before the start line
    hook.store  # noqa: B018 - build the backend (lock engine, cipher) too
    counters.reset()
    ready_file.touch()
    _wait_for(go_file)
    start_at = float(go_file.read_text())
    ok = 0
    errors: dict[str, int] = {}
    versions: dict[int, float] = {}
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + spec["duration"]
    while time.time() < deadline:
        try:
            hook.run("GET", "/api/items", params={"page": 1, "per_page": 1})
            ok += 1
            token = hook.store.cached()
            assert token is not None
            versions[token.version] = token.issued_at
        except Exception as err:  # counted, never fatal: a round must report, not crash
            key = f"{type(err).__name__}: {str(err)[:200]}"
            errors[key] = errors.get(key, 0) + 1
            time.sleep(0.05)
    return {
        "ok": ok,
        "errors": errors,
        "versions": versions,
        "ended_at": time.time(),
        "obtained": counters.obtained,
        "lock_waits": counters.lock_waits,
        "cache_hits": counters.cache_hits,
        "sibling_tokens": counters.sibling_tokens,
    }


def main() -> None:
    index, control = int(sys.argv[1]), Path(sys.argv[2])
    _warm_up(control)
    (control / f"ready-{index}").touch()
    stop = control / "stop"
    number = 0
    while True:
        found = _wait_for(control / f"round-{number}.json", stop)
        if found == stop:
            # Skip interpreter teardown: ~1 s of CPU with Airflow loaded, times 32 on 2 cores.
            sys.stdout.flush()
            os._exit(0)
        spec = json.loads(found.read_text())
        if index < spec["workers"]:
            prefix = control / f"round-{number}"
            result = run_round(spec, Path(f"{prefix}.go"), Path(f"{prefix}.ready-{index}"))
            out = Path(f"{prefix}.w{index}.json")
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(result))
            tmp.rename(out)
        number += 1


if __name__ == "__main__":
    main()
