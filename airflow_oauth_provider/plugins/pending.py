"""
Pending browser authorizations of the Connect button, kept server-side until the callback.

A pending request holds the PKCE verifier, the ``state``, the connection and the Airflow user
who started it. It is stored as an Airflow Variable in the metadata database, so that every
API-server worker (uvicorn ``--workers``, several API-server hosts) can finish what another
one began:

* key ``oauth2_pending__<sha256(state)>``: the ``state`` itself is never written, only its hash;
* value: the JSON record encrypted with the token keys (``[oauth2] token_encryption_keys``,
  else ``[core] fernet_key``), under Airflow's own at-rest encryption of Variables;
* single use: :meth:`PendingStore.claim` deletes the row and succeeds only for the one
  caller whose ``DELETE`` removed it;
* expiry: requests older than :data:`DEFAULT_TTL` are refused and purged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken, MultiFernet

from airflow_oauth_provider.grants.authorization_code import AuthorizationRequest

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_TTL", "KEY_PREFIX", "PendingAuthorization", "PendingStore"]

#: Seconds a started authorization may take before its callback is refused.
DEFAULT_TTL = 600.0
#: Prefix of the Variables that hold pending requests.
KEY_PREFIX = "oauth2_pending__"
_DESCRIPTION = "Pending OAuth 2.0 authorization (Connect button); deleted when used or after 10 minutes."
_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class PendingAuthorization:
    """
    One started authorization, bound to a connection and an Airflow user.

    :param conn_id: the connection being authorized.
    :param user_id: ``BaseUser.get_id()`` of the Airflow user who pressed Connect.
    :param request: the authorization request (state, PKCE verifier, redirect URI, scope).
    :param team_name: the connection's team (multi-team deployments), stored on the Variable.
    """

    conn_id: str
    user_id: str
    request: AuthorizationRequest
    team_name: str | None = None

    def age(self, now: float) -> float:
        """Seconds since the authorization started."""
        return now - self.request.created_at

    def to_json(self) -> str:
        req = self.request
        return json.dumps(
            {
                "format": _FORMAT,
                "conn_id": self.conn_id,
                "user_id": self.user_id,
                "team_name": self.team_name,
                "url": req.url,
                "state": req.state,
                "code_verifier": req.code_verifier,
                "redirect_uri": req.redirect_uri,
                "scope": list(req.scope),
                "created_at": req.created_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PendingAuthorization:
        record: dict[str, Any] = json.loads(text)
        if record.get("format") != _FORMAT:
            raise ValueError(f"unknown pending authorization format {record.get('format')!r}")
        request = AuthorizationRequest(
            url=str(record["url"]),
            state=str(record["state"]),
            code_verifier=str(record["code_verifier"]),
            redirect_uri=str(record["redirect_uri"]),
            scope=tuple(str(s) for s in record["scope"]),
            created_at=float(record["created_at"]),
        )
        return cls(str(record["conn_id"]), str(record["user_id"]), request, record.get("team_name"))


def variable_key(state: str) -> str:
    """The Variable key of the pending request with this ``state``."""
    return KEY_PREFIX + hashlib.sha256(state.encode("utf-8")).hexdigest()


def _fernet() -> MultiFernet:
    """The token keys: the same settings and rotation as stored tokens (``tokens/crypto.py``)."""
    from airflow_oauth_provider.tokens.crypto import cipher_from_config

    return cipher_from_config().fernet


class PendingStore:
    """
    Pending authorizations in encrypted Variables of the metadata database (ORM; API server only).

    :param ttl: seconds a pending request stays valid.
    :param clock: epoch seconds (injectable for tests).
    """

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock

    def add(self, pending: PendingAuthorization) -> None:
        """Store a new pending request, purging expired ones on the way."""
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session

        self.purge_expired()
        value = _fernet().encrypt(pending.to_json().encode("utf-8")).decode("ascii")
        with create_session() as session:
            session.add(
                Variable(
                    key=variable_key(pending.request.state),
                    val=value,
                    description=_DESCRIPTION,
                    team_name=pending.team_name,
                )
            )

    def find(self, state: str) -> PendingAuthorization | None:
        """
        The pending request for ``state``, or ``None`` when unknown, used, or unreadable.

        Nothing is changed: a request presented by the wrong user stays pending for its owner.
        """
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        if not state:
            return None
        with create_session() as session:
            row = session.scalar(select(Variable).where(Variable.key == variable_key(state)))
            value = row.val if row is not None else None
        pending = self._decode(value)
        if pending is None or not _same(pending.request.state, state):
            return None
        return pending

    def is_expired(self, pending: PendingAuthorization) -> bool:
        age = pending.age(self.clock())
        return age > self.ttl or age < -60  # a record from the future is as suspect as an old one

    def claim(self, pending: PendingAuthorization) -> bool:
        """
        Consume ``pending``: ``True`` for exactly one caller, ``False`` if it was already used.

        The row is deleted in its own transaction; the database serializes concurrent deletes,
        so two callbacks racing with the same ``state`` cannot both succeed.
        """
        return self.discard(pending.request.state)

    def discard(self, state: str) -> bool:
        """Delete the pending request for ``state``; whether a row was deleted."""
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        with create_session() as session:
            result: Any = session.execute(delete(Variable).where(Variable.key == variable_key(state)))
            return bool(result.rowcount == 1)

    def purge_expired(self) -> int:
        """Delete expired or unreadable pending requests; how many."""
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete, select

        stale: list[str] = []
        with create_session() as session:
            for row in session.scalars(select(Variable).where(Variable.key.startswith(KEY_PREFIX))):
                pending = self._decode(row.val)
                if pending is None or self.is_expired(pending):
                    stale.append(row.key)
            if stale:
                session.execute(delete(Variable).where(Variable.key.in_(stale)))
        return len(stale)

    @staticmethod
    def _decode(value: str | None) -> PendingAuthorization | None:
        if not value:
            return None
        try:
            plain = _fernet().decrypt(value.encode("ascii"))
            return PendingAuthorization.from_json(plain.decode("utf-8"))
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError):
            return None


def _same(a: str, b: str) -> bool:
    import secrets

    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
