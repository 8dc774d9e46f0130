"""
API-server plugin: the OAuth 2.0 connections page, the Connect button and the OAuth callback.

Registered through the ``airflow.plugins`` entry point (a provider-info ``plugins`` entry is
read only when providers are discovered eagerly). Airflow mounts the app at ``/oauth2``::

    GET /oauth2/                    status of every oauth2 connection the user may edit
    GET /oauth2/connect/{conn_id}   start authorization code + PKCE, redirect to the server
    GET /oauth2/callback            the connection's redirect_uri: exchange the code, store the token

Airflow applies no authentication to plugin apps, so each route checks the caller itself
(:mod:`.access`): a valid Airflow JWT and permission to edit the connection. The ``state`` and
the PKCE verifier never leave the server (:mod:`.pending`); ``state`` is single-use, bound to
the connection and the user, and expires after 10 minutes. Refusals are HTML pages with a 4xx
status that change nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import AirflowPlugin
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request  # noqa: TC002 - FastAPI resolves route annotations at runtime
from starlette.responses import RedirectResponse, Response

from airflow_oauth_provider.exceptions import OAuth2Error, OAuth2LockTimeout, OAuth2TransportError
from airflow_oauth_provider.plugins import access, pages
from airflow_oauth_provider.plugins.pending import PendingAuthorization, PendingStore

if TYPE_CHECKING:
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

__all__ = ["OAuth2UIPlugin", "app", "create_app"]

log = logging.getLogger(__name__)

URL_PREFIX = "/oauth2"
_INDEX, _CONNECT, _CALLBACK = "oauth2_ui_index", "oauth2_ui_connect", "oauth2_ui_callback"


class Refused(Exception):
    """A request the plugin turns down; rendered as an HTML page with ``status``."""

    def __init__(self, title: str, message: str, status: int, link: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status
        self.link = link


def _utc(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))  # as status()


def _hook(conn_id: str) -> OAuth2Hook:
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

    return OAuth2Hook(oauth2_conn_id=conn_id)


def _same_path(url: str | None, expected: str) -> bool:
    return bool(url) and urlsplit(url or "").path.rstrip("/") == urlsplit(expected).path.rstrip("/")


# -- the status page ----------------------------------------------------------------------------


def _oauth2_connections() -> list[tuple[str, str | None]]:
    """``(conn_id, team_name)`` of the ``oauth2`` connections in the metadata database."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(Connection.conn_id, Connection.team_name)
            .where(Connection.conn_type == "oauth2")
            .order_by(Connection.conn_id)
        ).all()
    return [(str(conn_id), team) for conn_id, team in rows]


def _row(conn_id: str, callback_url: str) -> pages.ConnectionRow:
    from airflow_oauth_provider.authorization import status

    hook = _hook(conn_id)
    try:
        info = status(hook)
    except Exception as err:  # an invalid connection must not take the page down
        log.warning("OAuth 2.0 status of connection %r failed: %s", conn_id, err)
        return pages.ConnectionRow(conn_id, note=f"{type(err).__name__}: {err}")
    settings = hook.settings
    grant = settings.grant_type
    connectable = grant == "authorization_code"
    note: str | None = info.get("error")
    if connectable and not _same_path(settings.redirect_uri, callback_url):
        note = f"redirect_uri is {settings.redirect_uri}; the Connect button needs {callback_url}"
    if not settings.persist_token:
        return pages.ConnectionRow(conn_id, grant, on_demand=True, note=note)
    authorized = bool(info.get("authorized"))
    expired = bool(info.get("access_token_expired"))
    has_refresh = bool(info.get("has_refresh_token"))
    reauth: str | None = None
    if info.get("error"):
        reauth = "yes: the stored token cannot be read"
    elif not authorized and not (grant == "refresh_token" and settings.refresh_token):
        reauth = "yes: nothing is stored yet" if grant != "refresh_token" else "yes: no refresh token"
    elif authorized and expired and not has_refresh:
        reauth = "yes: the access token expired and there is no refresh token"
    return pages.ConnectionRow(
        conn_id,
        grant,
        authorized=authorized,
        expires_at=info.get("access_token_expires_at"),
        expired=expired,
        has_refresh_token=has_refresh,
        last_refresh=info.get("last_refresh"),
        scope=info.get("scope"),
        reauthorization=reauth,
        connectable=connectable,
        note=note,
    )


def _rows(user: Any, callback_url: str) -> list[pages.ConnectionRow]:
    rows = []
    for conn_id, team in _oauth2_connections():
        if access.may_edit(user, conn_id, team):
            rows.append(_row(conn_id, callback_url))
    if not rows and not access.may_edit_some(user):
        raise Refused("Not allowed", "You may not edit connections, so you cannot authorize them.", 403)
    return rows


# -- Connect ------------------------------------------------------------------------------------


def _begin(store: PendingStore, user: Any, conn_id: str, callback_url: str) -> str:
    """Check the connection, store a pending request, return the authorization URL."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from airflow_oauth_provider.authorization import begin_authorization

    team = access.connection_team(conn_id)
    if not access.may_edit(user, conn_id, team):
        raise Refused("Not allowed", f"You may not edit connection {conn_id!r}, so you cannot authorize it.", 403)
    hook = _hook(conn_id)
    try:
        settings = hook.settings
    except OAuth2Error as err:
        raise Refused("Invalid connection", f"Connection {conn_id!r}: {err}", 400) from None
    except AirflowNotFoundException:
        raise Refused("No such connection", f"There is no connection {conn_id!r}.", 404) from None
    if settings.grant_type != "authorization_code":
        raise Refused(
            "Not an authorization_code connection",
            f"Connection {conn_id!r} uses the {settings.grant_type} grant; the Connect button is for "
            f"authorization_code. For device_code run `airflow oauth2 authorize {conn_id}`.",
            400,
        )
    if not settings.persist_token:
        raise Refused(
            "Token would not be stored",
            f"Connection {conn_id!r} sets extra.persist_token to false: a token authorized here would live "
            "only in this API server process. Remove persist_token.",
            400,
        )
    if not _same_path(settings.redirect_uri, callback_url):
        raise Refused(
            "Redirect URI does not point here",
            f"Connection {conn_id!r} has redirect_uri {settings.redirect_uri}; for the Connect button set it to "
            f"{callback_url} and register that URI at the authorization server.",
            400,
        )
    try:
        request = begin_authorization(hook)
    except OAuth2Error as err:
        raise Refused("Invalid connection", f"Connection {conn_id!r}: {err}", 400) from None
    store.add(PendingAuthorization(conn_id, str(user.get_id()), request, team))
    log.info("Authorization of connection %r started in the UI by %s", conn_id, user.get_name())
    return request.url


# -- callback -----------------------------------------------------------------------------------


def _finish(store: PendingStore, user: Any, params: dict[str, str], query: str) -> pages.ConnectionRow:
    """Validate the callback against the pending request, exchange the code, store the token."""
    from airflow_oauth_provider.authorization import finish_authorization

    state = params.get("state", "")
    if not state:
        raise Refused("Authorization refused", "The callback carries no state; nothing was stored.", 400)
    pending = store.find(state)
    if pending is None:
        raise Refused(
            "Authorization refused",
            "The state of this callback is unknown or was already used (forged, replayed, or from an "
            "expired attempt); nothing was stored. Start again with Connect.",
            400,
        )
    conn_id = pending.conn_id
    if store.is_expired(pending):
        store.discard(state)
        raise Refused(
            "Authorization expired",
            f"The authorization of {conn_id!r} was started more than {store.ttl / 60:.0f} minutes ago; nothing "
            "was stored. Start again with Connect.",
            400,
        )
    if not access.may_edit(user, conn_id, access.connection_team(conn_id)):
        raise Refused("Not allowed", f"You may not edit connection {conn_id!r}; nothing was stored.", 403)
    if not secrets.compare_digest(pending.user_id.encode(), str(user.get_id()).encode()):
        raise Refused(
            "Authorization refused",
            f"The authorization of {conn_id!r} was started by another Airflow user; nothing was stored.",
            403,
        )
    if not store.claim(pending):
        raise Refused("Authorization refused", "This callback was already used; nothing more was stored.", 400)
    hook = _hook(conn_id)
    redirected = pending.request.redirect_uri.split("?", 1)[0] + "?" + query
    try:
        token = finish_authorization(hook, pending.request, redirected)
    except OAuth2LockTimeout as err:
        raise Refused("Authorization failed", f"{err}; nothing was stored. Try Connect again.", 503) from None
    except OAuth2TransportError as err:
        message = f"Connection {conn_id!r}: {err}; nothing was stored. Try Connect again."
        raise Refused("Authorization failed", message, 502) from None
    except OAuth2Error as err:  # refused by the user or the server, or a redirect that is not ours
        raise Refused("Authorization failed", f"Connection {conn_id!r}: {err}", 400) from None
    _audit(user, conn_id)
    log.info("Connection %r authorized in the UI by %s (version %s)", conn_id, user.get_name(), token.version)
    return pages.ConnectionRow(
        conn_id,
        "authorization_code",
        authorized=True,
        expires_at=_utc(token.expires_at),
        has_refresh_token=bool(token.refresh_token),
        scope=" ".join(token.scope) if token.scope else None,
    )


def _audit(user: Any, conn_id: str) -> None:
    """An entry in Airflow's audit log (Browse > Audit Log)."""
    import json

    from airflow.models.log import Log
    from airflow.utils.session import create_session

    try:
        with create_session() as session:
            session.add(
                Log(
                    event="oauth2.authorize",
                    owner=user.get_id(),
                    owner_display_name=user.get_name(),
                    extra=json.dumps({"conn_id": conn_id, "via": "ui"}),
                )
            )
    except Exception:  # the token is stored; a failed audit write must not turn that into an error page
        log.exception("Could not write the audit log entry for connection %r", conn_id)


# -- the app ------------------------------------------------------------------------------------


def create_app(store: PendingStore | None = None) -> FastAPI:
    """
    The FastAPI app Airflow mounts at :data:`URL_PREFIX`.

    :param store: where pending authorizations live (default: encrypted Variables).
    """
    pending = store or PendingStore()
    app = FastAPI(title="OAuth 2.0 connections", docs_url=None, redoc_url=None, openapi_url=None)

    def home(request: Request) -> str:
        return request.url_for(_INDEX).path

    def refused(request: Request, refusal: Refused) -> Response:
        return pages.refusal_page(refusal.title, refusal.message, refusal.status, home=home(request), link=refusal.link)

    async def signed_in(request: Request, next_url: str) -> Any:
        user = await access.authenticate(request)
        if user is None:
            raise Refused(
                "Sign in required",
                "This page needs an Airflow user who may edit connections; you are not signed in (or your "
                "session expired). Nothing was changed.",
                401,
                link=(access.login_url(next_url), "Sign in to Airflow"),
            )
        return user

    @app.get("/", name=_INDEX)
    async def index(request: Request) -> Response:
        try:
            user = await signed_in(request, home(request))
            callback_url = str(request.url_for(_CALLBACK))
            rows = await run_in_threadpool(_rows, user, callback_url)
        except Refused as refusal:
            return refused(request, refusal)
        except OAuth2Error as err:  # e.g. no encryption key configured on the API server
            return refused(request, Refused("OAuth 2.0 configuration problem", str(err), 500))
        return pages.index_page(rows, str(user.get_name()), callback_url)

    @app.get("/connect/{conn_id}", name=_CONNECT)
    async def connect(request: Request, conn_id: str) -> Response:
        try:
            user = await signed_in(request, home(request))
            if request.headers.get("sec-fetch-site") == "cross-site":
                # A page elsewhere must not start authorizations for a signed-in user (login CSRF).
                raise Refused(
                    "Start from Airflow",
                    "Authorizations start from the OAuth 2.0 connections page of Airflow, not from another "
                    "site. Nothing was changed.",
                    403,
                )
            url = await run_in_threadpool(_begin, pending, user, conn_id, str(request.url_for(_CALLBACK)))
        except Refused as refusal:
            return refused(request, refusal)
        except OAuth2Error as err:  # e.g. no encryption key configured on the API server
            return refused(request, Refused("OAuth 2.0 configuration problem", str(err), 500))
        return RedirectResponse(url, status_code=303, headers=pages.SECURITY_HEADERS)

    @app.get("/callback", name=_CALLBACK)
    async def callback(request: Request) -> Response:
        try:
            # A signed-out callback is refused before its state is even looked up: nothing changes,
            # and the pending request simply expires.
            user = await signed_in(request, home(request))
            row = await run_in_threadpool(_finish, pending, user, dict(request.query_params), request.url.query)
        except Refused as refusal:
            return refused(request, refusal)
        except OAuth2Error as err:  # e.g. no encryption key configured on the API server
            return refused(request, Refused("OAuth 2.0 configuration problem", str(err), 500))
        return pages.connected_page(row.conn_id, row.expires_at, row.scope, row.has_refresh_token, home=home(request))

    return app


app = create_app()


def _nav_href() -> str:
    """``/oauth2/`` under ``[api] base_url``'s path: the UI renders a nav href as given."""
    from airflow.providers.common.compat.sdk import conf

    base = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{base}{URL_PREFIX}/"


class OAuth2UIPlugin(AirflowPlugin):
    """The OAuth 2.0 connections page, Connect button and callback, in the API server."""

    name = "oauth2_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "OAuth 2.0 connections"}]
    # Airflow 3.3.2's React UI: with a url_route the page would load in an iframe sandboxed to
    # "allow-forms" (no cookies for the callback, no way out to the authorization server); without
    # one, a top-level nav item renders as a <button href> that does nothing, while an item in the
    # Admin menu (category "admin") is a real link that opens the page in a new tab.
    external_views = [{"name": "OAuth 2.0 connections", "href": _nav_href(), "destination": "nav", "category": "admin"}]
