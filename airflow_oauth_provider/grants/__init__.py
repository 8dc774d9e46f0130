"""Grants, one module each, chosen explicitly from ``extra.grant_type`` through :data:`GRANTS`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_oauth_provider.exceptions import OAuth2ConfigError
from airflow_oauth_provider.grants.authorization_code import AuthorizationCodeGrant, AuthorizationRequest
from airflow_oauth_provider.grants.base import Grant, UserGrant
from airflow_oauth_provider.grants.client_credentials import ClientCredentialsGrant
from airflow_oauth_provider.grants.device_code import DeviceCodeGrant
from airflow_oauth_provider.grants.jwt_bearer import JWTBearerGrant
from airflow_oauth_provider.grants.refresh_token import RefreshTokenGrant

if TYPE_CHECKING:
    from airflow_oauth_provider.client_auth import ClientAuth
    from airflow_oauth_provider.settings import OAuth2Settings

__all__ = [
    "GRANTS",
    "AuthorizationCodeGrant",
    "AuthorizationRequest",
    "ClientCredentialsGrant",
    "DeviceCodeGrant",
    "Grant",
    "JWTBearerGrant",
    "RefreshTokenGrant",
    "UserGrant",
    "grant_for",
]


GRANTS: dict[str, type[Grant]] = {
    g.NAME: g
    for g in (ClientCredentialsGrant, RefreshTokenGrant, AuthorizationCodeGrant, DeviceCodeGrant, JWTBearerGrant)
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
