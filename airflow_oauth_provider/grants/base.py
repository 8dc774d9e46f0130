"""Grant base class and the refresh request shared by every grant that returns a refresh token."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2ReauthorizationRequired
from airflow_oauth_provider.protocol import TokenRequest

if TYPE_CHECKING:
    from airflow_oauth_provider.client_auth import ClientAuth
    from airflow_oauth_provider.settings import OAuth2Settings
    from airflow_oauth_provider.tokens.token import Token

__all__ = ["Grant", "UserGrant"]


class Grant:
    """
    One OAuth 2.0 grant: builds token requests, does no I/O and keeps no state.

    :param settings: the connection's validated settings (endpoints already discovered).
    :param client_auth: how the client authenticates at the token endpoint.
    """

    #: The connection's ``extra.grant_type`` value that selects this grant.
    NAME: ClassVar[str] = ""
    #: The ``grant_type`` parameter sent to the token endpoint.
    GRANT_TYPE: ClassVar[str] = ""
    #: Whether a token can be obtained without a human (else the CLI/UI must authorize first).
    UNATTENDED: ClassVar[bool] = True

    def __init__(self, settings: OAuth2Settings, client_auth: ClientAuth) -> None:
        self.settings = settings
        self.client_auth = client_auth

    @property
    def token_url(self) -> str:
        """The token endpoint (after discovery)."""
        if not self.settings.token_url:
            raise OAuth2ConfigError("extra.token_url", "is required (or set extra.issuer for discovery)")
        return self.settings.token_url

    def _request(self, grant_type: str, params: list[tuple[str, str]], *, with_scope: bool = True) -> TokenRequest:
        data = [("grant_type", grant_type), *params]
        requested = self.settings.scope or None
        if with_scope and self.settings.scope_string:
            data.append(("scope", self.settings.scope_string))
        if self.settings.audience:
            data.append(("audience", self.settings.audience))
        data += [("resource", r) for r in self.settings.resource]
        headers = {"Accept": "application/json"}
        request = TokenRequest(self.token_url, data, headers, requested_scope=requested)
        return self.client_auth.apply(request)

    def initial_request(self) -> TokenRequest:
        """
        The request that obtains a first token without a refresh token.

        :raises OAuth2ReauthorizationRequired: for grants that need a human first.
        """
        raise NotImplementedError

    def refresh_request(self, token: Token) -> TokenRequest:
        """
        A refresh request for ``token`` (RFC 6749 §6).

        The scope is sent only when ``extra.send_scope_on_refresh`` is set: omitted, the server
        grants the original scope, which is what RFC 6749 §6 prescribes.
        """
        if not token.refresh_token:
            raise ValueError("token has no refresh token")
        send_scope = self.settings.send_scope_on_refresh
        request = self._request("refresh_token", [("refresh_token", token.refresh_token)], with_scope=send_scope)
        if not send_scope and token.scope:
            # RFC 6749 §6: without a scope parameter the request asks for the scope originally
            # granted, which may include scopes added at authorization (``--add-scope``).
            request.requested_scope = token.scope
        return request


class UserGrant(Grant):
    """
    A grant that needs a human once (authorization code, device code).

    Without a stored token there is nothing to do unattended: the error names the command.
    """

    UNATTENDED = False

    def initial_request(self) -> TokenRequest:
        conn_id = self.settings.conn_id
        error = OAuth2ReauthorizationRequired(
            "not_authorized",
            message=(
                f"connection {conn_id!r} ({self.NAME}) has no stored token: authorize it once with "
                f"`airflow oauth2 authorize {conn_id}` (or the Connect button in the UI)"
            ),
        )
        error.conn_id = conn_id
        raise error
