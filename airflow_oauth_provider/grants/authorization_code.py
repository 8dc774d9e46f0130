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

__all__ = [
    "AuthorizationCodeGrant",
    "AuthorizationRequest",
    "OAuth2AuthorizationError",
    "code_challenge_s256",
    "new_code_verifier",
]

#: PKCE verifier length (RFC 7636 §4.1 allows 43-128).
VERIFIER_LENGTH = 96
#: Authorization request parameters the grant sets itself; ``extra.authorization_params`` may not.
RESERVED_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope"}
)


class OAuth2AuthorizationError(OAuth2Error):
    """
    The user's authorization was refused, tampered with, sent somewhere else, or never came.

    :param message: what happened and what to do.
    :param error: the RFC 6749 §4.1.2.1 / RFC 8628 §3.5 error code, when the server sent one
        (``access_denied``, ``expired_token``, ...).
    :param error_description: the server's description, if any.
    """

    def __init__(self, message: str, *, error: str | None = None, error_description: str | None = None) -> None:
        self.error = error
        self.error_description = error_description
        super().__init__(message)


def new_code_verifier() -> str:
    """A PKCE ``code_verifier`` (RFC 7636 §4.1): 96 characters from the unreserved set, from a CSPRNG."""
    verifier: str = WebApplicationClient(None).create_code_verifier(VERIFIER_LENGTH)
    return verifier


def code_challenge_s256(verifier: str) -> str:
    """The S256 ``code_challenge`` of ``verifier``: BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 §4.2)."""
    challenge: str = WebApplicationClient(None).create_code_challenge(verifier, "S256")
    return challenge


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
    incremental: bool = False


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

    def authorization_request(
        self, extra_scope: tuple[str, ...] = (), *, incremental: bool = False
    ) -> AuthorizationRequest:
        """
        A fresh authorization request: new ``state`` and PKCE verifier from a CSPRNG.

        :param extra_scope: scopes to request on top of the connection's.
        :param incremental: request only ``extra_scope`` (incremental authorization: the provider
            must support it, e.g. Google with ``include_granted_scopes=true``); the caller keeps
            the union with what was granted before.
        """
        settings = self.settings
        if not settings.authorization_url:
            raise OAuth2ConfigError("extra.authorization_url", "is required (or set extra.issuer for discovery)")
        assert settings.redirect_uri is not None
        check_transport(settings.authorization_url, "extra.authorization_url", settings.allow_insecure_http)
        # The code travels to the redirect URI: https, or http on loopback only (RFC 8252 §7.3, RFC 9700 §2.6).
        check_transport(settings.redirect_uri, "extra.redirect_uri", settings.allow_insecure_http)
        reserved = sorted(RESERVED_PARAMS & set(settings.authorization_params))
        if reserved:
            raise OAuth2ConfigError(
                "extra.authorization_params",
                f"must not set {', '.join(reserved)}: the grant sets them (use extra.scope for scopes)",
            )
        verifier = new_code_verifier()
        challenge = code_challenge_s256(verifier)
        state = secrets.token_urlsafe(32)
        if incremental and extra_scope:
            scope = tuple(dict.fromkeys(extra_scope))
        else:
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
        return AuthorizationRequest(
            url, state, verifier, settings.redirect_uri, scope, incremental=incremental and bool(extra_scope)
        )

    def code_from_redirect(self, redirected_url: str, request: AuthorizationRequest) -> str:
        """
        Validate the redirect the user landed on and return the authorization code.

        Checks, in order: the redirect went to the registered URI; ``state`` matches; an ``iss``
        parameter, if sent, names the expected issuer (RFC 9207, errors included); no ``error``.

        :raises OAuth2AuthorizationError: with a one-line message saying what happened and what to do.
        :raises OAuth2TokenError: when the server redirected with an ``error`` (``access_denied``, ...),
            carrying it, and saying what to do.
        """
        command = f"`airflow oauth2 authorize {self.settings.conn_id}`"
        want = urlsplit(request.redirect_uri)
        try:
            got = urlsplit(redirected_url.strip())
            got_port = got.port
        except ValueError:
            got, got_port = urlsplit(""), None
        if not got.scheme or not got.netloc:
            raise OAuth2AuthorizationError(
                "what was received is not the URL the browser was redirected to (it should start with "
                f"{request.redirect_uri}); nothing was stored. Run {command} again and paste the whole address"
            )
        if (got.scheme, got.hostname, got_port, got.path.rstrip("/")) != (
            want.scheme,
            want.hostname,
            want.port,
            want.path.rstrip("/"),
        ):
            raise OAuth2AuthorizationError(
                f"the redirect went to {got.scheme}://{got.netloc}{got.path}, not the connection's redirect_uri "
                f"{request.redirect_uri}; nothing was stored. Check extra.redirect_uri against the URI registered "
                f"at the authorization server, then run {command} again"
            )
        params = dict(parse_qsl(got.query, keep_blank_values=True))
        if not secrets.compare_digest(params.get("state", "").encode(), request.state.encode()):
            raise OAuth2AuthorizationError(
                "the redirect's state does not match this authorization request (tampered, replayed or from "
                f"another attempt); nothing was stored. Run {command} again and use the new URL it prints"
            )
        issuer = self.settings.issuer
        if "iss" in params and issuer and params["iss"].rstrip("/") != issuer.rstrip("/"):
            raise OAuth2AuthorizationError(
                f"the redirect came from issuer {params['iss']!r}, not {issuer!r} (RFC 9207 mix-up defence); "
                f"nothing was stored. Run {command} again"
            )
        if "error" in params:
            error = params["error"][:100]
            description = params.get("error_description", "")[:200] or None
            what = f"the authorization server refused: {error}" + (f" ({description})" if description else "")
            if error == "access_denied":
                todo = f"Run {command} again and approve the request"
            else:
                todo = f"Check the connection's client_id, redirect_uri and scope, then run {command} again"
            raise OAuth2TokenError(error, description, message=f"{what}; nothing was stored. {todo}")
        code = params.get("code")
        if not code:
            raise OAuth2AuthorizationError(
                f"the redirect carries no authorization code; nothing was stored. Run {command} again"
            )
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
