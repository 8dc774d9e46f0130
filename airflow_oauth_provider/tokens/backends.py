"""
Choosing where a connection's token persists and which lock guards it.

``extra.lock_backend`` (default ``auto``):

==========  ===============================================  ===========================
backend     lock                                             persistence
==========  ===============================================  ===========================
metadata    advisory/named lock on the metadata database      ORM
            (SQLite: a lock file next to ``AIRFLOW_HOME``)
sql         lock on the database of ``lock_conn_id``          Execution API in tasks and
                                                              triggers, ORM elsewhere
file        SQLite lock file under ``AIRFLOW_HOME``           as ``sql``
            (one host only)
==========  ===============================================  ===========================

``auto`` picks ``metadata`` where the ORM is usable, else ``sql`` when a ``lock_conn_id`` is
set (connection extra, then ``[oauth2] lock_conn_id``), else ``file`` with a one-time warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_oauth_provider.exceptions import OAuth2ConfigError
from airflow_oauth_provider.runtime import get_connection, in_execution_context, orm_available
from airflow_oauth_provider.tokens.crypto import TokenCipher, cipher_from_config
from airflow_oauth_provider.tokens.lock import DatabaseLock, SQLiteLock, lock_for_url
from airflow_oauth_provider.tokens.persistence import ExecutionAPIVariables, MetadataVariables, VariableIO

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_oauth_provider.settings import OAuth2Settings
    from airflow_oauth_provider.tokens.token import Token

__all__ = ["UNCHANGED", "VariableBackend", "audit_key", "backend_for", "lock_connection_url"]

#: Leave the re-authorization mark as it is.
UNCHANGED: Any = object()


def audit_key(token_key: str) -> str:
    """The Variable holding a token's audit trail (no secrets in it)."""
    return f"{token_key}__audit"


log = logging.getLogger(__name__)
_warned_file_lock = False

# Airflow connection types -> SQLAlchemy drivers we depend on (extras postgres / mysql).
_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}


class _Record:
    """The Variable of one key, read and written while its lock is held."""

    def __init__(self, backend: VariableBackend, key: str) -> None:
        self._backend = backend
        self._key = key

    def load(self) -> Token | None:
        value = self._backend.io.read(self._key)
        if value is None:
            return None
        return self._backend.cipher.decrypt(value, self._key)

    def save(self, token: Token) -> None:
        self._backend.io.write(self._key, self._backend.cipher.encrypt(token))

    def append_audit(self, events: list[dict[str, Any]], reauthorization: Any = UNCHANGED) -> None:
        self._backend.append_audit(self._key, events, reauthorization)


class VariableBackend:
    """
    Tokens in encrypted Variables, guarded by a database lock.

    :param lock: the cross-process lock.
    :param io: Variable access (ORM or Execution API).
    :param cipher: the token encryption.
    :param name: for logs and ``status``.
    """

    def __init__(self, lock: DatabaseLock, io: VariableIO, cipher: TokenCipher, name: str) -> None:
        self.lock = lock
        self.io = io
        self.cipher = cipher
        self.name = name

    @contextlib.contextmanager
    def locked(self, key: str, timeout: float) -> Iterator[_Record]:
        with self.lock.hold(key, timeout):
            yield _Record(self, key)

    def peek(self, key: str) -> Token | None:
        """Read the stored token without the lock (``status``)."""
        return _Record(self, key).load()

    def delete(self, key: str) -> None:
        """Remove the stored token (``revoke``); the audit trail stays."""
        with self.lock.hold(key, 60):
            self.io.delete(key)

    def audit(self, key: str) -> dict[str, Any]:
        """The audit record next to ``key``: ``{"events": [...], "reauthorization_required": ...}``."""
        raw = self.io.read(audit_key(key))
        if not raw:
            return {"events": [], "reauthorization_required": None}
        try:
            data = json.loads(raw)
        except ValueError:
            return {"events": [], "reauthorization_required": None, "error": f"{audit_key(key)!r} is not JSON"}
        return data if isinstance(data, dict) else {"events": [], "reauthorization_required": None}

    def append_audit(self, key: str, events: list[dict[str, Any]], reauthorization: Any = UNCHANGED) -> None:
        """
        Append events (bounded to ``[oauth2] audit_events``) and set or clear the re-authorization mark.

        Called with the token lock held, except for lock timeouts (best effort).
        """
        from airflow.providers.common.compat.sdk import conf

        limit = conf.getint("oauth2", "audit_events", fallback=50)
        data = self.audit(key)
        data.pop("error", None)
        data["events"] = ([*data.get("events", []), *events])[-limit:] if limit > 0 else []
        if reauthorization is not UNCHANGED:
            data["reauthorization_required"] = reauthorization
        self.io.write(audit_key(key), json.dumps(data, sort_keys=True))


def _airflow_home() -> Path:
    from airflow.providers.common.compat.sdk import conf

    home = os.environ.get("AIRFLOW_HOME") or conf.get("core", "airflow_home", fallback=None) or "~/airflow"
    return Path(home).expanduser()


def file_lock() -> SQLiteLock:
    """The single-host lock: SQLite files under ``$AIRFLOW_HOME/oauth2_locks``."""
    return SQLiteLock(directory=_airflow_home() / "oauth2_locks")


def lock_connection_url(conn: Any) -> Any:
    """A SQLAlchemy URL for an Airflow connection to PostgreSQL, MySQL/MariaDB or SQLite."""
    from sqlalchemy.engine import URL

    driver = _DRIVERS.get((conn.conn_type or "").lower())
    if driver is None:
        raise OAuth2ConfigError(
            "extra.lock_conn_id",
            f"connection {conn.conn_id!r} is of type {conn.conn_type!r}; the lock needs postgres, mysql or sqlite",
        )
    if driver == "sqlite":
        return URL.create("sqlite", database=conn.host or conn.schema)
    return URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )


def _sql_lock(lock_conn_id: str) -> DatabaseLock:
    conn = get_connection(lock_conn_id)
    return lock_for_url(lock_connection_url(conn), "extra.lock_conn_id", f"connection {lock_conn_id!r}")


def _metadata_lock() -> DatabaseLock:
    from airflow.configuration import conf
    from sqlalchemy.engine import make_url

    url = make_url(conf.get("database", "sql_alchemy_conn"))
    if url.get_backend_name() == "sqlite":
        # Locking the metadata SQLite file itself would block our own Variable write.
        return file_lock()
    return lock_for_url(url, "[database] sql_alchemy_conn", "the metadata database")


def backend_for(settings: OAuth2Settings) -> VariableBackend:
    """The backend a connection's settings and this process's context call for."""
    global _warned_file_lock
    from airflow.providers.common.compat.sdk import conf

    choice = settings.lock_backend
    lock_conn_id = settings.lock_conn_id or (conf.get("oauth2", "lock_conn_id", fallback="") or None)
    orm = orm_available()
    if choice == "auto":
        choice = "metadata" if orm else ("sql" if lock_conn_id else "file")
        if choice == "file" and not _warned_file_lock:
            _warned_file_lock = True
            log.warning(
                "No lock_conn_id is set: token locks use a SQLite file under AIRFLOW_HOME, which only "
                "coordinates workers on this host. Multi-host deployments must set [oauth2] lock_conn_id "
                "or extra.lock_conn_id."
            )
    io: VariableIO = ExecutionAPIVariables() if in_execution_context() else MetadataVariables()
    lock: DatabaseLock
    if choice == "metadata":
        if not orm:
            raise OAuth2ConfigError(
                "extra.lock_backend",
                "'metadata' needs the metadata database, which tasks and triggers cannot reach; "
                "use 'sql' with a lock_conn_id",
            )
        lock = _metadata_lock()
    elif choice == "sql":
        if not lock_conn_id:
            raise OAuth2ConfigError("extra.lock_conn_id", "is required for lock_backend 'sql'")
        lock = _sql_lock(lock_conn_id)
    else:
        lock = file_lock()
    return VariableBackend(lock, io, cipher_from_config(), name=f"{choice}:{lock.description}/{io.name}")
