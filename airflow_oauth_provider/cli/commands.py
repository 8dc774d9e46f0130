"""Implementations of ``airflow oauth2 ...``: thin wrappers over :mod:`airflow_oauth_provider.authorization`."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

from airflow_oauth_provider import authorization
from airflow_oauth_provider.authorization import OAuth2AuthorizationError
from airflow_oauth_provider.exceptions import OAuth2Error
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.settings import is_loopback_host

if TYPE_CHECKING:
    import argparse

    from airflow_oauth_provider.protocol import DeviceAuthorization

__all__ = ["authorize", "revoke", "sandbox", "status"]

DONE_PAGE = (
    b"<!doctype html><title>Authorization received</title><h1>Authorization received</h1>"
    b"<p>You can close this window; the terminal shows whether the connection was authorized.</p>"
)


def _say(text: str = "") -> None:
    print(text, flush=True)


def _fail(err: Exception | str) -> NoReturn:
    """One line that says what happened and what to do; exit status 1."""
    print("error: " + " ".join(str(err).split()), file=sys.stderr, flush=True)
    raise SystemExit(1)


def _hook(conn_id: str) -> OAuth2Hook:
    """The connection's hook, its settings read now so that a bad connection fails here, in one line."""
    from airflow.providers.common.compat.sdk import AirflowException

    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    try:
        hook.settings  # noqa: B018 - reads and validates the connection (and discovers endpoints)
    except OAuth2Error as err:
        _fail(err)
    except AirflowException as err:  # AirflowNotFoundException: no such connection
        _fail(
            f"{err}; define it in the UI, with `airflow connections add {conn_id} --conn-type oauth2 ...`, "
            f"or as AIRFLOW_CONN_{conn_id.upper()}"
        )
    return hook


def _summary(conn_id: str, token: Any) -> str:
    import time

    expiry = (
        "unknown" if token.expires_at is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(token.expires_at))
    )
    scope = " ".join(token.scope) if token.scope else "(not stated)"
    refresh = "with a refresh token" if token.refresh_token else "WITHOUT a refresh token (re-authorize at expiry)"
    return (
        f"Connection {conn_id!r} authorized {refresh}; access token expires {expiry}; "
        f"scopes: {scope}; record version {token.version}"
    )


def _gui_browser_available() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class _RedirectCatcher:
    """A one-shot HTTP listener on a loopback redirect_uri (RFC 8252 §7.3)."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self.path = parts.path or "/"
        self.received: str | None = None
        self._event = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target = urlsplit(self.path)
                if target.path.rstrip("/") != catcher.path.rstrip("/"):
                    self.send_error(404)
                    return
                if catcher._event.is_set() or not {"code", "error"} & {k for k, _ in parse_qsl(target.query)}:
                    # Not an authorization response (a prefetch, a reload): keep waiting for the real one.
                    self.send_error(400, "Not an authorization response")
                    return
                catcher.received = f"{parts.scheme}://{parts.netloc}{self.path}"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(DONE_PAGE)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(DONE_PAGE)
                catcher._event.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the query string carries the code

        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80

        class Server(HTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        try:
            self._server = Server(("127.0.0.1" if host == "localhost" else host, port), Handler)
        except OSError as err:
            raise OAuth2Error(
                f"cannot listen on {host}:{port} for the redirect ({err.strerror}); free the port, or run with "
                "--no-browser and paste the URL you are redirected to"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str | None:
        self._event.wait(timeout)
        self._server.shutdown()
        self._server.server_close()
        return self.received


def authorize(args: argparse.Namespace) -> None:
    """``airflow oauth2 authorize CONN_ID``."""
    # One "Requesting a token" line per device poll would bury the prompt; warnings still show.
    logging.getLogger("airflow_oauth_provider.hooks.oauth2").setLevel(logging.WARNING)
    hook = _hook(args.conn_id)
    try:
        grant_type = hook.settings.grant_type
        if grant_type == "device_code":
            token = authorization.device_authorization(hook, _show_device_code, timeout=args.timeout)
        elif grant_type == "authorization_code":
            token = _authorize_code(hook, args)
        else:
            raise OAuth2Error(
                f"connection {args.conn_id!r} uses {grant_type}, which needs no user authorization: tasks obtain "
                "tokens on their own. Only authorization_code and device_code connections are authorized here"
            )
    except OAuth2Error as err:
        _fail(err)
    _say(_summary(args.conn_id, token))


def _authorize_code(hook: OAuth2Hook, args: argparse.Namespace) -> Any:
    request = authorization.begin_authorization(hook, tuple(args.add_scope or ()))
    redirect = urlsplit(request.redirect_uri)
    loopback = redirect.scheme == "http" and is_loopback_host(redirect.hostname) and not args.no_browser
    catcher = _RedirectCatcher(request.redirect_uri) if loopback else None
    _say(f"Open this URL in a browser to authorize connection {hook.oauth2_conn_id!r}:")
    _say(f"  {request.url}")
    if catcher is not None:
        _say(f"Waiting up to {args.timeout:.0f} s for the redirect to {request.redirect_uri} ...")
        if _gui_browser_available():
            webbrowser.open(request.url)
        redirected = catcher.wait(args.timeout)
        if redirected is None:
            raise OAuth2AuthorizationError(
                f"no redirect arrived at {request.redirect_uri} within {args.timeout:.0f} s; nothing was stored. "
                f"Run `airflow oauth2 authorize {hook.oauth2_conn_id}` again (or with --no-browser, and paste the "
                "URL you were redirected to)"
            )
    else:
        _say("After approving, paste the full URL your browser was redirected to, then press Enter:")
        redirected = sys.stdin.readline().strip()
        if not redirected:
            raise OAuth2AuthorizationError(
                f"no redirect URL was pasted; nothing was stored. Run `airflow oauth2 authorize {hook.oauth2_conn_id}` "
                "--no-browser again and paste the whole address your browser shows after approving"
            )
    return authorization.finish_authorization(hook, request, redirected)


def _show_device_code(device: DeviceAuthorization) -> None:
    _say(f"To authorize, visit {device.verification_uri} and enter the code: {device.user_code}")
    if device.verification_uri_complete:
        _say(f"  or open {device.verification_uri_complete}")
    _say(f"Waiting for approval (the code expires in {device.expires_in} s) ...")


def status(args: argparse.Namespace) -> None:
    """``airflow oauth2 status CONN_ID``."""
    hook = _hook(args.conn_id)
    try:
        info = authorization.status(hook)
    except OAuth2Error as err:
        _fail(err)
    if args.output == "json":
        _say(json.dumps(info))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        _say(f"{key.ljust(width)}  {'-' if value is None else value}")


def revoke(args: argparse.Namespace) -> None:
    """``airflow oauth2 revoke CONN_ID``."""
    hook = _hook(args.conn_id)
    if not args.yes:
        try:
            answer = input(f"Revoke and delete the stored tokens of {args.conn_id!r}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            _say("Nothing was changed (pass -y to skip this question).")
            return
    try:
        for line in authorization.revoke(hook):
            _say(line)
    except OAuth2Error as err:
        _fail(err)


def sandbox(args: argparse.Namespace) -> None:
    """``airflow oauth2 sandbox``: the local authorization server, in the foreground."""
    from airflow_oauth_provider.sandbox.__main__ import main  # type: ignore[import-not-found,unused-ignore]

    main(["--port", str(args.port), "--access-token-lifetime", str(args.access_token_lifetime)])
