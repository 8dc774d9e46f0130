"""Every documented metric is emitted to StatsD (a listener on loopback captures the packets)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from airflow_oauth_provider.observability import METRICS
from airflow_oauth_provider.sandbox.user import obtain_refresh_token

ROOT = Path(__file__).resolve().parents[2]


def test_documented_metrics_reach_statsd(fresh_sandbox):
    fresh_sandbox.update_config(access_token_lifetime=1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    seed = obtain_refresh_token(fresh_sandbox.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.observability.metrics_worker", fresh_sandbox.url, seed],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    packets: list[str] = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            packets.append(listener.recv(65535).decode())
        except TimeoutError:
            pass
    _, err = proc.communicate(timeout=10)
    listener.close()
    assert proc.returncode == 0, err.decode()[-3000:]
    names = {line.split(":", 1)[0] for packet in packets for line in packet.splitlines()}
    missing = [m for m in METRICS if f"airflow.{m}" not in names]
    assert missing == [], (missing, sorted(names))
    assert requests.get(f"{fresh_sandbox.url}/stats", timeout=5).json()["invalid_grant"] == 1  # the revoked grant
