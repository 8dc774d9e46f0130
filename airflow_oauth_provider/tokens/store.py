"""
The token store: the single-flight path, and the only code that reads or writes a persisted token.

``TokenStore.get(obtain)``:

1. In-process cache hit, not within leeway of expiry → return it. No I/O.
2. Otherwise take this process's lock for the key, then the backend's cross-process lock
   (bounded by ``lock_timeout``).
3. Re-read the persisted record under the lock, bypassing every cache: a sibling may have
   refreshed. Still valid → use it.
4. Call ``obtain(current)`` (a refresh, or the connection's grant). Persist ``version + 1``
   *before* the new token is used or the lock released; read it back and check the version.
5. On ``invalid_grant``: re-read once more; a newer version → use it; otherwise raise
   :class:`OAuth2ReauthorizationRequired`. A newer record is never overwritten by an older one.

The store knows nothing of grants: the hook hands it ``obtain``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from airflow_oauth_provider import observability
from airflow_oauth_provider.exceptions import (
    OAuth2Error,
    OAuth2LockTimeout,
    OAuth2ReauthorizationRequired,
    OAuth2TokenError,
    OAuth2TokenStoreError,
)
from airflow_oauth_provider.tokens.token import Token

if TYPE_CHECKING:
    import contextlib

__all__ = ["LockedRecord", "StoreCounters", "TokenBackend", "TokenStore", "clear_process_cache", "counters"]

log = logging.getLogger(__name__)

Obtain = Callable[[Token | None], Token]
RefreshIf = Callable[[Token], bool]

SAVE_ATTEMPTS = 3


class LockedRecord(Protocol):
    """The persisted record of one key, accessible only while its lock is held."""

    def load(self) -> Token | None:
        """Read the record, bypassing every cache; ``None`` when nothing is stored."""

    def save(self, token: Token) -> None:
        """Write the record (the caller has set its version)."""

    def append_audit(self, events: list[dict[str, Any]], reauthorization: Any = ...) -> None:
        """Append audit events; set (a dict) or clear (``None``) the re-authorization mark."""


class TokenBackend(Protocol):
    """Where tokens persist and how their keys are locked across processes."""

    #: A short name for logs and ``status`` (e.g. ``metadata``, ``sql:lock_db``).
    name: str

    def locked(self, key: str, timeout: float) -> contextlib.AbstractContextManager[LockedRecord]:
        """
        Hold the cross-process lock for ``key`` and give access to its record.

        :raises OAuth2LockTimeout: when the lock cannot be had within ``timeout`` seconds.
        """

    def peek(self, key: str) -> Token | None:
        """Read the stored token without the lock (``status``)."""

    def delete(self, key: str) -> None:
        """Remove the stored token under the lock (``revoke``)."""

    def audit(self, key: str) -> dict[str, Any]:
        """The audit record of ``key`` (no lock)."""

    def append_audit(self, key: str, events: list[dict[str, Any]], reauthorization: Any = ...) -> None:
        """Append audit events without holding the token lock (best effort)."""


class StoreCounters:
    """What this process's stores did: read by benchmarks, tests and ``status``."""

    def __init__(self) -> None:
        self.cache_hits = 0
        self.lock_acquisitions = 0
        self.lock_waits: list[float] = []
        self.obtained = 0
        self.sibling_tokens = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


#: Counters of this process (not locked: approximate under threads, exact per process).
counters = StoreCounters()

# Process-wide: every hook instance for the same key shares one cache entry and one lock.
_cache: dict[str, Token] = {}
_thread_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def clear_process_cache() -> None:
    """Forget every cached token in this process (tests, or after ``revoke``)."""
    with _registry_lock:
        _cache.clear()


def _thread_lock(key: str) -> threading.Lock:
    with _registry_lock:
        return _thread_locks.setdefault(key, threading.Lock())


class TokenStore:
    """
    Tokens for one key (one connection), shared by every hook in the process.

    :param key: the token key (the Variable name when persisted).
    :param backend: persistence and cross-process locking; ``None`` keeps tokens in this process only.
    :param leeway: refresh this many seconds before expiry (capped at half the token lifetime).
    :param lock_timeout: the longest wait for a lock, in seconds.
    :param conn_id: the connection, for messages.
    :param clock: returns the current epoch time; injectable for tests.
    """

    def __init__(
        self,
        key: str,
        *,
        backend: TokenBackend | None = None,
        leeway: float = 60.0,
        lock_timeout: float = 60.0,
        conn_id: str = "",
        grant_type: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.backend = backend
        self.leeway = leeway
        self.lock_timeout = lock_timeout
        self.conn_id = conn_id or key
        self.grant_type = grant_type
        self.clock = clock

    def _usable(self, token: Token | None, rejected: Token | None, refresh_if: RefreshIf | None = None) -> bool:
        if token is None:
            return False
        if rejected is not None and token.access_token == rejected.access_token:
            return False
        if refresh_if is not None and refresh_if(token):
            return False
        return not token.is_expired(self.leeway, now=self.clock())

    def cached(self) -> Token | None:
        """The token cached in this process, valid or not, without any I/O."""
        return _cache.get(self.key)

    def get(self, obtain: Obtain, *, rejected: Token | None = None, refresh_if: RefreshIf | None = None) -> Token:
        """
        A valid token: cached, persisted by a sibling, or newly obtained.

        :param obtain: ``obtain(current)`` returns a new token: a refresh when ``current`` has a
            refresh token, else the connection's grant.
        :param rejected: a token the API just refused (401): it is not reused, whatever its expiry.
        :param refresh_if: also refresh a valid token for which this is true (keep-alive); checked
            again on the re-read under the lock, so a sibling's fresh refresh counts.
        """
        token = _cache.get(self.key)
        if self._usable(token, rejected, refresh_if):
            assert token is not None
            counters.cache_hits += 1
            observability.incr("oauth2.token.cache_hit", conn_id=self.conn_id)
            return token
        thread_lock = _thread_lock(self.key)
        if token is not None and rejected is None and refresh_if is None and not token.is_expired(0, now=self.clock()):
            # Proactive refresh of a token that is still valid: whoever holds the lock is already
            # refreshing, so keep using this one rather than queueing behind them.
            if not thread_lock.acquire(blocking=False):
                return token
            try:
                if self.backend is None:
                    return self._get_unpersisted(obtain, token)
                return self._get_persisted(obtain, None, None, try_only=True) or token
            finally:
                thread_lock.release()
        if not thread_lock.acquire(timeout=self.lock_timeout):
            raise OAuth2LockTimeout(
                f"token lock for connection {self.conn_id!r} not acquired within {self.lock_timeout:g} s "
                "(another thread of this process is refreshing); raise extra.lock_timeout if refreshes are slow"
            )
        try:
            token = _cache.get(self.key)
            if self._usable(token, rejected, refresh_if):
                assert token is not None
                return token
            if self.backend is None:
                return self._get_unpersisted(obtain, token)
            token = self._get_persisted(obtain, rejected, refresh_if)
            assert token is not None
            return token
        finally:
            thread_lock.release()

    def _get_unpersisted(self, obtain: Obtain, token: Token | None) -> Token:
        current = token if token is not None and token.refresh_token else None
        try:
            token = obtain(current)
        except OAuth2TokenError as err:
            if err.error == "invalid_grant" and not isinstance(err, OAuth2ReauthorizationRequired):
                raise self._reauthorization_required(err) from None
            raise
        _cache[self.key] = token
        return token

    def replace(self, obtain: Obtain) -> Token:
        """
        Store a token from a new authorization (CLI/UI consent), under the lock, as ``version + 1``.

        ``obtain(current)`` runs while the lock is held (e.g. the code exchange), so no sibling
        refreshes the old grant in between.
        """
        thread_lock = _thread_lock(self.key)
        if not thread_lock.acquire(timeout=self.lock_timeout):
            raise OAuth2LockTimeout(f"token lock for connection {self.conn_id!r} not acquired")
        try:
            if self.backend is None:
                token = obtain(None)
                _cache[self.key] = token
                return token
            with self.backend.locked(self.key, self.lock_timeout) as record:
                try:
                    stored = record.load()
                except OAuth2TokenStoreError:
                    stored = None  # an undecryptable old record: a new authorization replaces it
                new = obtain(stored)
                counters.obtained += 1
                new = new.with_version((stored.version if stored else 0) + 1, updated_at=self.clock())
                self._save_verified(record, new)
                _cache[self.key] = new
                self._observe(new, "issued")
                event = observability.event(self.conn_id, "authorized", version=new.version)
                self._audit(record, [event], reauthorization=None)
                return new
        finally:
            thread_lock.release()

    def _get_persisted(
        self, obtain: Obtain, rejected: Token | None, refresh_if: RefreshIf | None = None, *, try_only: bool = False
    ) -> Token | None:
        """The locked path; with ``try_only``, ``None`` when the lock is busy (a sibling is refreshing)."""
        assert self.backend is not None
        started = time.monotonic()
        acquired = False
        try:
            with self.backend.locked(self.key, 0.0 if try_only else self.lock_timeout) as record:
                acquired = True
                waited = time.monotonic() - started
                counters.lock_acquisitions += 1
                counters.lock_waits.append(waited)
                observability.timing("oauth2.lock.wait", waited, conn_id=self.conn_id)
                log.debug("Token lock for %r acquired in %.3f s", self.conn_id, waited)
                return self._refresh_locked(record, obtain, rejected, refresh_if)
        except OAuth2LockTimeout as err:
            if try_only and not acquired:
                return None
            if not acquired:
                observability.incr("oauth2.lock.timeout", conn_id=self.conn_id)
                self._audit_unlocked([observability.event(self.conn_id, "lock_timeout", error="lock_timeout")])
            raise err from None

    def _refresh_locked(
        self, record: LockedRecord, obtain: Obtain, rejected: Token | None, refresh_if: RefreshIf | None = None
    ) -> Token:
        stored = record.load()
        if self._usable(stored, rejected, refresh_if):
            assert stored is not None
            counters.sibling_tokens += 1
            _cache[self.key] = stored
            return stored
        try:
            new = obtain(stored if stored is not None and stored.refresh_token else None)
        except OAuth2TokenError as err:
            if err.error == "invalid_grant" and not isinstance(err, OAuth2ReauthorizationRequired):
                latest = record.load()
                if latest is not None and (stored is None or latest.version > stored.version):
                    _cache[self.key] = latest
                    return latest
                err = self._reauthorization_required(err)
            self._audit_failure(record, err, stored)
            raise err from None
        except OAuth2Error as err:
            self._audit_failure(record, err, stored)
            raise
        counters.obtained += 1
        version = stored.version + 1 if stored is not None else 1
        new = new.with_version(version, updated_at=self.clock())
        self._save_verified(record, new)
        _cache[self.key] = new
        if stored is None or not stored.refresh_token:
            kind = "issued"
        else:
            kind = "rotated" if new.refresh_token != stored.refresh_token else "refreshed"
        self._observe(new, kind)
        self._audit(record, [observability.event(self.conn_id, kind, version=version)], reauthorization=None)
        return new

    def _observe(self, token: Token, kind: str) -> None:
        observability.incr("oauth2.token.obtained", conn_id=self.conn_id, grant_type=self.grant_type, event=kind)
        now = self.clock()
        if token.expires_at is not None:
            observability.gauge("oauth2.token.expires_in", token.expires_at - now, conn_id=self.conn_id)
        if token.refresh_issued_at is not None:
            observability.gauge("oauth2.refresh_token.age", now - token.refresh_issued_at, conn_id=self.conn_id)

    def _audit(self, record: LockedRecord, events: list[dict[str, Any]], reauthorization: Any = ...) -> None:
        """Persist audit events under the lock; a failure here never hides the token operation's outcome."""
        try:
            if reauthorization is ...:
                record.append_audit(events)
            else:
                record.append_audit(events, reauthorization)
        except Exception as err:
            log.warning("Could not persist the audit trail of %r: %s", self.conn_id, type(err).__name__)

    def _audit_unlocked(self, events: list[dict[str, Any]]) -> None:
        if self.backend is None:
            return
        try:
            self.backend.append_audit(self.key, events)
        except Exception as err:
            log.warning("Could not persist the audit trail of %r: %s", self.conn_id, type(err).__name__)

    def _audit_failure(self, record: LockedRecord, err: OAuth2Error, stored: Token | None) -> None:
        version = stored.version if stored is not None else None
        code = getattr(err, "error", None) or type(err).__name__
        status = getattr(err, "status", None)
        failed = observability.event(self.conn_id, "refresh_failed", version=version, error=code, status=status)
        observability.incr("oauth2.token.request_failed", conn_id=self.conn_id, grant_type=self.grant_type, error=code)
        if isinstance(err, OAuth2ReauthorizationRequired):
            observability.incr("oauth2.reauthorization_required", conn_id=self.conn_id)
            mark = {"since": round(self.clock(), 3), "error": code, "message": str(err)[:500]}
            dead = observability.event(self.conn_id, "reauthorization_required", version=version, error=code)
            self._audit(record, [failed, dead], reauthorization=mark)
        else:
            self._audit(record, [failed])

    def _reauthorization_required(self, err: OAuth2TokenError) -> OAuth2ReauthorizationRequired:
        detail = f": {err.error_description}" if err.error_description else ""
        dead = OAuth2ReauthorizationRequired(
            err.error,
            err.error_description,
            status=err.status,
            url=err.url,
            message=(
                f"connection {self.conn_id!r}: the authorization server rejected the refresh token "
                f"({err.error}{detail}); the grant was revoked, expired or replayed. Re-authorize with "
                f"`airflow oauth2 authorize {self.conn_id}`"
            ),
        )
        dead.conn_id = self.conn_id
        return dead

    def _save_verified(self, record: LockedRecord, token: Token) -> None:
        """Persist ``token``, read it back and check the version; retry a few times."""
        last_error: Exception | None = None
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                record.save(token)
                back = record.load()
            except OAuth2TokenStoreError as err:
                last_error = err
            except Exception as err:  # a network or database error from the write path
                last_error = err
            else:
                if back is not None and back.version == token.version and back.access_token == token.access_token:
                    return
                last_error = OAuth2TokenStoreError(
                    f"read-back after writing {self.key!r} returned version "
                    f"{back.version if back else None}, expected {token.version}"
                )
            log.warning(
                "Saving the new token of %r failed (attempt %d/%d): %s",
                self.conn_id,
                attempt,
                SAVE_ATTEMPTS,
                type(last_error).__name__,
            )
            time.sleep(0.2 * attempt)
        # Keep the token in this process so it is not lost while the process lives.
        _cache[self.key] = token
        raise OAuth2TokenStoreError(
            f"connection {self.conn_id!r}: a new token (version {token.version}) was obtained but could "
            f"not be saved to {self.key!r} after {SAVE_ATTEMPTS} attempts ({last_error}); the previous "
            "refresh token may already be spent. Fix the store, then re-run; if the task fails with "
            f"invalid_grant, re-authorize with `airflow oauth2 authorize {self.conn_id}`"
        ) from last_error
