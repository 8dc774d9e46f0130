"""
In-memory records behind Authlib's model mixins: clients, users, codes, tokens, device codes.

The records hold data only; :mod:`~airflow_oauth_provider.sandbox.store` owns them and their lock.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc8628 import DeviceCredentialMixin

from airflow_oauth_provider.sandbox.config import is_loopback_host

__all__ = [
    "DEFAULT_SCOPE",
    "SCOPES",
    "USERS",
    "AuthorizationCode",
    "Client",
    "DeviceCredential",
    "Fault",
    "Job",
    "RefreshCredential",
    "Token",
    "User",
]

SCOPES = ("items:read", "items:write", "jobs", "profile", "offline_access")
DEFAULT_SCOPE = "items:read"


@dataclasses.dataclass(frozen=True)
class User:
    """A resource owner who can log in at ``/authorize`` and ``/device``."""

    username: str
    password: str

    def get_user_id(self) -> str:
        return self.username

    def check_password(self, password: str) -> bool:
        return secrets.compare_digest(self.password.encode(), password.encode())


USERS = {user.username: user for user in (User("alice", "wonderland"), User("bob", "builder"))}


@dataclasses.dataclass
class Client(ClientMixin):  # type: ignore[misc]
    """
    A registered client (RFC 7591 field names).

    :param client_id: the client identifier.
    :param client_secret: the shared secret; ``None`` for a public client or a ``private_key_jwt`` one.
    :param token_endpoint_auth_methods: the methods this client may authenticate with, at every endpoint.
    :param grant_types: the grant types it may use.
    :param redirect_uris: registered redirect URIs, compared exactly (RFC 9700 §4.1.3), a
        loopback one with any port (RFC 8252 §7.3).
    :param scope: space-separated scopes it may be granted.
    :param jwks: public JWK Set for ``private_key_jwt`` and the JWT bearer grant.
    :param access_token_lifetime: overrides the server's access token lifetime.
    :param allow_any_loopback_redirect: accept any ``http`` loopback redirect URI.
    """

    client_id: str
    client_secret: str | None
    token_endpoint_auth_methods: tuple[str, ...]
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    scope: str = " ".join(SCOPES)
    jwks: dict[str, Any] | None = None
    access_token_lifetime: int | None = None
    allow_any_loopback_redirect: bool = True

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_methods == ("none",)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The granted scope: the default when none is asked, else the asked ones this client may have."""
        allowed = scope_to_list(self.scope) or []
        if not scope:
            return DEFAULT_SCOPE if DEFAULT_SCOPE in allowed else " ".join(allowed[:1])
        granted = [s for s in dict.fromkeys(scope_to_list(scope) or []) if s in allowed]
        return " ".join(granted) if granted else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        try:
            asked = urlsplit(redirect_uri)
            asked_port = asked.port
        except ValueError:
            return False
        if asked.scheme != "http" or not asked.hostname or not is_loopback_host(asked.hostname):
            return False
        if asked.fragment or asked.username or asked.password:
            return False
        if self.allow_any_loopback_redirect and asked_port is not None:
            return True
        # RFC 8252 §7.3: for a loopback redirect URI, the port is the only part allowed to vary.
        for registered in map(urlsplit, self.redirect_uris):
            if (registered.scheme, registered.hostname, registered.path, registered.query) == (
                asked.scheme,
                asked.hostname,
                asked.path,
                asked.query,
            ):
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return secrets.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.token_endpoint_auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def describe(self) -> dict[str, Any]:
        """The registration, secret left out."""
        return {
            "client_id": self.client_id,
            "token_endpoint_auth_methods": list(self.token_endpoint_auth_methods),
            "grant_types": list(self.grant_types),
            "redirect_uris": list(self.redirect_uris),
            "scope": self.scope,
            "access_token_lifetime": self.access_token_lifetime,
        }


@dataclasses.dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """A single-use authorization code; ``family_id`` names the tokens issued for it."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    username: str
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False
    family_id: str | None = None

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclasses.dataclass(eq=False)
class Token(TokenMixin):  # type: ignore[misc]
    """
    One token response: an access token and, maybe, its refresh token.

    ``family_id`` is shared by every token descending from one original grant (an authorization
    code or a device code), so reuse of a retired refresh token can revoke them all.
    ``refresh_scope`` stays the originally granted scope even after a narrower refresh
    (RFC 6749 §6: a new refresh token keeps the scope of the one presented).
    """

    access_token: str
    client_id: str
    username: str | None
    scope: str
    grant_type: str
    issued_at: float
    expires_in: int
    family_id: str
    refresh_token: str | None = None
    refresh_scope: str | None = None
    refresh_expires_at: float | None = None
    access_revoked: bool = False
    refresh_revoked: bool = False
    refresh_used: bool = False

    def check_client(self, client: ClientMixin) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> User | None:
        return USERS.get(self.username) if self.username else None

    def is_refresh_expired(self) -> bool:
        return self.refresh_expires_at is not None and time.time() >= self.refresh_expires_at


@dataclasses.dataclass(eq=False)
class RefreshCredential(TokenMixin):  # type: ignore[misc]
    """The refresh-token side of a :class:`Token`, as Authlib's refresh grant sees it."""

    token: Token

    def check_client(self, client: ClientMixin) -> bool:
        return self.token.check_client(client)

    def get_scope(self) -> str:
        return self.token.refresh_scope or self.token.scope

    def get_expires_in(self) -> int:
        return self.token.expires_in

    def is_expired(self) -> bool:
        return self.token.is_refresh_expired()

    def is_revoked(self) -> bool:
        return self.token.refresh_revoked

    def get_user(self) -> User | None:
        return self.token.get_user()


@dataclasses.dataclass
class DeviceCredential(DeviceCredentialMixin):  # type: ignore[misc]
    """A pending device authorization (RFC 8628 §3.2) and the user's decision on it."""

    device_code: str
    user_code: str
    client_id: str
    scope: str | None
    expires_at: float
    interval: int
    last_poll: float | None = None
    approved: bool | None = None
    username: str | None = None
    consumed: bool = False

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str | None:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclasses.dataclass
class Job:
    """A fake long-running job: ``running`` until polled ``polls_until_done`` times."""

    id: str
    client_id: str
    polls_until_done: int
    polls: int = 0

    @property
    def status(self) -> str:
        return "done" if self.polls >= self.polls_until_done else "running"


@dataclasses.dataclass
class Fault:
    """The next ``count`` requests to ``path`` answer ``status`` (after ``delay`` seconds)."""

    path: str
    count: int
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0

    def matches(self, path: str) -> bool:
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path
