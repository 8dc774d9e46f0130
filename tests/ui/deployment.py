"""
A real ``airflow api-server`` (simple auth manager, this provider's plugin) and the sandbox, as subprocesses.

They share the test session's temporary ``AIRFLOW_HOME``, metadata database and Fernet key
(see ``tests/conftest.py``), so the tests can inspect stored tokens and pending requests
through the ORM. Only loopback is used: the API server is browsed as ``http://localhost:N``
and the sandbox as ``http://127.0.0.1:M``, two different sites, as an identity provider and
Airflow would be.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

#: user -> role in ``[core] simple_auth_manager_users``.
USERS = {"admin": "admin", "operator": "op", "viewer": "viewer"}
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class Deployment:
    """A running API server and sandbox."""

    url: str
    sandbox_url: str
    env: dict[str, str]
    home: Path
    dags_folder: Path
    passwords: dict[str, str]
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def token(self, user: str) -> str:
        """A JWT for ``user`` from the simple auth manager (``POST /auth/token``)."""
        response = requests.post(
            f"{self.url}/auth/token",
            json={"username": user, "password": self.passwords[user]},
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def session(self, user: str | None) -> requests.Session:
        """A client session signed in as ``user`` through the UI's ``_token`` cookie (or anonymous)."""
        session = requests.Session()
        if user is not None:
            # Sent as a header: http.cookiejar files cookies of dotless hosts under "localhost.local".
            session.headers["Cookie"] = f"_token={self.token(user)}"
        return session

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists())

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _wait_for(check: Any, what: str, timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, requests.RequestException):
            value = None
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tails}")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group (so that stopping it stops its workers too)."""
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def start(home: Path, workdir: Path, *, workers: int = 1) -> Deployment:
    """
    Start the sandbox and an API server with the simple auth manager on free loopback ports.

    :param home: the ``AIRFLOW_HOME`` (already migrated).
    :param workdir: a directory for logs and the DAGs folder.
    :param workers: API server worker processes; pending authorizations must work across them.
    """
    port = free_port()
    dags = workdir / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(workdir / "passwords.json"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
            "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    ready = workdir / "sandbox.url"
    logs = [workdir / "sandbox.log", workdir / "api-server.log"]
    processes = [
        _spawn(
            [sys.executable, "-m", "airflow_oauth_provider.sandbox", "--port", "0", "--ready-file", str(ready)],
            env,
            logs[0],
        ),
        _spawn(
            [str(BIN / "airflow"), "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", str(workers)],
            env,
            logs[1],
        ),
    ]
    deployment = Deployment(
        url=f"http://localhost:{port}",
        sandbox_url="",
        env=env,
        home=home,
        dags_folder=dags,
        passwords={},
        processes=processes,
        logs=logs,
    )
    try:
        deployment.sandbox_url = _wait_for(lambda: ready.exists() and ready.read_text().strip(), "sandbox", 30, logs)
        _wait_for(
            lambda: requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200,
            "api-server",
            90,
            logs,
        )
        deployment.passwords = json.loads((workdir / "passwords.json").read_text())
    except BaseException:
        deployment.stop()
        raise
    return deployment
