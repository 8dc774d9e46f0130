"""
The sandbox's whole state, in memory, behind one lock.

Every check-then-change (claim a code, rotate a refresh token, answer a device poll) happens
inside one ``with self._lock`` block, so concurrent requests from many worker processes see the
same outcome as if they had arrived one after the other.
"""

from __future__ import annotations

import enum
import re
import secrets
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_oauth_provider.sandbox.models import (
    AuthorizationCode,
    Client,
    DeviceCredential,
    Fault,
    Job,
    Token,
    User,
)

if TYPE_CHECKING:
    from airflow_oauth_provider.sandbox.config import SandboxConfig

__all__ = [
    "DEVICE_GRANT_TYPE",
    "JWT_BEARER_GRANT_TYPE",
    "DevicePoll",
    "RefreshClaim",
    "SandboxState",
    "default_clients",
]

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: Error codes always present in ``stats()["token_errors"]``, so tests can read them without .get().
_TOKEN_ERRORS = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "authorization_pending",
    "slow_down",
    "access_denied",
    "expired_token",
)
_COUNTERS = (
    "refresh_reuse_detected",
    "api_calls",
    "api_401",
    "api_403",
    "revocations",
    "access_tokens_issued",
    "refresh_tokens_issued",
    "authorization_codes_issued",
    "device_authorizations",
    "faults_served",
)


class RefreshClaim(enum.Enum):
    """What happened when a refresh token was presented for rotation."""

    OK = "ok"
    REUSED = "reused"
    INVALID = "invalid"


class DevicePoll(enum.Enum):
    """The answer to one device-code poll (RFC 8628 §3.5)."""

    GRANTED = "granted"
    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    DENIED = "access_denied"
    EXPIRED = "expired_token"
    USED = "used"


def default_clients(config: SandboxConfig) -> list[Client]:
    """
    The built-in clients: confidential ``sandbox-client`` and public ``sandbox-public``.

    :param config: the server settings (redirect URIs, loopback redirect rule).
    """
    redirect_uris = tuple(config.redirect_uris)
    return [
        Client(
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            token_endpoint_auth_methods=("client_secret_basic", "client_secret_post", "client_secret_jwt"),
            grant_types=(
                "client_credentials",
                "authorization_code",
                "refresh_token",
                DEVICE_GRANT_TYPE,
                JWT_BEARER_GRANT_TYPE,
            ),
            redirect_uris=redirect_uris,
            allow_any_loopback_redirect=config.allow_any_loopback_redirect,
        ),
        Client(
            client_id="sandbox-public",
            client_secret=None,
            token_endpoint_auth_methods=("none",),
            grant_types=("authorization_code", "refresh_token", DEVICE_GRANT_TYPE),
            redirect_uris=redirect_uris,
            allow_any_loopback_redirect=config.allow_any_loopback_redirect,
        ),
    ]


def normalize_user_code(user_code: str) -> str:
    """RFC 8628 §6.1: compare user codes case-insensitively, ignoring dashes and spaces."""
    return re.sub(r"[^A-Z0-9]", "", user_code.upper())


class SandboxState:
    """
    Clients, codes, tokens, device codes, jobs, faults and counters of one sandbox app.

    :param config: the initial settings; replaced later by :meth:`update_config`.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._clients: dict[str, Client] = {c.client_id: c for c in default_clients(config)}
        self._codes: dict[str, AuthorizationCode] = {}
        self._by_access: dict[str, Token] = {}
        self._by_refresh: dict[str, Token] = {}
        self._families: dict[str, list[Token]] = {}
        self._devices: dict[str, DeviceCredential] = {}
        self._user_codes: dict[str, str] = {}
        self._jtis: dict[str, float] = {}
        self._jobs: dict[str, Job] = {}
        self._faults: list[Fault] = []
        self._counters: Counter[str] = Counter()
        self._token_requests: Counter[str] = Counter()
        self._token_errors: Counter[str] = Counter()

    # -- settings and clients ------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def update_config(self, changes: dict[str, Any]) -> SandboxConfig:
        """
        Apply runtime setting changes; see :data:`~airflow_oauth_provider.sandbox.config.RUNTIME_SETTINGS`.

        :param changes: setting name → new value.
        """
        with self._lock:
            self._config = self._config.with_changes(changes)
            return self._config

    def add_client(self, client: Client) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def get_client(self, client_id: str) -> Client | None:
        with self._lock:
            return self._clients.get(client_id)

    # -- authorization codes -------------------------------------------------------------------

    def save_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code
            self._counters["authorization_codes_issued"] += 1

    def claim_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """
        Take an authorization code for one exchange; ``None`` if unknown, expired or used.

        A code presented a second time revokes the tokens issued for it (RFC 6749 §4.1.2).

        :param code: the code from the token request.
        :param client_id: the authenticated client, which must be the one the code was issued to.
        """
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.client_id != client_id:
                return None
            if record.used:
                if record.family_id:
                    self._revoke_family_locked(record.family_id)
                return None
            record.used = True
            return None if record.is_expired() else record

    # -- tokens --------------------------------------------------------------------------------

    def save_token(self, token: Token, code: AuthorizationCode | None = None) -> None:
        """
        Store a freshly issued token.

        :param token: the new token.
        :param code: the authorization code it was issued for, which learns the token's family.
        """
        with self._lock:
            self._by_access[token.access_token] = token
            if token.refresh_token:
                self._by_refresh[token.refresh_token] = token
                self._counters["refresh_tokens_issued"] += 1
            self._families.setdefault(token.family_id, []).append(token)
            self._counters["access_tokens_issued"] += 1
            if code is not None:
                code.family_id = token.family_id

    def get_access_token(self, access_token: str) -> Token | None:
        with self._lock:
            return self._by_access.get(access_token)

    def get_refresh_token(self, refresh_token: str) -> Token | None:
        """
        The live token record holding ``refresh_token``, or ``None``.

        A retired (rotated-away) refresh token counts as reuse: with reuse detection on, its whole
        family is revoked here (RFC 9700 §4.14.2).
        """
        with self._lock:
            token = self._by_refresh.get(refresh_token)
            if token is None:
                return None
            if token.refresh_used:
                self._reuse_detected_locked(token)
                return None
            if token.refresh_revoked or token.is_refresh_expired():
                return None
            return token

    def claim_refresh(self, token: Token) -> RefreshClaim:
        """
        Retire ``token``'s refresh token for rotation, atomically.

        Two requests racing with the same refresh token: the first wins, the second is reuse.
        """
        with self._lock:
            if token.refresh_used:
                self._reuse_detected_locked(token)
                return RefreshClaim.REUSED
            if token.refresh_revoked or token.is_refresh_expired():
                return RefreshClaim.INVALID
            token.refresh_used = True
            return RefreshClaim.OK

    def find_token(self, value: str, hint: str | None) -> Token | None:
        """
        The token record holding ``value`` as access or refresh token (RFC 7009 §2.1).

        :param value: the token string.
        :param hint: ``access_token`` or ``refresh_token``: which table to search first.
        """
        with self._lock:
            tables = [self._by_access, self._by_refresh]
            if hint == "refresh_token":
                tables.reverse()
            for table in tables:
                if value in table:
                    return table[value]
            return None

    def revoke(self, token: Token, value: str) -> None:
        """
        Revoke what ``value`` names: a refresh token takes its whole family down, an access
        token only itself.
        """
        with self._lock:
            if value == token.refresh_token:
                self._revoke_family_locked(token.family_id)
            else:
                token.access_revoked = True

    def _reuse_detected_locked(self, token: Token) -> None:
        if self._config.reuse_detection:
            self._counters["refresh_reuse_detected"] += 1
            self._revoke_family_locked(token.family_id)

    def _revoke_family_locked(self, family_id: str) -> None:
        for member in self._families.get(family_id, ()):
            member.access_revoked = True
            member.refresh_revoked = True

    # -- device authorization ------------------------------------------------------------------

    def save_device(self, credential: DeviceCredential) -> None:
        with self._lock:
            self._devices[credential.device_code] = credential
            self._user_codes[normalize_user_code(credential.user_code)] = credential.device_code
            self._counters["device_authorizations"] += 1

    def get_device(self, device_code: str) -> DeviceCredential | None:
        with self._lock:
            return self._devices.get(device_code)

    def find_device(self, user_code: str) -> DeviceCredential | None:
        with self._lock:
            device_code = self._user_codes.get(normalize_user_code(user_code))
            return self._devices.get(device_code) if device_code else None

    def decide_device(self, user_code: str, user: User | None, approved: bool) -> str | None:
        """
        Record the user's decision on a device code; returns an error message or ``None``.

        :param user_code: the code the user typed.
        :param user: the logged-in user (required to approve).
        :param approved: approve or deny.
        """
        with self._lock:
            device_code = self._user_codes.get(normalize_user_code(user_code))
            credential = self._devices.get(device_code) if device_code else None
            if credential is None:
                return "Unknown code."
            if credential.is_expired():
                return "This code has expired."
            if credential.approved is not None:
                return "This code has already been used."
            credential.approved = approved
            credential.username = user.username if user else None
            return None

    def poll_device(self, credential: DeviceCredential) -> DevicePoll:
        """
        Answer one token-endpoint poll for ``credential`` (RFC 8628 §3.5), atomically.

        An approved code is granted once; a poll sooner than the interval answers ``slow_down``
        and lengthens the interval by ``device_slow_down_increment`` seconds.
        """
        with self._lock:
            now = time.time()
            previous, credential.last_poll = credential.last_poll, now
            if credential.is_expired():
                return DevicePoll.EXPIRED
            if credential.approved is False:
                return DevicePoll.DENIED
            if credential.approved:
                if credential.consumed:
                    return DevicePoll.USED
                credential.consumed = True
                return DevicePoll.GRANTED
            # 50 ms of slack: the two timestamps are taken on the server, not where the client slept.
            if previous is not None and now - previous < credential.interval - 0.05:
                credential.interval += self._config.device_slow_down_increment
                return DevicePoll.SLOW_DOWN
            return DevicePoll.PENDING

    # -- client assertions ---------------------------------------------------------------------

    def use_jti(self, key: str, expires_at: float) -> bool:
        """
        Remember a JWT ID until ``expires_at``; ``False`` if it was already seen (replay).

        :param key: the issuer and JWT ID.
        :param expires_at: when the assertion expires, after which the ID can be forgotten.
        """
        with self._lock:
            now = time.time()
            if len(self._jtis) > 10_000:
                self._jtis = {k: exp for k, exp in self._jtis.items() if exp > now}
            if key in self._jtis and self._jtis[key] > now:
                return False
            self._jtis[key] = max(expires_at, now + 60)
            return True

    # -- API resources ---------------------------------------------------------------------------

    def create_job(self, client_id: str, polls_until_done: int) -> Job:
        with self._lock:
            job = Job(id=secrets.token_hex(8), client_id=client_id, polls_until_done=polls_until_done)
            self._jobs[job.id] = job
            return job

    def poll_job(self, job_id: str) -> tuple[Job, str, int] | None:
        """Count one poll of a job; returns the job, its status and poll count after this poll."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.polls += 1
            return job, job.status, job.polls

    # -- faults ----------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; one for the same path replaces it."""
        with self._lock:
            self._faults = [f for f in self._faults if f.path != fault.path]
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def take_fault(self, path: str) -> Fault | None:
        """Consume one occurrence of the fault matching ``path``, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(path):
                    fault.count -= 1
                    if fault.status is not None:
                        self._counters["faults_served"] += 1
                    return fault
            return None

    # -- counters --------------------------------------------------------------------------------

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def count_token_request(self, grant_type: str) -> None:
        with self._lock:
            self._token_requests[grant_type] += 1

    def count_token_error(self, error: str) -> None:
        with self._lock:
            self._token_errors[error] += 1

    def stats(self) -> dict[str, Any]:
        """A snapshot of every counter (the ``GET /stats`` document)."""
        with self._lock:
            errors = dict.fromkeys(_TOKEN_ERRORS, 0)
            errors.update(self._token_errors)
            snapshot: dict[str, Any] = {
                "token_requests": dict(self._token_requests),
                "token_requests_total": sum(self._token_requests.values()),
                "token_errors": errors,
                "invalid_grant": errors["invalid_grant"],
            }
            snapshot.update({name: self._counters[name] for name in _COUNTERS})
            snapshot["live_access_tokens"] = sum(
                1 for t in self._by_access.values() if not t.access_revoked and not t.is_expired()
            )
            return snapshot

    def reset_stats(self) -> None:
        with self._lock:
            self._counters.clear()
            self._token_requests.clear()
            self._token_errors.clear()
