"""Exceptions raised by the OAuth 2.0 provider.

Callers branch on classes, never on message text. The tree::

    OAuth2Error (AirflowException)
    ├── OAuth2ConfigError            a connection field or provider option is missing or invalid
    ├── OAuth2InsecureTransportError a non-https URL to a non-loopback host
    ├── OAuth2ResponseError          the server answered something that is not a valid response
    │   └── OAuth2TokenError         RFC 6749 §5.2 error response (``error`` attribute)
    │       └── OAuth2ReauthorizationRequired  the grant is dead: a human must authorize again
    ├── OAuth2TransportError         timeout / connection failure / 429 / 5xx from the token endpoint
    ├── OAuth2HttpError              the protected API answered an error status
    ├── OAuth2ScopeError             fewer scopes were granted than required
    ├── OAuth2TokenStoreError        the persisted token cannot be read, decrypted or written
    └── OAuth2LockTimeout            the token lock could not be had within ``lock_timeout``

No message produced here ever contains a token or a client secret: messages are built from
field names, HTTP status codes and redacted excerpts only.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException

__all__ = [
    "OAuth2ConfigError",
    "OAuth2Error",
    "OAuth2HttpError",
    "OAuth2InsecureTransportError",
    "OAuth2LockTimeout",
    "OAuth2ReauthorizationRequired",
    "OAuth2ResponseError",
    "OAuth2ScopeError",
    "OAuth2TokenError",
    "OAuth2TokenStoreError",
    "OAuth2TransportError",
]


class OAuth2Error(AirflowException):
    """Root of every error raised by this provider."""


class OAuth2ConfigError(OAuth2Error):
    """
    A connection field or provider option is missing or invalid.

    :param field: the connection field or extra key at fault (e.g. ``extra.token_url``).
    :param message: what is wrong with it and how to fix it.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class OAuth2InsecureTransportError(OAuth2ConfigError):
    """A URL that would carry credentials is not https and its host is not loopback (RFC 9700 §2.6)."""


class OAuth2ResponseError(OAuth2Error):
    """
    The server answered with something that is not a valid OAuth 2.0 response.

    :param message: what was wrong, naming the field or the response at fault.
    :param status: the HTTP status of the response, when there was one.
    :param url: the URL that answered (without query string).
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        self.status = status
        self.url = url
        super().__init__(message)


class OAuth2TokenError(OAuth2ResponseError):
    """
    The token endpoint answered with an RFC 6749 §5.2 error response.

    :param error: the ``error`` code (``invalid_grant``, ``invalid_client``, ...).
    :param error_description: the server's human-readable description, if any.
    :param error_uri: the server's ``error_uri``, if any.
    :param status: the HTTP status code.
    :param url: the token endpoint URL.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        error_uri: str | None = None,
        status: int | None = None,
        url: str | None = None,
        message: str | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        if message is None:
            message = f"token endpoint answered HTTP {status} error={error!r}"
            if error_description:
                message += f": {error_description}"
        super().__init__(message, status=status, url=url)


class OAuth2ReauthorizationRequired(OAuth2TokenError):
    """
    The grant is dead (revoked, expired or replayed refresh token): a human must authorize again.

    Never retried automatically. The message names the connection and the command that fixes it;
    ``conn_id`` carries the connection for notifiers.
    """

    conn_id: str | None = None


class OAuth2TransportError(OAuth2Error):
    """
    The token endpoint could not be reached or answered a transient failure (timeout, 429, 5xx).

    :param message: what happened.
    :param status: the HTTP status, if a response arrived.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class OAuth2HttpError(OAuth2Error):
    """
    The protected API answered an error status (raised by ``OAuth2Hook.run`` when checking responses).

    :param status: the HTTP status code.
    :param reason: the HTTP reason phrase.
    :param url: the requested URL without its query string.
    """

    def __init__(self, status: int, reason: str, url: str) -> None:
        self.status = status
        self.reason = reason
        self.url = url
        super().__init__(f"{status}:{reason} from {url}")


class OAuth2ScopeError(OAuth2Error):
    """The server granted fewer scopes than the connection or task requires."""


class OAuth2TokenStoreError(OAuth2Error):
    """The persisted token cannot be read, decrypted, verified or written."""


class OAuth2LockTimeout(OAuth2Error):
    """The token lock could not be acquired within ``lock_timeout`` seconds."""
