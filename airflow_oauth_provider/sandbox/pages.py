"""The few HTML pages a user sees: login + consent, device code entry, errors. Every value is escaped."""

from __future__ import annotations

from html import escape

from flask import Response

__all__ = ["consent_page", "device_page", "error_page", "message_page"]

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - OAuth sandbox</title></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status: int) -> Response:
    html = _LAYOUT.format(title=escape(title), body=body)
    return Response(html, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"})


def consent_page(action: str, client_id: str, scope: str, error: str | None = None, status: int = 200) -> Response:
    """
    The login + consent form of ``/authorize``; it posts back to ``action`` (the same query string).

    :param action: the form's target, path and query of the authorization request.
    :param client_id: the requesting client.
    :param scope: the scope it asks for.
    :param error: a message to show above the form.
    :param status: the HTTP status.
    """
    notice = f'<p role="alert">{escape(error)}</p>' if error else ""
    body = f"""{notice}
<p>Client <strong>{escape(client_id)}</strong> asks for: <code>{escape(scope)}</code></p>
<form method="post" action="{escape(action)}">
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button name="confirm" value="yes">Allow</button>
  <button name="confirm" value="no">Deny</button>
</form>"""
    return _page("Authorize", body, status)


def device_page(user_code: str = "", error: str | None = None, status: int = 200) -> Response:
    """
    The ``/device`` form where a user enters a user code and approves or denies it.

    :param user_code: prefilled code (from ``verification_uri_complete``).
    :param error: a message to show above the form.
    :param status: the HTTP status.
    """
    notice = f'<p role="alert">{escape(error)}</p>' if error else ""
    body = f"""{notice}
<form method="post" action="/device">
  <label>Code <input name="user_code" value="{escape(user_code)}" autocomplete="off"></label>
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button name="action" value="approve">Approve</button>
  <button name="action" value="deny">Deny</button>
</form>"""
    return _page("Connect a device", body, status)


def error_page(error: str, description: str | None, status: int = 400) -> Response:
    """
    An authorization error shown to the user, never redirected (RFC 6749 §4.1.2.1).

    :param error: the OAuth error code.
    :param description: its description.
    :param status: the HTTP status.
    """
    body = (
        f'<p>Error: <code id="error">{escape(error)}</code></p>'
        f'<p id="error_description">{escape(description or "")}</p>'
    )
    return _page("Authorization error", body, status)


def message_page(title: str, message: str, status: int = 200) -> Response:
    """
    A plain page with one message.

    :param title: the heading.
    :param message: the text.
    :param status: the HTTP status.
    """
    return _page(title, f"<p>{escape(message)}</p>", status)
