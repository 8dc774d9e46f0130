"""
One typed reader for an ``oauth2`` connection.

Everything the hook, the grants and the token store need is read here, once, from the
Connection; every unknown or invalid field fails with an :class:`OAuth2ConfigError` that names it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2InsecureTransportError

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "CLIENT_AUTH_METHODS",
    "GRANT_TYPES",
    "LOCK_BACKENDS",
    "OAuth2Settings",
    "check_transport",
    "is_loopback_host",
]

GRANT_TYPES = ("client_credentials", "authorization_code", "device_code", "refresh_token", "jwt_bearer")
CLIENT_AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "client_secret_jwt",
    "none",
)
LOCK_BACKENDS = ("auto", "metadata", "sql", "file")

DEFAULT_LEEWAY = 60.0
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_EXPIRES_IN = 3600
#: Grants whose tokens are persisted by default: those that cannot be re-obtained without a human.
PERSISTED_GRANTS = frozenset({"authorization_code", "device_code", "refresh_token"})


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OAuth2ConfigError(f"extra.{key}", f"must be a non-empty string, got {type(value).__name__}")
    return value.strip()


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise OAuth2ConfigError(f"extra.{key}", f"must be true or false, got {value!r}")


def _positive_float(key: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool):
        raise OAuth2ConfigError(f"extra.{key}", f"must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OAuth2ConfigError(f"extra.{key}", f"must be a number of seconds, got {value!r}") from None
    if number < 0 or (number == 0 and not allow_zero) or number != number:
        raise OAuth2ConfigError(f"extra.{key}", f"must be a positive number of seconds, got {value!r}")
    return number


def _int(key: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise OAuth2ConfigError(f"extra.{key}", f"must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise OAuth2ConfigError(f"extra.{key}", f"must be an integer, got {value!r}") from None
    if number < minimum:
        raise OAuth2ConfigError(f"extra.{key}", f"must be >= {minimum}, got {value!r}")
    return number


def _str_list(key: str, value: Any, delimiter: str = " ") -> tuple[str, ...]:
    if isinstance(value, str):
        items = [s for s in (p.strip() for p in value.split(delimiter)) if s]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value if v.strip()]
    else:
        raise OAuth2ConfigError(f"extra.{key}", f"must be a string or a list of strings, got {value!r}")
    return tuple(items)


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        text = _str(key, value)
        if text not in choices:
            raise OAuth2ConfigError(f"extra.{key}", f"must be one of {', '.join(choices)}; got {text!r}")
        return text

    return parse


def _timeout(key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise OAuth2ConfigError(f"extra.{key}", "must be seconds or [connect, read] seconds")
        return (_positive_float(key, value[0]), _positive_float(key, value[1]))
    seconds = _positive_float(key, value)
    return (seconds, seconds)


def _verify(key: str, value: Any) -> bool | str:
    if isinstance(value, str) and value.strip().lower() not in ("true", "false"):
        return value.strip()
    return _bool(key, value)


def _proxies(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise OAuth2ConfigError(f"extra.{key}", 'must be an object like {"https": "http://proxy:3128"}')
    return dict(value)


def _str_map(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise OAuth2ConfigError(f"extra.{key}", "must be an object whose values are strings")
    return dict(value)


def _url(key: str, value: Any) -> str:
    text = _str(key, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OAuth2ConfigError(f"extra.{key}", f"must be an absolute http(s) URL, got {text!r}")
    if parts.fragment:
        raise OAuth2ConfigError(f"extra.{key}", "must not contain a fragment (RFC 6749 §3.1, §3.2)")
    return text


# key -> parser; every extra key the connection may carry. Anything else is an error.
_EXTRA_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "grant_type": _choice(GRANT_TYPES),
    "token_url": _url,
    "authorization_url": _url,
    "device_authorization_url": _url,
    "revocation_url": _url,
    "issuer": _url,
    "scope": lambda k, v: v,  # split once the delimiter is known
    "scope_delimiter": lambda k, v: v if isinstance(v, str) and len(v) == 1 else _raise(k, "a single character"),
    "audience": _str,
    "resource": lambda k, v: _str_list(k, v),
    "client_auth_method": _choice(CLIENT_AUTH_METHODS),
    "private_key": _str,
    "private_key_path": _str,
    "private_key_id": _str,
    "redirect_uri": _url,
    "refresh_token": _str,
    "leeway": lambda k, v: _positive_float(k, v, allow_zero=True),
    "lock_timeout": _positive_float,
    "token_variable": _str,
    "lock_conn_id": _str,
    "lock_backend": _choice(LOCK_BACKENDS),
    "persist_token": _bool,
    "timeout": _timeout,
    "verify": _verify,
    "proxies": _proxies,
    "allow_insecure_http": _bool,
    "default_expires_in": lambda k, v: _int(k, v, minimum=1),
    "token_retries": lambda k, v: _int(k, v),
    "max_retry_wait": _positive_float,
    "send_scope_on_refresh": _bool,
    "require_scopes": _bool,
    "headers": _str_map,
    "assertion_subject": _str,
    "refresh_token_max_idle": _positive_float,
    "refresh_expiry_warning": _positive_float,
    "refresh_expires_in_field": _str,
    "authorization_params": _str_map,
    # API-side resilience (OAuth2Hook.run): 429/503 honour Retry-After, other 5xx back off.
    "api_retries": lambda k, v: _int(k, v),
    "api_max_retry_wait": _positive_float,
    "api_retry_non_idempotent": _bool,
}


def _raise(key: str, expected: str) -> Any:
    raise OAuth2ConfigError(f"extra.{key}", f"must be {expected}")


def is_loopback_host(host: str | None) -> bool:
    """
    Whether ``host`` is a loopback host (``localhost``, 127.0.0.0/8 or ::1).

    :param host: a hostname or IP literal, without port or brackets.
    """
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, field: str, allow_insecure_http: bool) -> None:
    """
    Refuse to send credentials over plain http to anything but loopback (RFC 9700 §2.6, RFC 6749 §3.1).

    :param url: the URL about to be used.
    :param field: the connection field it came from, for the error message.
    :param allow_insecure_http: the connection's explicit opt-out.
    :raises OAuth2InsecureTransportError: when the URL is not https and not loopback.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" or allow_insecure_http:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return
    raise OAuth2InsecureTransportError(
        field,
        f"{parts.scheme}://{parts.hostname} is not https; tokens may only travel over https "
        "(loopback hosts excepted). Set extra.allow_insecure_http to true only for a trusted network.",
    )


@dataclasses.dataclass(frozen=True)
class OAuth2Settings:
    """
    Everything an ``oauth2`` connection says, validated.

    Build it with :meth:`from_connection`; field meanings are in the README's field reference.
    """

    conn_id: str
    grant_type: str
    client_id: str | None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    base_url: str | None = None
    token_url: str | None = None
    authorization_url: str | None = None
    device_authorization_url: str | None = None
    revocation_url: str | None = None
    issuer: str | None = None
    scope: tuple[str, ...] = ()
    scope_delimiter: str = " "
    audience: str | None = None
    resource: tuple[str, ...] = ()
    client_auth_method: str = "client_secret_basic"
    private_key: str | None = dataclasses.field(default=None, repr=False)
    private_key_path: str | None = None
    private_key_id: str | None = None
    redirect_uri: str | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    leeway: float = DEFAULT_LEEWAY
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    token_variable: str | None = None
    lock_conn_id: str | None = None
    lock_backend: str = "auto"
    persist_token: bool = False
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify: bool | str = True
    proxies: dict[str, str] = dataclasses.field(default_factory=dict)
    allow_insecure_http: bool = False
    default_expires_in: int = DEFAULT_EXPIRES_IN
    token_retries: int = 2
    max_retry_wait: float = 60.0
    send_scope_on_refresh: bool = False
    require_scopes: bool = False
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    assertion_subject: str | None = None
    refresh_token_max_idle: float | None = None
    refresh_expiry_warning: float = 7 * 86400.0
    refresh_expires_in_field: str = "refresh_expires_in"
    authorization_params: dict[str, str] = dataclasses.field(default_factory=dict)
    api_retries: int = 3
    api_max_retry_wait: float = 60.0
    api_retry_non_idempotent: bool = False

    @property
    def token_key(self) -> str:
        """The Variable key under which this connection's token is persisted."""
        return self.token_variable or f"oauth2_token__{self.conn_id}"

    @property
    def scope_string(self) -> str | None:
        """The requested scopes joined with the delimiter, or ``None`` when none are configured."""
        return self.scope_delimiter.join(self.scope) if self.scope else None

    @classmethod
    def from_connection(cls, conn: Connection) -> OAuth2Settings:
        """
        Read and validate a Connection.

        :param conn: an Airflow connection of type ``oauth2``.
        :raises OAuth2ConfigError: naming the first missing, unknown or invalid field.
        """
        conn_id = conn.conn_id
        extra = _extra_dict(conn)
        unknown = sorted(set(extra) - set(_EXTRA_PARSERS))
        if unknown:
            raise OAuth2ConfigError(
                f"extra.{unknown[0]}",
                f"unknown key in connection {conn_id!r} (known keys: {', '.join(sorted(_EXTRA_PARSERS))})",
            )
        values: dict[str, Any] = {}
        for key, raw in extra.items():
            if raw is None or raw == "":
                continue
            values[key] = _EXTRA_PARSERS[key](key, raw)
        delimiter = values.pop("scope_delimiter", " ")
        if "scope" in values:
            values["scope"] = _str_list("scope", values["scope"], delimiter)
        grant_type = values.pop("grant_type", "client_credentials")
        if "persist_token" not in values:
            values["persist_token"] = grant_type in PERSISTED_GRANTS

        settings = cls(
            conn_id=conn_id,
            grant_type=grant_type,
            client_id=conn.login or None,
            client_secret=conn.password or None,
            base_url=_base_url(conn),
            scope_delimiter=delimiter,
            **values,
        )
        settings._validate()
        return settings

    def _validate(self) -> None:
        if not self.token_url and not self.issuer:
            raise OAuth2ConfigError("extra.token_url", "is required (or set extra.issuer for discovery)")
        if self.client_auth_method in ("client_secret_basic", "client_secret_post", "client_secret_jwt"):
            if not self.client_id:
                raise OAuth2ConfigError("login", "the client_id is required")
            if not self.client_secret:
                raise OAuth2ConfigError("password", f"the client_secret is required for {self.client_auth_method}")
        if self.client_auth_method in ("private_key_jwt", "none") and not self.client_id:
            raise OAuth2ConfigError("login", "the client_id is required")
        if (self.client_auth_method == "private_key_jwt" or self.grant_type == "jwt_bearer") and not (
            self.private_key or self.private_key_path
        ):
            raise OAuth2ConfigError("extra.private_key", f"is required for {self.client_auth_method}/{self.grant_type}")
        if self.grant_type == "authorization_code" and not self.redirect_uri:
            raise OAuth2ConfigError("extra.redirect_uri", "is required for the authorization_code grant")
        for field in ("token_url", "authorization_url", "device_authorization_url", "revocation_url", "issuer"):
            url = getattr(self, field)
            if url:
                check_transport(url, f"extra.{field}", self.allow_insecure_http)
        if self.base_url:
            check_transport(self.base_url, "host", self.allow_insecure_http)


def _extra_dict(conn: Connection) -> dict[str, Any]:
    raw = conn.extra
    if not raw:
        return {}
    try:
        extra = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as err:
        raise OAuth2ConfigError("extra", f"is not valid JSON ({err.msg} at position {err.pos})") from None
    if not isinstance(extra, dict):
        raise OAuth2ConfigError("extra", "must be a JSON object")
    return extra


def _base_url(conn: Connection) -> str | None:
    """The API base URL, built like the HTTP provider's: host may carry its scheme, else schema or https."""
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = (conn.schema or "https").strip()
        if scheme not in ("http", "https"):
            raise OAuth2ConfigError("schema", f"must be http or https (the API's URL scheme), got {scheme!r}")
        base = f"{scheme}://{host}".rstrip("/")
    if conn.port:
        parts = urlsplit(base)
        if parts.port is None:
            base = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
    return base
