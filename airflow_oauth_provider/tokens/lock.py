"""
Database-level locks, one per token key, held by a dedicated database session.

Every lock is session-scoped: a holder that crashes or is killed loses its connection and the
database frees the lock. The wait is bounded by ``timeout`` and ends in :class:`OAuth2LockTimeout`.

- PostgreSQL: ``pg_advisory_lock(int4, int4)``, the two-key form (Airflow's own locks use the
  one-bigint form, a separate key space). The two keys are 64 bits of SHA-256 of the token key:
  a collision would only make two connections wait for each other, never let two holders in.
- MySQL / MariaDB: ``GET_LOCK(name, timeout)`` with the token key in the name (hashed when longer
  than MySQL's 64 characters).
- SQLite: ``BEGIN IMMEDIATE`` on a lock database file (one file a key), with a busy timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2LockTimeout

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DatabaseLock", "MySQLLock", "PostgresLock", "SQLiteLock", "lock_for_url", "lock_name", "pg_keys"]

MYSQL_NAME_MAX = 64
NAME_PREFIX = "airflow_oauth2:"


def lock_name(key: str) -> str:
    """A lock name derived from the token key; hashed only when too long for MySQL."""
    name = NAME_PREFIX + key
    if len(name) <= MYSQL_NAME_MAX:
        return name
    return NAME_PREFIX + hashlib.sha256(key.encode()).hexdigest()[: MYSQL_NAME_MAX - len(NAME_PREFIX)]


def pg_keys(key: str) -> tuple[int, int]:
    """The two signed int4 keys of ``pg_advisory_lock`` for a token key."""
    digest = hashlib.sha256((NAME_PREFIX + key).encode()).digest()
    return (int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True))


class DatabaseLock(Protocol):
    """A cross-process lock per key."""

    description: str

    def hold(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold the lock for ``key`` for the duration of the ``with`` block."""


def _timeout_error(description: str, key: str, timeout: float) -> OAuth2LockTimeout:
    return OAuth2LockTimeout(
        f"token lock {lock_name(key)!r} on {description} not acquired within {timeout:g} s: another process "
        "holds it (a slow token endpoint, or a refresh that hangs); raise extra.lock_timeout or check that process"
    )


class _EngineLock:
    """Shared plumbing: a dedicated connection (no pool) for each hold."""

    def __init__(self, url: Any, description: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(url, poolclass=NullPool)
        self.description = description


class PostgresLock(_EngineLock):
    """``pg_advisory_lock`` with ``lock_timeout`` bounding the wait."""

    @contextlib.contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        from sqlalchemy import exc, text

        k1, k2 = pg_keys(key)
        with self.engine.connect() as conn:
            conn.execute(
                text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{max(1, int(timeout * 1000))}ms"}
            )
            try:
                conn.execute(text("SELECT pg_advisory_lock(:k1, :k2)"), {"k1": k1, "k2": k2})
            except exc.OperationalError as err:
                if "lock timeout" in str(err.orig).lower() or getattr(err.orig, "pgcode", None) == "55P03":
                    raise _timeout_error(self.description, key, timeout) from None
                raise
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k1, :k2)"), {"k1": k1, "k2": k2})
                conn.commit()


class MySQLLock(_EngineLock):
    """MySQL / MariaDB ``GET_LOCK``."""

    @contextlib.contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        from sqlalchemy import text

        name = lock_name(key)
        with self.engine.connect() as conn:
            got = conn.execute(text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": timeout}).scalar()
            if got != 1:
                raise _timeout_error(self.description, key, timeout)
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})


class SQLiteLock:
    """
    ``BEGIN IMMEDIATE`` on a SQLite file: one writer at a time, per key.

    :param directory: where lock files live (one file a key), or ``None`` with ``path``.
    :param path: a single SQLite database used for every key (a ``lock_conn_id`` on SQLite).
    """

    def __init__(self, directory: Path | None = None, path: Path | None = None) -> None:
        self.directory = directory
        self.path = path
        self.description = f"SQLite {path or directory}"

    def _file(self, key: str) -> Path:
        if self.path is not None:
            return self.path
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100]
        return self.directory / f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.lock.db"

    @contextlib.contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        conn = sqlite3.connect(self._file(key), timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                if "locked" in str(err) or "busy" in str(err):
                    raise _timeout_error(self.description, key, timeout) from None
                raise
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()


def lock_for_url(url: Any, field: str, description: str) -> DatabaseLock:
    """
    The lock for a SQLAlchemy URL's dialect.

    :param url: a SQLAlchemy URL (string or ``URL``).
    :param field: the setting it came from, for errors.
    :param description: how to name the database in messages (never with a password).
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return PostgresLock(parsed, description)
    if backend in ("mysql", "mariadb"):
        return MySQLLock(parsed, description)
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise OAuth2ConfigError(field, "a SQLite lock database must be a file")
        return SQLiteLock(path=Path(parsed.database))
    raise OAuth2ConfigError(field, f"{backend} cannot hold token locks; use PostgreSQL, MySQL/MariaDB or SQLite")
