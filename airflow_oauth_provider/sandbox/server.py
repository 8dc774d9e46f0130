"""
The Authlib authorization server and resource protector of one sandbox app, and its metadata.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.errors import raise_http_exception
from authlib.oauth2.rfc6749 import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InsufficientScopeError, InvalidTokenError
from flask import g, json

from airflow_oauth_provider.sandbox.client_auth import SIGNING_ALGORITHMS, ClientSecretJWTAuth, PrivateKeyJWTAuth
from airflow_oauth_provider.sandbox.context import base_url, issuer
from airflow_oauth_provider.sandbox.endpoints import SandboxDeviceAuthorizationEndpoint, SandboxRevocationEndpoint
from airflow_oauth_provider.sandbox.grants import (
    ALL_AUTH_METHODS,
    SandboxAuthorizationCodeGrant,
    SandboxClientCredentialsGrant,
    SandboxDeviceCodeGrant,
    SandboxJWTBearerGrant,
    SandboxRefreshTokenGrant,
    StrictS256CodeChallenge,
)
from airflow_oauth_provider.sandbox.models import SCOPES, Token
from airflow_oauth_provider.sandbox.store import DEVICE_GRANT_TYPE, JWT_BEARER_GRANT_TYPE

if TYPE_CHECKING:
    from authlib.oauth2 import OAuth2Error
    from authlib.oauth2.rfc6749 import OAuth2Request
    from flask import Flask

    from airflow_oauth_provider.sandbox.models import Client
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["SandboxAuthorizationServer", "SandboxResourceProtector", "build_oauth", "server_metadata"]

GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token", DEVICE_GRANT_TYPE, JWT_BEARER_GRANT_TYPE]


class SandboxAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """
    Authlib's Flask authorization server over a :class:`SandboxState`.

    :param app: the Flask app.
    :param state: the store the grants and endpoints read and write.
    """

    def __init__(self, app: Flask, state: SandboxState) -> None:
        self.state = state
        super().__init__(app, query_client=state.get_client, save_token=self._store_token)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(32),
                refresh_token_generator=lambda **_: secrets.token_urlsafe(48),
                expires_generator=self._expires_in,
            ),
        )

    def _expires_in(self, client: Client, grant_type: str) -> int:
        return client.access_token_lifetime or self.state.config.access_token_lifetime

    def _store_token(self, data: dict[str, Any], request: OAuth2Request) -> None:
        """Record a token response with its family: inherited on refresh, new for a fresh grant."""
        config = self.state.config
        now = time.time()
        parent = request.refresh_token
        scope = data.get("scope", "")
        self.state.save_token(
            Token(
                access_token=data["access_token"],
                client_id=request.client.get_client_id(),
                username=request.user.username if request.user else None,
                scope=scope,
                grant_type=request.payload.grant_type,
                issued_at=now,
                expires_in=int(data["expires_in"]),
                family_id=parent.token.family_id if parent is not None else secrets.token_hex(8),
                refresh_token=data.get("refresh_token"),
                refresh_scope=parent.get_scope() if parent is not None else scope,
                refresh_expires_at=now + config.refresh_token_lifetime if "refresh_token" in data else None,
            ),
            code=request.authorization_code,
        )


class SandboxBearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    """Opaque bearer tokens (RFC 6750) looked up in the store, with a precise error description."""

    def __init__(self, state: SandboxState) -> None:
        super().__init__()
        self.state = state

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.state.get_access_token(token_string)

    def validate_token(self, token: Token | None, scopes: list[str] | None, request: Any) -> None:
        if token is None:
            raise InvalidTokenError(description="The access token is unknown.")
        if token.is_revoked():
            raise InvalidTokenError(description="The access token has been revoked.")
        if token.is_expired():
            raise InvalidTokenError(description="The access token has expired.")
        if self.scope_insufficient(token.get_scope(), scopes):
            raise InsufficientScopeError()


class SandboxResourceProtector(ResourceProtector):  # type: ignore[misc]
    """
    Authlib's resource protector, with RFC 6750 §3 challenges on every 401 and 403.

    Authlib answers a missing token with ``error="missing_authorization"`` (not an RFC 6750
    code) and ``insufficient_scope`` without any ``WWW-Authenticate``; here a request without
    a usable Bearer token gets a bare ``Bearer`` challenge, and a 403 names the scope needed.
    """

    def acquire_token(self, scopes: list[str] | None = None, **kwargs: Any) -> Token:
        g.sandbox_required_scopes = [scopes] if isinstance(scopes, str) else scopes
        token: Token = super().acquire_token(scopes, **kwargs)
        return token

    def raise_error_response(self, error: OAuth2Error) -> None:
        if isinstance(error, (MissingAuthorizationError, UnsupportedTokenTypeError)):
            body = json.dumps({"error": "invalid_request", "error_description": error.description})
            self._raise(401, body, [("WWW-Authenticate", "Bearer")])
        if isinstance(error, InsufficientScopeError):
            required = " ".join(g.get("sandbox_required_scopes") or [])
            challenge = f'Bearer error="insufficient_scope", error_description="{error.description}"'
            if required:
                challenge += f', scope="{required}"'
            body = json.dumps(dict(error.get_body()))
            self._raise(403, body, [("Content-Type", "application/json"), ("WWW-Authenticate", challenge)])
        super().raise_error_response(error)

    @staticmethod
    def _raise(status: int, body: str, headers: list[tuple[str, str]]) -> None:
        if not any(name == "Content-Type" for name, _ in headers):
            headers = [("Content-Type", "application/json"), *headers]
        raise_http_exception(status, body, headers)


def build_oauth(app: Flask, state: SandboxState) -> tuple[SandboxAuthorizationServer, SandboxResourceProtector]:
    """
    Wire Authlib's server and resource protector for ``app``.

    :param app: the Flask app.
    :param state: its store.
    """
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(SCOPES)
    server = SandboxAuthorizationServer(app, state)
    server.register_grant(SandboxAuthorizationCodeGrant, [StrictS256CodeChallenge(required=True)])
    server.register_grant(SandboxClientCredentialsGrant)
    server.register_grant(SandboxRefreshTokenGrant)
    server.register_grant(SandboxDeviceCodeGrant)
    server.register_grant(SandboxJWTBearerGrant)
    server.register_endpoint(SandboxDeviceAuthorizationEndpoint)
    server.register_endpoint(SandboxRevocationEndpoint)
    server.register_client_auth_method(ClientSecretJWTAuth.CLIENT_AUTH_METHOD, ClientSecretJWTAuth(state))
    server.register_client_auth_method(PrivateKeyJWTAuth.CLIENT_AUTH_METHOD, PrivateKeyJWTAuth(state))

    protector = SandboxResourceProtector()
    protector.register_token_validator(SandboxBearerTokenValidator(state))
    return server, protector


def server_metadata() -> dict[str, Any]:
    """The RFC 8414 metadata document, for the URL the client used."""
    url = base_url()
    return {
        "issuer": issuer(),
        "authorization_endpoint": url + "/authorize",
        "token_endpoint": url + "/token",
        "device_authorization_endpoint": url + "/device_authorization",
        "revocation_endpoint": url + "/revoke",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(ALL_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": list(ALL_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
    }
