"""The one token model: what the token endpoint issued, when it expires, and which record version it is."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["Token"]

REDACTED = "[secure]"


@dataclasses.dataclass(frozen=True)
class Token:
    """
    An issued access token, optionally with a refresh token.

    ``repr`` and ``str`` never show ``access_token`` or ``refresh_token``.

    :param access_token: the access token string.
    :param token_type: the token type as issued (compared case-insensitively, RFC 6749 §5.1).
    :param expires_at: epoch seconds at which the access token expires; ``None`` when unknown.
    :param refresh_token: the refresh token, if any.
    :param scope: the granted scopes, if the server said (or the requested ones, RFC 6749 §5.1).
    :param issued_at: epoch seconds at which the token was received (minus the request duration).
    :param version: the persisted record version; every refresh writes ``version + 1``.
    :param updated_at: epoch seconds of the last write of this record.
    :param refresh_expires_at: epoch seconds at which the refresh token expires, when the server said.
    :param refresh_issued_at: epoch seconds at which the current refresh token was issued.
    :param seed: fingerprint of the pasted ``extra.refresh_token`` this token descends from, if any.
    """

    access_token: str = dataclasses.field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    scope: tuple[str, ...] | None = None
    issued_at: float = dataclasses.field(default_factory=time.time)
    version: int = 0
    updated_at: float | None = None
    refresh_expires_at: float | None = None
    refresh_issued_at: float | None = None
    seed: str | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
        refresh = REDACTED if self.refresh_token else None
        return f"Token(access_token={REDACTED!r}, refresh_token={refresh!r}, {fields})"

    __str__ = __repr__

    @property
    def is_bearer(self) -> bool:
        """Whether the token type is ``Bearer`` (case-insensitive, RFC 6749 §5.1)."""
        return self.token_type.lower() == "bearer"

    @property
    def lifetime(self) -> float | None:
        """Seconds between receipt and expiry, or ``None`` when the expiry is unknown."""
        if self.expires_at is None:
            return None
        return self.expires_at - self.issued_at

    def effective_leeway(self, leeway: float) -> float:
        """
        The leeway actually applied: ``leeway``, but never more than half the token's lifetime.

        A token that lives 2 seconds with a 60 second leeway would otherwise be refreshed
        on every call.

        :param leeway: the configured leeway in seconds.
        """
        lifetime = self.lifetime
        if lifetime is None:
            return leeway
        return max(0.0, min(leeway, lifetime / 2))

    def is_expired(self, leeway: float = 0.0, now: float | None = None) -> bool | None:
        """
        Whether the access token is expired, or will be within ``leeway`` seconds.

        :param leeway: refresh this many seconds before the real expiry (capped at half the lifetime).
        :param now: the current epoch time; defaults to ``time.time()``.
        :return: ``None`` when the expiry is unknown.
        """
        if self.expires_at is None:
            return None
        if now is None:
            now = time.time()
        return now >= self.expires_at - self.effective_leeway(leeway)

    def with_version(self, version: int, updated_at: float | None = None) -> Token:
        """Return a copy carrying another record version."""
        return dataclasses.replace(self, version=version, updated_at=time.time() if updated_at is None else updated_at)

    def to_record(self) -> dict[str, Any]:
        """The JSON-serialisable record persisted by the token store (contains secrets)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "scope": list(self.scope) if self.scope is not None else None,
            "issued_at": self.issued_at,
            "version": self.version,
            "updated_at": self.updated_at,
            "refresh_expires_at": self.refresh_expires_at,
            "refresh_issued_at": self.refresh_issued_at,
            "seed": self.seed,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Token:
        """
        Rebuild a token from :meth:`to_record` output.

        :raises ValueError: naming the field when the record is not a valid token record.
        """
        if not isinstance(record, Mapping):
            raise ValueError("token record is not a JSON object")
        access_token = record.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("token record field 'access_token' is missing or not a string")
        version = record.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ValueError("token record field 'version' is not a non-negative integer")
        scope = record.get("scope")
        return cls(
            access_token=access_token,
            token_type=str(record.get("token_type") or "Bearer"),
            expires_at=_opt_float(record, "expires_at"),
            refresh_token=record.get("refresh_token") or None,
            scope=tuple(scope) if scope is not None else None,
            issued_at=_opt_float(record, "issued_at") or 0.0,
            version=version,
            updated_at=_opt_float(record, "updated_at"),
            refresh_expires_at=_opt_float(record, "refresh_expires_at"),
            refresh_issued_at=_opt_float(record, "refresh_issued_at"),
            seed=record.get("seed") if isinstance(record.get("seed"), str) else None,
        )


def _opt_float(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"token record field {key!r} is not a number")
    return float(value)
