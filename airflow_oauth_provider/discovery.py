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

    :raises OAuth2ConfigError: when no document is found or its issuer differs.
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
                url, timeout=settings.timeout, verify=settings.verify, proxies=settings.proxies or None
            )
        except requests.RequestException as exc:
            raise OAuth2TransportError(
                f"discovery document {url} could not be fetched ({type(exc).__name__})"
            ) from None
        if response.status_code == 404:
            tried.append(url)
            continue
        try:
            document = response.json()
        except ValueError:
            raise OAuth2ResponseError(
                f"discovery document {url} answered HTTP {response.status_code} that is not JSON: "
                f"{excerpt(response.content)}",
                status=response.status_code,
                url=url,
            ) from None
        if response.status_code != 200 or not isinstance(document, dict):
            raise OAuth2ResponseError(f"discovery document {url} answered HTTP {response.status_code}", url=url)
        if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise OAuth2ConfigError(
                "extra.issuer",
                f"the discovery document at {url} names issuer {document.get('issuer')!r}, not {issuer!r} "
                "(RFC 8414 §3.3): refusing its endpoints",
            )
        with _lock:
            _cache[issuer] = document
        return document
    raise OAuth2ConfigError("extra.issuer", f"no discovery document at {' or '.join(tried)}")


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
        if isinstance(value, str) and value:
            check_transport(value, f"discovered {meta}", settings.allow_insecure_http)
            found[field] = value
    if not (settings.token_url or found.get("token_url")):
        raise OAuth2ConfigError("extra.issuer", "the discovery document has no token_endpoint")
    return dataclasses.replace(settings, **found)  # type: ignore[arg-type]


def clear_cache() -> None:
    """Forget discovered documents (tests)."""
    with _lock:
        _cache.clear()
