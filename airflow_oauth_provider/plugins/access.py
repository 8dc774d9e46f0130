"""
Who is calling, and may they edit this connection.

Airflow mounts plugin apps *without* its authentication (``api_fastapi/app.py::init_plugins``),
so every route of the plugin resolves the user itself, the way the core API does
(``api_fastapi/core_api/security.py::get_user`` and ``requires_access_connection``): the JWT
from ``Authorization: Bearer`` or else the ``_token`` cookie, validated by the configured auth
manager; then ``is_authorized_connection(method="PUT", ...)`` for the connection (with its team
in multi-team deployments).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["authenticate", "connection_team", "login_url", "may_edit", "may_edit_some"]

log = logging.getLogger(__name__)

#: The cookie the Airflow UI keeps its JWT in (``base_auth_manager.COOKIE_NAME_JWT_TOKEN``).
COOKIE_NAME = "_token"


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def _credential(request: Request) -> str | None:
    """An explicit bearer token wins over the session cookie, as in the core API."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE_NAME) or None


async def authenticate(request: Request) -> Any | None:
    """
    The Airflow user of this request, or ``None`` when it carries no valid JWT.

    :return: a ``BaseUser`` of the configured auth manager.
    """
    from jwt import InvalidTokenError  # ExpiredSignatureError is a subclass

    token = _credential(request)
    if token is None:
        return None
    try:
        return await _auth_manager().get_user_from_token(token)
    except InvalidTokenError:
        return None


def connection_team(conn_id: str) -> str | None:
    """The connection's team when ``[core] multi_team`` is on (metadata lookup only), else ``None``."""
    from airflow.configuration import conf

    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    from airflow.models.connection import Connection

    team: str | None = Connection.get_team_name(conn_id)
    return team


def may_edit(user: Any, conn_id: str, team_name: str | None = None) -> bool:
    """Whether ``user`` may edit (``PUT``) connection ``conn_id``: authorizing replaces its stored grant."""
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    details = ConnectionDetails(conn_id=conn_id, team_name=team_name)
    return bool(_auth_manager().is_authorized_connection(method="PUT", details=details, user=user))


def may_edit_some(user: Any) -> bool:
    """Whether ``user`` may edit connections in general (no particular one)."""
    return bool(_auth_manager().is_authorized_connection(method="PUT", user=user))


def login_url(next_url: str) -> str:
    """The auth manager's login page, returning to ``next_url``."""
    url: str = _auth_manager().get_url_login(next_url=next_url)
    return url
