"""Refresh token grant with a refresh token pasted into the connection once (RFC 6749 §6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_oauth_provider.exceptions import OAuth2ConfigError
from airflow_oauth_provider.grants.base import Grant
from airflow_oauth_provider.tokens.token import Token

if TYPE_CHECKING:
    from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["RefreshTokenGrant"]


class RefreshTokenGrant(Grant):
    """
    Starts from ``extra.refresh_token``; once the store holds a token, the stored one wins::

        +--------+                                           +---------------+
        |        |--(G)----------- Refresh Token ----------->|               |
        | Client |                                           | Authorization |
        |        |<-(H)----------- Access Token -------------|     Server    |
        |        |               & Optional Refresh Token    |               |
        +--------+                                           +---------------+

    The seed is used only while nothing is stored: after the first rotation it is spent, and
    using it again would be a replay.
    """

    NAME = "refresh_token"
    GRANT_TYPE = "refresh_token"

    def initial_request(self) -> TokenRequest:
        if not self.settings.refresh_token:
            raise OAuth2ConfigError("extra.refresh_token", "is required for the refresh_token grant")
        seed = Token(access_token="-", refresh_token=self.settings.refresh_token)
        return self.refresh_request(seed)
