"""Device authorization grant (RFC 8628)."""

from __future__ import annotations

from airflow_oauth_provider.exceptions import OAuth2ConfigError
from airflow_oauth_provider.grants.base import UserGrant
from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["DeviceCodeGrant"]


class DeviceCodeGrant(UserGrant):
    """
    For servers without a browser: the user approves a code on another device::

        +----------+                                +----------------+
        |          |>---(A)-- Client Identifier --->|                |
        |          |<---(B)-- Device Code,      ---<|                |
        |  Device  |          User Code,            |  Authorization |
        |  Client  |          & Verification URI    |     Server     |
        |          |  [polling]                     |                |
        |          |>---(E)-- Device Code       --->|                |
        |          |<---(F)-- Access Token      ---<|                |
        +----------+   (& Optional Refresh Token)   +----------------+
    """

    NAME = "device_code"
    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"

    def device_authorization_request(self) -> TokenRequest:
        """The device authorization request (RFC 8628 §3.1), client authentication applied."""
        url = self.settings.device_authorization_url
        if not url:
            raise OAuth2ConfigError(
                "extra.device_authorization_url", "is required for device_code (or set extra.issuer)"
            )
        request = TokenRequest(url, [], {"Accept": "application/json"}, requested_scope=self.settings.scope or None)
        if self.settings.scope_string:
            request.data.append(("scope", self.settings.scope_string))
        return self.client_auth.apply(request)

    def poll_request(self, device_code: str) -> TokenRequest:
        """One poll of the token endpoint (RFC 8628 §3.4)."""
        request = self._request(self.GRANT_TYPE, [("device_code", device_code)], with_scope=False)
        return request
