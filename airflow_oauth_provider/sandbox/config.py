"""The sandbox's settings: one frozen dataclass, replaced (never mutated) when tests change it."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

__all__ = ["DEFAULT_REDIRECT_URIS", "RUNTIME_SETTINGS", "SandboxConfig", "is_loopback_host"]

DEFAULT_REDIRECT_URIS = ("http://127.0.0.1:8765/callback", "http://localhost:8765/callback")

#: Settings ``POST /admin/config`` may change while the server runs, with their types.
RUNTIME_SETTINGS: dict[str, type] = {
    "access_token_lifetime": int,
    "refresh_token_lifetime": int,
    "rotate_refresh_tokens": bool,
    "reuse_detection": bool,
    "device_interval": int,
    "device_expires_in": int,
    "items_total": int,
}


def is_loopback_host(host: str) -> bool:
    """
    Whether ``host`` names the loopback interface (``localhost``, 127.0.0.0/8 or ``::1``).

    :param host: a host name or IP literal, IPv6 with or without brackets.
    """
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """
    Settings of a sandbox authorization server + API.

    :param host: interface to bind; must be loopback.
    :param port: TCP port; 0 picks a free one.
    :param issuer: the ``issuer`` in the metadata; default: the URL the client used to reach the server.
    :param access_token_lifetime: seconds an access token lives (a client's own setting wins).
    :param refresh_token_lifetime: seconds a refresh token lives, counted from its issue.
    :param rotate_refresh_tokens: issue a new refresh token on every refresh and retire the old one.
    :param reuse_detection: a retired refresh token presented again revokes its whole family.
    :param device_interval: seconds a device client must wait between polls (RFC 8628 §3.2).
    :param device_expires_in: seconds a device_code / user_code lives.
    :param device_slow_down_increment: seconds added to a device code's interval on each
        ``slow_down`` (RFC 8628 §3.5 says 5).
    :param authorization_code_lifetime: seconds an authorization code lives.
    :param items_total: number of items ``GET /api/items`` pages through.
    :param items_per_page: default ``per_page`` of ``GET /api/items``.
    :param allow_any_loopback_redirect: let clients registered without their own setting accept any
        ``http`` redirect URI on a loopback host, on top of the exact registered ones (RFC 8252 §7.3
        already allows a different port). Read when a client is registered.
    :param redirect_uris: redirect URIs registered for the built-in clients.
    :param verbose: log one line per request (method, path without query string, status).
    """

    host: str = "127.0.0.1"
    port: int = 0
    issuer: str | None = None
    access_token_lifetime: int = 3600
    refresh_token_lifetime: int = 86400
    rotate_refresh_tokens: bool = True
    reuse_detection: bool = True
    device_interval: int = 5
    device_expires_in: int = 600
    device_slow_down_increment: int = 5
    authorization_code_lifetime: int = 60
    items_total: int = 50
    items_per_page: int = 10
    allow_any_loopback_redirect: bool = True
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    verbose: bool = False

    def __post_init__(self) -> None:
        if not is_loopback_host(self.host):
            raise ValueError(f"the sandbox only binds to a loopback address, not {self.host!r}")
        for name in ("access_token_lifetime", "refresh_token_lifetime", "device_expires_in"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 second")
        if self.device_interval < 0 or self.items_total < 0 or self.items_per_page < 1:
            raise ValueError("device_interval and items_total must be >= 0, items_per_page >= 1")

    def with_changes(self, changes: dict[str, Any]) -> SandboxConfig:
        """
        A copy with the runtime-changeable settings in ``changes`` applied.

        :param changes: names from :data:`RUNTIME_SETTINGS` and their new values.
        :raises ValueError: on an unknown name or a value of the wrong type.
        """
        for name, value in changes.items():
            expected = RUNTIME_SETTINGS.get(name)
            if expected is None:
                raise ValueError(f"unknown or read-only setting {name!r}; changeable: {sorted(RUNTIME_SETTINGS)}")
            # bool is an int subclass: reject True for an int setting and 1 for a bool one.
            if type(value) is not expected:
                raise ValueError(f"{name} must be {expected.__name__}, not {type(value).__name__}")
        return dataclasses.replace(self, **changes)
