"""Per-request lookups: the app's state and the URLs the server is reached at."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request

if TYPE_CHECKING:
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["EXTENSION_KEY", "base_url", "get_state", "issuer", "token_endpoint"]

EXTENSION_KEY = "oauth_sandbox"


def get_state() -> SandboxState:
    """The :class:`SandboxState` of the current app."""
    state: SandboxState = current_app.extensions[EXTENSION_KEY]
    return state


def base_url() -> str:
    """The server URL as the client reached it, e.g. ``http://127.0.0.1:54321``."""
    return request.url_root.rstrip("/")


def issuer() -> str:
    """The configured issuer, else the URL the client used (RFC 8414 §3.3 wants them equal)."""
    return get_state().config.issuer or base_url()


def token_endpoint() -> str:
    return base_url() + "/token"
