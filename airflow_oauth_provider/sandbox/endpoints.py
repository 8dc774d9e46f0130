"""Authlib endpoints bound to the store: device authorization (RFC 8628) and revocation (RFC 7009)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint

from airflow_oauth_provider.sandbox.context import base_url
from airflow_oauth_provider.sandbox.grants import ALL_AUTH_METHODS
from airflow_oauth_provider.sandbox.models import DeviceCredential

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request

    from airflow_oauth_provider.sandbox.models import Token
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["SandboxDeviceAuthorizationEndpoint", "SandboxRevocationEndpoint"]


class SandboxDeviceAuthorizationEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    """
    ``POST /device_authorization`` (RFC 8628 §3.1-3.2).

    ``expires_in`` and ``interval`` follow the server settings at the time of each request.
    """

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.server.state
        return state

    @property  # type: ignore[override]
    def EXPIRES_IN(self) -> int:  # Authlib's attribute name
        return self.state.config.device_expires_in

    @property  # type: ignore[override]
    def INTERVAL(self) -> int:  # Authlib's attribute name
        return self.state.config.device_interval

    def get_verification_uri(self) -> str:
        return base_url() + "/device"

    def save_device_credential(self, client_id: str, scope: str | None, data: dict[str, Any]) -> None:
        self.state.save_device(
            DeviceCredential(
                device_code=data["device_code"],
                user_code=data["user_code"],
                client_id=client_id,
                scope=scope,
                expires_at=time.time() + data["expires_in"],
                interval=data["interval"],
            )
        )


class SandboxRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    """
    ``POST /revoke`` (RFC 7009).

    Revoking a refresh token revokes its whole family (every access and refresh token from the
    same original grant); revoking an access token revokes only it. An unknown token answers 200.
    """

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        state: SandboxState = self.server.state
        return state.find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        state: SandboxState = self.server.state
        state.revoke(token, request.form["token"])
