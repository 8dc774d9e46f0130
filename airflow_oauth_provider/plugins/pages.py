"""The plugin's HTML pages. Every value is escaped; no scripts; never a token, secret or verifier."""

from __future__ import annotations

import dataclasses
from html import escape
from urllib.parse import quote

from starlette.responses import HTMLResponse

__all__ = ["ConnectionRow", "connected_page", "index_page", "refusal_page"]

#: Sent with every page: not cached, not framed, no scripts, no referrer (the callback URL holds a code).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_HOME_TITLE = "OAuth 2.0 connections"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a;max-width:72rem}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}.ok{color:#0a6b2d;font-weight:600}.bad{color:#a11;font-weight:600}
.warn{color:#8a5a00}code{background:#f4f4f4;padding:0 .2rem}
a.button{display:inline-block;padding:.35rem .8rem;border-radius:.3rem;background:#017cee;color:#fff;
text-decoration:none}a.button:hover{background:#0160c0}.muted{color:#666}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    full = title if title == _HOME_TITLE else f"{title} - {_HOME_TITLE}"
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(full)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


@dataclasses.dataclass(frozen=True)
class ConnectionRow:
    """
    What the status page shows for one ``oauth2`` connection.

    :param conn_id: the connection id.
    :param grant_type: its grant, or ``None`` when the connection is invalid.
    :param authorized: a token is stored.
    :param expires_at: ISO time the access token expires, if known.
    :param expired: the access token is expired.
    :param has_refresh_token: a refresh token is stored (renewed without a human).
    :param last_refresh: ISO time the stored token was last written.
    :param scope: granted scopes.
    :param reauthorization: why a human must authorize again, or ``None``.
    :param connectable: the Connect button applies (authorization_code).
    :param on_demand: the grant needs no human and its tokens are not stored (client_credentials...).
    :param note: a configuration problem or hint.
    """

    conn_id: str
    grant_type: str | None = None
    authorized: bool = False
    expires_at: str | None = None
    expired: bool = False
    has_refresh_token: bool = False
    last_refresh: str | None = None
    scope: str | None = None
    reauthorization: str | None = None
    connectable: bool = False
    on_demand: bool = False
    note: str | None = None


def _cell(value: str | None) -> str:
    return escape(value) if value else '<span class="muted">-</span>'


def index_page(rows: list[ConnectionRow], user_name: str, callback_url: str) -> HTMLResponse:
    """
    The per-connection status page, with a Connect button for authorization_code connections.

    :param rows: the connections the user may edit.
    :param user_name: the signed-in Airflow user.
    :param callback_url: the redirect URI the connections must register.
    """
    lines = []
    for row in rows:
        if row.authorized:
            state = '<span class="ok">authorized</span>'
        elif row.on_demand:
            state = '<span class="muted">obtained on demand (not stored)</span>'
        elif row.grant_type is None:
            state = '<span class="bad">invalid</span>'
        else:
            state = '<span class="muted">not authorized</span>'
        reauth = f'<span class="bad">{escape(row.reauthorization)}</span>' if row.reauthorization else "no"
        expiry = _cell(row.expires_at) + (' <span class="bad">(expired)</span>' if row.expired else "")
        button = (
            f'<a class="button" id="connect-{escape(row.conn_id)}" '
            f'href="connect/{quote(row.conn_id, safe="")}">{"Reconnect" if row.authorized else "Connect"}</a>'
            if row.connectable
            else '<span class="muted">-</span>'
        )
        note = f'<br><span class="warn">{escape(row.note)}</span>' if row.note else ""
        lines.append(
            f'<tr id="row-{escape(row.conn_id)}"><td><code>{escape(row.conn_id)}</code>{note}</td>'
            f"<td>{_cell(row.grant_type)}</td><td>{state}</td><td>{expiry}</td>"
            f"<td>{'yes' if row.has_refresh_token else 'no'}</td><td>{_cell(row.last_refresh)}</td>"
            f"<td>{_cell(row.scope)}</td><td>{reauth}</td><td>{button}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>Connection</th><th>Grant</th><th>Status</th><th>Access token expires (UTC)</th>"
        "<th>Refresh token</th><th>Last refresh (UTC)</th><th>Scope</th><th>Re-authorization needed</th>"
        "<th></th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>"
        if lines
        else "<p>No <code>oauth2</code> connection you may edit is stored in the metadata database.</p>"
    )
    body = (
        f'<p class="muted">Signed in as <strong>{escape(user_name)}</strong>. '
        "Connect opens the authorization server's consent page; the token is stored encrypted and "
        "refreshed by tasks from then on.</p>"
        f'{table}<p class="muted">Connections using the Connect button must set '
        f"<code>redirect_uri</code> to <code>{escape(callback_url)}</code> and register it at the "
        "authorization server.</p>"
    )
    return _page(_HOME_TITLE, body)


def refusal_page(
    title: str, message: str, status: int, *, home: str, link: tuple[str, str] | None = None
) -> HTMLResponse:
    """
    A refusal or failure: what happened and what to do; nothing was changed.

    :param title: the heading.
    :param message: one or two sentences.
    :param status: the HTTP status (4xx/5xx).
    :param home: the path of the status page.
    :param link: optional ``(href, text)``, e.g. the login page.
    """
    extra = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    back = f'<p><a href="{escape(home)}">Back to OAuth 2.0 connections</a></p>'
    body = f'<p role="alert" id="message">{escape(message)}</p>{extra}{back}'
    return _page(title, body, status)


def connected_page(
    conn_id: str, expires_at: str | None, scope: str | None, has_refresh_token: bool, *, home: str
) -> HTMLResponse:
    """
    The callback's success page.

    :param conn_id: the connection now authorized.
    :param expires_at: ISO time (UTC) the access token expires, if the server said.
    :param scope: the granted scopes.
    :param has_refresh_token: whether tasks can renew the token on their own.
    :param home: the path of the status page.
    """
    until = f'until <strong id="expires-at">{escape(expires_at)}</strong>' if expires_at else "(expiry unknown)"
    renewal = (
        "A refresh token was stored: tasks renew the access token on their own."
        if has_refresh_token
        else "No refresh token was issued: authorize again when the access token expires."
    )
    body = (
        f'<p id="message">Connection <code id="conn-id">{escape(conn_id)}</code> is authorized {until}, '
        f'with scope <code id="scope">{escape(scope or "(not stated)")}</code>.</p>'
        f'<p>{escape(renewal)}</p><p><a href="{escape(home)}">Back to OAuth 2.0 connections</a></p>'
    )
    return _page("Connection authorized", body)
