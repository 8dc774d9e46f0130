"""The lock databases of the test suite, and how to start them when absent."""

from __future__ import annotations

import socket

import pytest

POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"

HOW_TO_START = {
    5432: "PostgreSQL is not running on 127.0.0.1:5432; start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or `make services`)",
    3306: "MariaDB is not running on 127.0.0.1:3306; start it with "
    "`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` (or `make services`)",
}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require(port: int) -> None:
    if not port_open(port):
        pytest.skip(HOW_TO_START[port])


def lock_url(kind: str, tmp_path) -> str:
    """A SQLAlchemy URL for a lock database of ``kind`` (sqlite, postgres, mariadb)."""
    if kind == "postgres":
        require(5432)
        return POSTGRES_URL
    if kind == "mariadb":
        require(3306)
        return MARIADB_URL
    return f"sqlite:///{tmp_path / 'locks.db'}"


def conn_env(kind: str, url: str) -> dict[str, str]:
    """An AIRFLOW_CONN_* JSON value for the lock database at ``url``."""
    import json

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn_type = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}[parsed.get_backend_name()]
    if conn_type == "sqlite":
        return {"conn_type": "sqlite", "host": parsed.database}
    body = {
        "conn_type": conn_type,
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "schema": parsed.database,
    }
    return json.loads(json.dumps(body))
