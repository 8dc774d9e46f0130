"""
Endpoint discovery from an issuer: RFC 8414 metadata, else OpenID Connect discovery.

Explicit URLs in the connection win; the document's ``issuer`` must equal the configured one
(RFC 8414 §3.3), or an attacker-controlled document could redirect credentials. Results are
cached per process.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2ResponseError, OAuth2TransportError
from airflow_oauth_provider.protocol import excerpt
from airflow_oauth_provider.settings import check_transport

if TYPE_CHECKING:
    from airflow_oauth_provider.settings import OAuth2Settings

__all__ = ["discover", "metadata_urls", "with_discovered_endpoints"]

_cache: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()

# metadata field -> settings field
ENDPOINTS = {
    "token_endpoint": "token_url",
    "authorization_endpoint": "authorization_url",
    "device_authorization_endpoint": "device_authorization_url",
    "revocation_endpoint": "revocation_url",
}


def metadata_urls(issuer: str) -> list[str]:
    """
    Where to look: RFC 8414 §3.1 inserts the well-known path before the issuer's path;
    OIDC Discovery 1.0 §4 appends it.
    """
    parts = urlsplit(issuer.rstrip("/"))
    path = parts.path
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    oidc = urlunsplit((parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


def discover(settings: OAuth2Settings, session: requests.Session | None = None) -> dict[str, Any]:
    """
    The authorization server metadata for ``settings.issuer`` (cached per process).

    The RFC 8414 location is tried first; a 4xx there (many servers only serve one of the two)
    moves on to the OpenID Connect location.

    :raises OAuth2ConfigError: when no document is found or its issuer differs.
    :raises OAuth2TransportError: when the issuer cannot be reached.
    :raises OAuth2ResponseError: when a document is not a JSON object or the server fails.
    """
    issuer = settings.issuer
    assert issuer is not None
    with _lock:
        if issuer in _cache:
            return _cache[issuer]
    session = session or requests.Session()
    tried = []
    for url in metadata_urls(issuer):
        try:
            response = session.get(
                url,
                headers={"Accept": "application/json"},
                timeout=settings.timeout,
                verify=settings.verify,
                proxies=settings.proxies or None,
            )
        except requests.RequestException as exc:
            raise OAuth2TransportError(
                f"discovery document {url} could not be fetched ({type(exc).__name__}); check extra.issuer, "
                "or set the endpoint URLs (extra.token_url, ...) explicitly"
            ) from None
        if 400 <= response.status_code < 500:
            tried.append(f"{url} (HTTP {response.status_code})")
            continue
        if response.status_code != 200:
            raise OAuth2ResponseError(
                f"discovery document {url} answered HTTP {response.status_code}: {excerpt(response.content)}",
                status=response.status_code,
                url=url,
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise OAuth2ResponseError(
                f"discovery document {url} is not a JSON object: {excerpt(response.content)}",
                status=response.status_code,
                url=url,
            )
        named = document.get("issuer")
        if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
            raise OAuth2ConfigError(
                "extra.issuer",
                f"the discovery document at {url} names issuer {named!r}, not {issuer!r} "
                "(RFC 8414 §3.3): refusing its endpoints. Set extra.issuer to the server's exact issuer",
            )
        with _lock:
            _cache[issuer] = document
        return document
    raise OAuth2ConfigError(
        "extra.issuer",
        f"no discovery document at {' or '.join(tried)}; check the issuer, or set the endpoint URLs "
        "(extra.token_url, ...) explicitly",
    )


def with_discovered_endpoints(settings: OAuth2Settings) -> OAuth2Settings:
    """``settings`` with missing endpoint URLs filled from discovery; explicit URLs win."""
    if not settings.issuer:
        return settings
    missing = {meta: field for meta, field in ENDPOINTS.items() if not getattr(settings, field)}
    if not missing:
        return settings
    document = discover(settings)
    found: dict[str, str] = {}
    for meta, field in missing.items():
        value = document.get(meta)
        if value is None:
            continue
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise OAuth2ConfigError(
                "extra.issuer", f"the discovery document's {meta} is not an absolute http(s) URL: {value!r:.120}"
            )
        check_transport(value, f"discovered {meta}", settings.allow_insecure_http)
        found[field] = value
    if not (settings.token_url or found.get("token_url")):
        raise OAuth2ConfigError("extra.issuer", "the discovery document has no token_endpoint")
    return dataclasses.replace(settings, **found)  # type: ignore[arg-type]


def clear_cache() -> None:
    """Forget discovered documents (tests)."""
    with _lock:
        _cache.clear()
