"""
Many OS processes sharing one rotating ``refresh_token`` connection against the sandbox.

Shared by the concurrency proof (``tests/tokens/test_concurrency.py``) and the benchmark
(``benchmarks/contention.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.dbs import conn_env

ROOT = Path(__file__).resolve().parents[2]


def run_contention(
    *,
    sandbox_url: str,
    refresh_token: str,
    lock_kind: str,
    lock_url: str,
    processes: int,
    duration: float,
    lifetime: float,
    leeway: float,
    startup: float = 120.0,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",
) -> dict[str, Any]:
    """
    Run ``processes`` workers for ``duration`` seconds and gather what they and the sandbox saw.

    The sandbox must already issue access tokens living ``lifetime`` seconds.
    """
    conn_id = f"contention_{uuid.uuid4().hex[:8]}"
    lock_conn_id = f"{conn_id}_lock"
    env = os.environ.copy()
    env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {
            "conn_type": "oauth2",
            "host": sandbox_url,
            "login": client_id,
            "password": client_secret,
            "extra": {
                "grant_type": "refresh_token",
                "token_url": f"{sandbox_url}/token",
                "refresh_token": refresh_token,
                "lock_backend": "sql",
                "lock_conn_id": lock_conn_id,
                "leeway": leeway,
                "token_retries": 0,
            },
        }
    )
    env[f"AIRFLOW_CONN_{lock_conn_id.upper()}"] = json.dumps(conn_env(lock_kind, lock_url))
    requests.post(f"{sandbox_url}/stats/reset", timeout=10).raise_for_status()
    with tempfile.TemporaryDirectory() as tmp:
        go_file = Path(tmp) / "go"
        outs = [Path(tmp) / f"w{i}.json" for i in range(processes)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.contention.worker", conn_id, str(go_file), str(duration), str(out)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for out in outs
        ]
        deadline = time.monotonic() + startup
        while not all(Path(f"{out}.ready").exists() for out in outs):
            crashed = [p for p in procs if p.poll() not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                for proc in procs:
                    proc.kill()
                detail = crashed[0].communicate()[1].decode(errors="replace")[-2000:] if crashed else "startup timeout"
                raise AssertionError(f"workers did not start: {detail}")
            time.sleep(0.05)
        start_at = time.time() + 0.5
        tmp_go = go_file.with_suffix(".tmp")
        tmp_go.write_text(str(start_at))
        tmp_go.rename(go_file)
        failures = []
        for proc in procs:
            _, stderr = proc.communicate(timeout=startup + duration + 120)
            if proc.returncode != 0:
                failures.append(stderr.decode(errors="replace")[-2000:])
        if failures:
            raise AssertionError(f"{len(failures)} worker(s) crashed; first: {failures[0]}")
        results = [json.loads(out.read_text()) for out in outs]
    stats = requests.get(f"{sandbox_url}/stats", timeout=10).json()
    errors: dict[str, int] = {}
    for result in results:
        for key, count in result["errors"].items():
            errors[key] = errors.get(key, 0) + count
    waits = sorted(w for r in results for w in r["lock_waits"])
    issued = {int(v): t for r in results for v, t in r["versions"].items()}
    ended = max(r["ended_at"] for r in results)
    period = lifetime - min(leeway, lifetime / 2)
    # An expiry is a token whose refresh point passed while the workers were still calling.
    expiries = sum(1 for t in issued.values() if t + period <= ended)
    return {
        "processes": processes,
        "duration": duration,
        "lifetime": lifetime,
        "refresh_period": period,
        "expiries": expiries,
        "ok": sum(r["ok"] for r in results),
        "errors": errors,
        "failed": sum(errors.values()),
        "obtained": sum(r["obtained"] for r in results),
        "token_requests": stats["token_requests"].get("refresh_token", 0),
        "invalid_grant": stats["invalid_grant"],
        "api_401": stats.get("api_401", 0),
        "lock_waits": waits,
        "max_version": max(issued, default=0),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, round(q * (len(values) - 1)))
    return sorted(values)[index]
