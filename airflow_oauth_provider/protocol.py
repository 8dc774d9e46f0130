"""
Token endpoint protocol, free of I/O: request values and strict response parsing.

Grants build a :class:`TokenRequest`; a driver (the sync hook with ``requests``, the async trigger
with ``httpx``) sends it and hands the raw status, headers and body to
:func:`parse_token_response`, which is the only place that interprets a token endpoint's answer.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from airflow_oauth_provider.exceptions import (
    OAuth2ResponseError,
    OAuth2TokenError,
    OAuth2TransportError,
)
from airflow_oauth_provider.tokens.token import Token

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DeviceAuthorization",
    "TokenRequest",
    "excerpt",
    "parse_device_authorization_response",
    "parse_retry_after",
    "parse_token_response",
    "split_scope",
]

log = logging.getLogger(__name__)

_SECRET_FIELDS = ("access_token", "refresh_token", "id_token", "client_secret", "code", "device_code")
_warned_missing_expiry: set[str] = set()


@dataclasses.dataclass
class TokenRequest:
    """
    A token endpoint request, as form parameters and headers (RFC 6749 §3.2).

    :param url: the token endpoint.
    :param data: form parameters, in order; repeated keys allowed (e.g. ``resource``).
    :param headers: extra request headers (client authentication adds ``Authorization`` here).
    :param requested_scope: the scopes asked for, used when the response omits ``scope``.
    """

    url: str
    data: list[tuple[str, str]]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    requested_scope: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        keys = [k for k, _ in self.data]
        return f"TokenRequest(url={self.url!r}, params={keys!r}, headers={sorted(self.headers)!r})"

    def param(self, key: str) -> str | None:
        """The first value of form parameter ``key``."""
        return next((v for k, v in self.data if k == key), None)


def split_scope(value: str, delimiter: str = " ") -> tuple[str, ...]:
    """Split a scope string (RFC 6749 §3.3: space-delimited unless a vendor says otherwise)."""
    return tuple(s for s in (p.strip() for p in value.split(delimiter)) if s)


def excerpt(body: bytes | str, limit: int = 120) -> str:
    """
    A short, whitespace-folded excerpt of a response body for error messages.

    Values of token-like JSON fields are replaced by ``***`` so that a body that did carry a
    token never reaches a message.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    for field in _SECRET_FIELDS:
        text = re.sub(rf'("{field}"\s*:\s*")[^"]*(")', r"\1***\2", text)
        text = re.sub(rf"({field}=)[^&\s]*", r"\1***", text)
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text[:limit] + ("..." if len(text) > limit else "")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    :return: ``None`` when absent or unparseable; never negative.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str,
    requested_scope: tuple[str, ...] | None,
    received_at: float,
    default_expires_in: int,
    previous_refresh_token: str | None = None,
    scope_delimiter: str = " ",
    conn_id: str = "",
    refresh_expires_in_field: str = "refresh_expires_in",
) -> Token:
    """
    Interpret a token endpoint answer (RFC 6749 §5.1 success, §5.2 error).

    :param status: the HTTP status code.
    :param headers: the response headers.
    :param body: the raw response body.
    :param url: the token endpoint, for messages.
    :param requested_scope: scopes requested; the granted scope when the response omits ``scope``.
    :param received_at: epoch time from which ``expires_in`` counts (request start, for skew safety).
    :param default_expires_in: lifetime assumed when the response has no ``expires_in``.
    :param previous_refresh_token: kept when a refresh response carries no new one (RFC 6749 §6).
    :param scope_delimiter: the delimiter of the ``scope`` string.
    :param conn_id: the connection, for messages and the once-per-connection warning.
    :raises OAuth2TransportError: on 429 and 5xx, with ``retry_after`` when the server said.
    :raises OAuth2TokenError: on an RFC 6749 §5.2 error body.
    :raises OAuth2ResponseError: on anything else that is not a valid token response.
    """
    content_type = _raise_if_transient("token endpoint", status, headers, body, url)
    payload = _json_object(status, content_type, body, url)
    if "error" in payload:
        error = payload["error"]
        if not isinstance(error, str):
            raise OAuth2ResponseError(
                f"token endpoint {url} answered HTTP {status} with a non-string 'error' field",
                status=status,
                url=url,
            )
        description = payload.get("error_description")
        raise OAuth2TokenError(
            error,
            description if isinstance(description, str) else None,
            error_uri=payload.get("error_uri") if isinstance(payload.get("error_uri"), str) else None,
            status=status,
            url=url,
        )
    if status != 200:
        raise OAuth2ResponseError(
            f"token endpoint {url} answered HTTP {status} without an RFC 6749 'error' field ({content_type})",
            status=status,
            url=url,
        )
    return _token_from_payload(
        payload,
        url=url,
        requested_scope=requested_scope,
        received_at=received_at,
        default_expires_in=default_expires_in,
        previous_refresh_token=previous_refresh_token,
        scope_delimiter=scope_delimiter,
        conn_id=conn_id,
        refresh_expires_in_field=refresh_expires_in_field,
    )


def _raise_if_transient(what: str, status: int, headers: Mapping[str, str], body: bytes, url: str) -> str:
    """Raise :class:`OAuth2TransportError` on 429 and 5xx; otherwise return the content type."""
    content_type = _header(headers, "content-type") or "(none)"
    if status == 429 or status >= 500:
        raise OAuth2TransportError(
            f"{what} {url} answered HTTP {status} ({content_type}): {excerpt(body)}",
            status=status,
            retry_after=parse_retry_after(_header(headers, "retry-after")),
        )
    return content_type


def _json_object(status: int, content_type: str, body: bytes, url: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise OAuth2ResponseError(
            f"token endpoint {url} answered HTTP {status} with a body that is not JSON "
            f"(content type {content_type}): {excerpt(body)}",
            status=status,
            url=url,
        ) from None
    if not isinstance(payload, dict):
        raise OAuth2ResponseError(
            f"token endpoint {url} answered HTTP {status} with JSON that is not an object (a {type(payload).__name__})",
            status=status,
            url=url,
        )
    return payload


def _token_from_payload(
    payload: dict[str, Any],
    *,
    url: str,
    requested_scope: tuple[str, ...] | None,
    received_at: float,
    default_expires_in: int,
    previous_refresh_token: str | None,
    scope_delimiter: str,
    conn_id: str,
    refresh_expires_in_field: str = "refresh_expires_in",
) -> Token:
    def fail(message: str) -> OAuth2ResponseError:
        return OAuth2ResponseError(f"token response from {url}: {message}", status=200, url=url)

    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise fail("field 'access_token' is missing or not a non-empty string")
    token_type = payload.get("token_type")
    if not isinstance(token_type, str) or not token_type:
        raise fail("field 'token_type' is missing or not a string (RFC 6749 §5.1 requires it)")
    if token_type.lower() != "bearer":
        raise fail(f"field 'token_type' is {token_type!r}; only Bearer tokens (RFC 6750) are supported")

    expires_in = _expires_in(payload, "expires_in", fail)
    if expires_in is None:
        expires_in = default_expires_in
        if conn_id not in _warned_missing_expiry:
            _warned_missing_expiry.add(conn_id)
            log.warning(
                "Token response for connection %r has no 'expires_in'; assuming %d s "
                "(set extra.default_expires_in to change this). A 401 still triggers a refresh.",
                conn_id,
                expires_in,
            )
    refresh_expires_in = _expires_in(payload, refresh_expires_in_field, fail)

    refresh_token = payload.get("refresh_token")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise fail("field 'refresh_token' is not a non-empty string")

    scope_value = payload.get("scope")
    if scope_value is None:
        scope = requested_scope
    elif isinstance(scope_value, str):
        scope = split_scope(scope_value, scope_delimiter)
    elif isinstance(scope_value, list) and all(isinstance(s, str) for s in scope_value):
        scope = tuple(scope_value)  # vendor quirk: a JSON list instead of a string
    else:
        raise fail("field 'scope' is not a string")

    return Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=received_at + expires_in,
        refresh_token=refresh_token or previous_refresh_token,
        scope=scope,
        issued_at=received_at,
        refresh_expires_at=received_at + refresh_expires_in if refresh_expires_in else None,
        refresh_issued_at=received_at if refresh_token else None,
    )


def _expires_in(payload: dict[str, Any], field: str, fail: Any) -> int | None:
    value = payload.get(field)
    if value is None:
        return None
    if isinstance(value, bool):
        raise fail(f"field {field!r} is a boolean, not a number of seconds")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)  # vendor quirk: "3600"
        except ValueError:
            raise fail(f"field {field!r} is {text[:20]!r}, not a number of seconds") from None
    if not isinstance(value, (int, float)) or value != value:
        raise fail(f"field {field!r} is not a number of seconds")
    if value < 0:
        raise fail(f"field {field!r} is negative ({value})")
    return int(value)


@dataclasses.dataclass(frozen=True)
class DeviceAuthorization:
    """
    A device authorization response (RFC 8628 §3.2).

    :param device_code: the code the client polls with; never shown to the user.
    :param user_code: the code the user enters.
    :param verification_uri: where the user goes.
    :param verification_uri_complete: the same URI with the user code filled in, if given.
    :param expires_in: seconds the codes stay valid.
    :param interval: minimum seconds between polls (default 5, RFC 8628 §3.2).
    """

    device_code: str = dataclasses.field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int = 5


def parse_device_authorization_response(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str
) -> DeviceAuthorization:
    """
    Interpret a device authorization endpoint answer.

    :raises OAuth2TokenError: on an RFC 6749 §5.2 error body.
    :raises OAuth2ResponseError: naming the field at fault otherwise.
    """
    content_type = _raise_if_transient("device authorization endpoint", status, headers, body, url)
    payload = _json_object(status, content_type, body, url)
    if "error" in payload and isinstance(payload["error"], str):
        description = payload.get("error_description")
        raise OAuth2TokenError(
            payload["error"], description if isinstance(description, str) else None, status=status, url=url
        )
    if status != 200:
        raise OAuth2ResponseError(f"device authorization endpoint {url} answered HTTP {status}", status=status, url=url)

    def field(name: str, required: bool = True) -> str | None:
        value = payload.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise OAuth2ResponseError(
                f"device authorization response from {url}: field {name!r} is missing or not a string",
                status=status,
                url=url,
            )
        return value

    def seconds(name: str, default: int | None) -> int:
        value = payload.get(name, default)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise OAuth2ResponseError(
                f"device authorization response from {url}: field {name!r} is not a positive integer",
                status=status,
                url=url,
            )
        return value

    return DeviceAuthorization(
        device_code=field("device_code") or "",
        user_code=field("user_code") or "",
        verification_uri=field("verification_uri") or "",
        verification_uri_complete=field("verification_uri_complete", required=False),
        expires_in=seconds("expires_in", None),
        interval=seconds("interval", 5),
    )
