"""
Authlib grant classes bound to the in-memory store, one per grant type, plus PKCE.

Each grant reaches the store through ``self.server.state`` (see
:class:`~airflow_oauth_provider.sandbox.server.SandboxAuthorizationServer`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    grants,
)
from authlib.oauth2.rfc7523 import JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    AuthorizationPendingError,
    DeviceCodeGrant,
    ExpiredTokenError,
    SlowDownError,
)
from joserfc.jwk import KeySet, OctKey

from airflow_oauth_provider.sandbox.client_auth import client_key_set
from airflow_oauth_provider.sandbox.context import issuer, token_endpoint
from airflow_oauth_provider.sandbox.models import USERS, AuthorizationCode, RefreshCredential, User
from airflow_oauth_provider.sandbox.store import DevicePoll, RefreshClaim

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request

    from airflow_oauth_provider.sandbox.models import Client, DeviceCredential
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = [
    "ALL_AUTH_METHODS",
    "CONFIDENTIAL_AUTH_METHODS",
    "SandboxAuthorizationCodeGrant",
    "SandboxClientCredentialsGrant",
    "SandboxDeviceCodeGrant",
    "SandboxJWTBearerGrant",
    "SandboxRefreshTokenGrant",
    "StrictS256CodeChallenge",
]

CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"]
#: "none" last: it only identifies a public client, and Authlib tries the methods in order.
ALL_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, "none"]


def _state(grant: Any) -> SandboxState:
    state: SandboxState = grant.server.state
    return state


class StrictS256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """
    PKCE (RFC 7636) with S256 only, mandatory for public clients at the authorization endpoint too.

    Authlib's ``required`` flag checks only that a public client sends a ``code_verifier`` at
    the token endpoint, and a challenge without ``code_challenge_method`` means ``plain``; here
    both are refused up front, as RFC 9700 §2.1.1 recommends.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") and not data.get("code_challenge_method"):
            client: Client = grant.request.client
            if self.required and client.is_public:
                raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
            return
        super().validate_code_challenge(grant, redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only 'S256' is accepted.")


class SandboxAuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Authorization code grant (RFC 6749 §4.1); codes are single use, reuse revokes their tokens."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        _state(self).save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                username=request.user.username,
                expires_at=time.time() + _state(self).config.authorization_code_lifetime,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return _state(self).claim_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: :meth:`query_authorization_code` already marked the code used."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return USERS.get(authorization_code.username)


class SandboxClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials grant (RFC 6749 §4.4): confidential clients only, no refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


class SandboxRefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """
    Refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

    With rotation on, the presented refresh token is retired atomically once the request has
    validated, and the response carries a new one. A retired token presented again answers
    ``invalid_grant`` and, with reuse detection on, revokes every token of its family.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        token = _state(self).get_refresh_token(refresh_token)
        return RefreshCredential(token) if token is not None else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if not _state(self).config.rotate_refresh_tokens:
            return
        credential: RefreshCredential = self.request.refresh_token
        outcome = _state(self).claim_refresh(credential.token)
        if outcome is RefreshClaim.REUSED:
            raise InvalidGrantError("The refresh token has already been used.")
        if outcome is RefreshClaim.INVALID:
            raise InvalidGrantError("The refresh token is no longer valid.")

    def issue_token(self, user: User, refresh_token: RefreshCredential) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        token: dict[str, Any] = self.generate_token(
            user=user,
            scope=scope,
            include_refresh_token=_state(self).config.rotate_refresh_tokens,
        )
        return token

    def authenticate_user(self, refresh_token: RefreshCredential) -> User | None:
        return refresh_token.get_user()

    def revoke_old_credential(self, refresh_token: RefreshCredential) -> None:
        """Nothing to do: :meth:`validate_token_request` retired it (rotation), or it stays valid."""


class SandboxDeviceCodeGrant(DeviceCodeGrant):  # type: ignore[misc]
    """
    Device authorization grant, token side (RFC 8628 §3.4-3.5).

    The decision for one poll is taken atomically by the store; an approved device code is
    exchanged once. An unknown device code answers ``invalid_grant`` (RFC 6749 §5.2), where
    Authlib answers ``invalid_request``.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_device_credential(self, device_code: str) -> DeviceCredential:
        credential = _state(self).get_device(device_code)
        if credential is None:
            raise InvalidGrantError("Unknown 'device_code'.")
        return credential

    def validate_device_credential(self, credential: DeviceCredential) -> User:
        outcome = _state(self).poll_device(credential)
        if outcome is DevicePoll.GRANTED:
            user = USERS.get(credential.username or "")
            if user is None:
                raise InvalidGrantError("The approving user no longer exists.")
            return user
        if outcome is DevicePoll.EXPIRED:
            raise ExpiredTokenError()
        if outcome is DevicePoll.DENIED:
            raise AccessDeniedError()
        if outcome is DevicePoll.SLOW_DOWN:
            raise SlowDownError()
        if outcome is DevicePoll.USED:
            raise InvalidGrantError("The device code has already been exchanged.")
        raise AuthorizationPendingError()

    def query_user_grant(self, user_code: str) -> tuple[User | None, bool] | None:
        credential = _state(self).find_device(user_code)
        if credential is None or credential.approved is None:
            return None
        return USERS.get(credential.username or ""), credential.approved

    def should_slow_down(self, credential: DeviceCredential) -> bool:
        last_poll = credential.last_poll
        return last_poll is not None and time.time() - last_poll < credential.interval


class SandboxJWTBearerGrant(JWTBearerGrant):  # type: ignore[misc]
    """
    JWT bearer authorization grant (RFC 7523 §2.1): the client's own assertion is the grant.

    ``iss`` is the client_id; the assertion is verified with the client's ``jwks``, else its
    secret (HS256). An optional ``sub`` names a sandbox user. ``jti`` values are single use.
    """

    def resolve_issuer_client(self, issuer: str) -> Client | None:
        client: Client | None = self.server.query_client(issuer)
        return client

    def resolve_client_public_key(self, client: Client) -> KeySet | OctKey:
        if client.jwks:
            return client_key_set(client)
        if not client.client_secret:
            raise InvalidGrantError("The client has neither 'jwks' nor a secret to verify the assertion.")
        return OctKey.import_key(client.client_secret)

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(claims)
        jti = claims.get("jti")
        if jti is not None and not _state(self).use_jti(f"{claims['iss']}\x00grant\x00{jti}", float(claims["exp"])):
            raise InvalidGrantError("The assertion has already been used.")

    def get_audiences(self) -> list[str]:
        return [token_endpoint(), issuer()]

    def authenticate_user(self, subject: str) -> User | None:
        return USERS.get(subject)

    def has_granted_permission(self, client: Client, user: User) -> bool:
        return True
