"""Authorization code grant with PKCE S256 (RFC 6749 §4.1, RFC 7636), redirect checks per RFC 9700."""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import WebApplicationClient

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2Error, OAuth2TokenError
from airflow_oauth_provider.grants.base import UserGrant
from airflow_oauth_provider.settings import check_transport

if TYPE_CHECKING:
    from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["AuthorizationCodeGrant", "AuthorizationRequest", "OAuth2AuthorizationError"]

#: PKCE verifier length (RFC 7636 §4.1 allows 43-128).
VERIFIER_LENGTH = 96


class OAuth2AuthorizationError(OAuth2Error):
    """The authorization redirect was refused, tampered with, or sent somewhere else."""


@dataclasses.dataclass(frozen=True)
class AuthorizationRequest:
    """
    One authorization attempt: the URL to open and what must come back.

    :param url: the authorization URL for the user's browser.
    :param state: the unguessable, single-use ``state`` (RFC 6749 §10.12).
    :param code_verifier: the PKCE verifier; never leaves this process.
    :param redirect_uri: where the server must send the user back.
    :param created_at: epoch seconds, for expiry of pending requests.
    """

    url: str
    state: str = dataclasses.field(repr=False)
    code_verifier: str = dataclasses.field(repr=False)
    redirect_uri: str
    scope: tuple[str, ...] = ()
    created_at: float = dataclasses.field(default_factory=time.time)


class AuthorizationCodeGrant(UserGrant):
    """
    A human consents once in a browser; the client exchanges the code (with PKCE) for tokens::

        +----------+          +---------------+
        |          |--(A)---->|               |  authorization request + code_challenge (S256)
        |  User-   |<-(C)-----| Authorization |  redirect with code + state
        |  Agent   |          |     Server    |
        +----------+          |               |
        |  Client  |--(D)---->|               |  code + code_verifier + redirect_uri
        |          |<-(E)-----|               |  access token (+ refresh token)
        +----------+          +---------------+
    """

    NAME = "authorization_code"
    GRANT_TYPE = "authorization_code"

    def authorization_request(self, extra_scope: tuple[str, ...] = ()) -> AuthorizationRequest:
        """
        A fresh authorization request: new ``state`` and PKCE verifier from a CSPRNG.

        :param extra_scope: scopes to request on top of the connection's.
        """
        settings = self.settings
        if not settings.authorization_url:
            raise OAuth2ConfigError("extra.authorization_url", "is required (or set extra.issuer for discovery)")
        assert settings.redirect_uri is not None
        check_transport(settings.authorization_url, "extra.authorization_url", settings.allow_insecure_http)
        client = WebApplicationClient(settings.client_id)
        verifier = client.create_code_verifier(VERIFIER_LENGTH)
        challenge = client.create_code_challenge(verifier, "S256")
        state = secrets.token_urlsafe(32)
        scope = tuple(dict.fromkeys((*settings.scope, *extra_scope)))
        params = [
            ("response_type", "code"),
            ("client_id", settings.client_id or ""),
            ("redirect_uri", settings.redirect_uri),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
        if scope:
            params.append(("scope", settings.scope_delimiter.join(scope)))
        params += list(settings.authorization_params.items())
        url = add_params_to_uri(settings.authorization_url, params)
        return AuthorizationRequest(url, state, verifier, settings.redirect_uri, scope)

    def code_from_redirect(self, redirected_url: str, request: AuthorizationRequest) -> str:
        """
        Validate the redirect the user landed on and return the authorization code.

        Checks, in order: the redirect went to the registered URI; ``state`` matches; no
        ``error``; an ``iss`` parameter, if sent, names the expected issuer (RFC 9207).

        :raises OAuth2AuthorizationError: with a one-line message saying what to do.
        """
        got, want = urlsplit(redirected_url.strip()), urlsplit(request.redirect_uri)
        if (got.scheme, got.hostname, got.port, got.path.rstrip("/")) != (
            want.scheme,
            want.hostname,
            want.port,
            want.path.rstrip("/"),
        ):
            raise OAuth2AuthorizationError(
                f"the redirect went to {got.scheme}://{got.netloc}{got.path}, not the connection's redirect_uri "
                f"{request.redirect_uri}; run `airflow oauth2 authorize {self.settings.conn_id}` again"
            )
        params = dict(parse_qsl(got.query, keep_blank_values=True))
        if not secrets.compare_digest(params.get("state", ""), request.state):
            raise OAuth2AuthorizationError(
                "the redirect's state does not match this authorization request (tampered, replayed or from "
                f"another attempt); nothing was stored. Run `airflow oauth2 authorize {self.settings.conn_id}` again"
            )
        if "error" in params:
            description = params.get("error_description")
            raise OAuth2TokenError(
                params["error"],
                description,
                message=f"the authorization server refused: {params['error']}"
                + (f" ({description})" if description else "")
                + "; nothing was stored",
            )
        issuer = self.settings.issuer
        if "iss" in params and issuer and params["iss"].rstrip("/") != issuer.rstrip("/"):
            raise OAuth2AuthorizationError(
                f"the redirect came from issuer {params['iss']!r}, not {issuer!r} (RFC 9207 mix-up defence)"
            )
        code = params.get("code")
        if not code:
            raise OAuth2AuthorizationError("the redirect carries no authorization code")
        return code

    def exchange_request(self, code: str, request: AuthorizationRequest) -> TokenRequest:
        """The code exchange (RFC 6749 §4.1.3) with the PKCE verifier (RFC 7636 §4.5)."""
        token_request = self._request(
            self.GRANT_TYPE,
            [("code", code), ("redirect_uri", request.redirect_uri), ("code_verifier", request.code_verifier)],
            with_scope=False,
        )
        token_request.requested_scope = request.scope or token_request.requested_scope
        return token_request
