"""Grants, one module each, chosen explicitly from ``extra.grant_type`` through :data:`GRANTS`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2ReauthorizationRequired
from airflow_oauth_provider.grants.base import Grant
from airflow_oauth_provider.grants.client_credentials import ClientCredentialsGrant
from airflow_oauth_provider.grants.refresh_token import RefreshTokenGrant

if TYPE_CHECKING:
    from airflow_oauth_provider.client_auth import ClientAuth
    from airflow_oauth_provider.protocol import TokenRequest
    from airflow_oauth_provider.settings import OAuth2Settings

__all__ = ["GRANTS", "ClientCredentialsGrant", "Grant", "RefreshTokenGrant", "UserGrant", "grant_for"]


class UserGrant(Grant):
    """
    A grant that needs a human once (authorization code, device code).

    Without a stored token there is nothing to do unattended: the error names the command.
    """

    UNATTENDED = False

    def initial_request(self) -> TokenRequest:
        conn_id = self.settings.conn_id
        raise OAuth2ReauthorizationRequired(
            "not_authorized",
            message=(
                f"connection {conn_id!r} ({self.NAME}) has no stored token: authorize it once with "
                f"`airflow oauth2 authorize {conn_id}` (or the Connect button in the UI)"
            ),
        )


class AuthorizationCodeGrant(UserGrant):
    """Authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636); the code exchange is in the CLI/UI."""

    NAME = "authorization_code"
    GRANT_TYPE = "authorization_code"


class DeviceCodeGrant(UserGrant):
    """Device authorization grant (RFC 8628); the device flow runs in the CLI."""

    NAME = "device_code"
    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


GRANTS: dict[str, type[Grant]] = {
    g.NAME: g for g in (ClientCredentialsGrant, RefreshTokenGrant, AuthorizationCodeGrant, DeviceCodeGrant)
}


def grant_for(settings: OAuth2Settings, client_auth: ClientAuth) -> Grant:
    """The grant a connection's ``extra.grant_type`` names."""
    try:
        cls = GRANTS[settings.grant_type]
    except KeyError:
        raise OAuth2ConfigError(
            "extra.grant_type", f"{settings.grant_type!r} is not implemented (known: {', '.join(GRANTS)})"
        ) from None
    return cls(settings, client_auth)
