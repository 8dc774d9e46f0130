"""
Test harness: a real Airflow with a migrated SQLite metadata database, and the sandbox server.

The environment is set before anything imports Airflow, so every test in this process (and
every subprocess it starts, which inherits ``os.environ``) sees the same temporary
``AIRFLOW_HOME``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="oauth2-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
for _name in list(os.environ):
    if _name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[_name]

from tests.stub_server import StubServer  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


# Multi-process proofs, each pinned to one xdist worker so that two of them never compete for
# the two cores at once; everything else is spread over the workers.
_GROUPS = {
    "processes": ("tests/tokens/test_concurrency.py", "tests/tokens/test_crash.py", "tests/tokens/test_lock.py"),
    "deployments": ("tests/deployment/", "tests/dags/", "tests/ui/test_browser.py"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for group, prefixes in _GROUPS.items():
            if item.nodeid.startswith(prefixes):
                item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The sandbox authorization server + API on a free loopback port (default config)."""
    from airflow_oauth_provider.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(port=0, device_interval=1)) as server:
        yield server


@pytest.fixture
def fresh_sandbox() -> Iterator[Any]:
    """A sandbox of the test's own, for tests that change lifetimes or count requests."""
    from airflow_oauth_provider.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(port=0, device_interval=1)) as server:
        yield server


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A scripted HTTP server for the malformed or hostile answers a real server never sends."""
    with StubServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_process_cache() -> Iterator[None]:
    from airflow_oauth_provider.tokens.store import clear_process_cache

    clear_process_cache()
    yield
    clear_process_cache()


_CONN_IDS = itertools.count()


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an ``oauth2`` connection through an ``AIRFLOW_CONN_*`` JSON environment variable."""

    def make(
        *,
        host: str | None = None,
        login: str | None = "sandbox-client",
        password: str | None = "sandbox-secret",
        conn_id: str | None = None,
        conn_type: str = "oauth2",
        **extra: Any,
    ) -> str:
        conn_id = conn_id or f"oauth2_test_{os.getpid()}_{next(_CONN_IDS)}"  # unique across tests: tokens persist
        body = {"conn_type": conn_type, "host": host, "login": login, "password": password, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
        return conn_id

    return make
