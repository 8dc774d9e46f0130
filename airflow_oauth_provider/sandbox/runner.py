"""Serving the sandbox: a threaded werkzeug server on loopback, in a background thread or in front."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from airflow_oauth_provider.sandbox.admin import client_from_json, fault_from_json
from airflow_oauth_provider.sandbox.app import create_app
from airflow_oauth_provider.sandbox.config import SandboxConfig, is_loopback_host
from airflow_oauth_provider.sandbox.context import EXTENSION_KEY

if TYPE_CHECKING:
    from types import TracebackType

    from flask import Flask

    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["SandboxServer", "bind"]

log = logging.getLogger("airflow_oauth_provider.sandbox")


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs nothing per request: query strings carry codes and states."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _VerboseRequestHandler(WSGIRequestHandler):
    """Logs method, path and status, never the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, urlsplit(self.path).path, getattr(code, "value", code))


def bind(config: SandboxConfig) -> tuple[BaseWSGIServer, Flask]:
    """
    Create the app and a threaded server bound to ``config.host`` / ``config.port``.

    :param config: the settings; the host must be loopback.
    :raises ValueError: for a non-loopback host.
    """
    if not is_loopback_host(config.host):
        raise ValueError(f"the sandbox only binds to a loopback address, not {config.host!r}")
    app = create_app(config)
    handler = _VerboseRequestHandler if config.verbose else _QuietRequestHandler
    server = make_server(config.host, config.port, app, threaded=True, request_handler=handler)
    return server, app


def server_url(server: BaseWSGIServer) -> str:
    host = server.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.server_port}"


class SandboxServer:
    """
    The sandbox on a loopback port, served from a background thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with SandboxServer(SandboxConfig(port=0, device_interval=1)) as sandbox:
            requests.post(f"{sandbox.url}/token", ...)

    :param config: the settings; default ``SandboxConfig()`` (free port on 127.0.0.1).
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: Flask | None = None

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._server, self.app = bind(self.config)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oauth-sandbox-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return server_url(self._server)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def state(self) -> SandboxState:
        """The live in-memory state (for tests that look inside)."""
        if self.app is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        state: SandboxState = self.app.extensions[EXTENSION_KEY]
        return state

    def stats(self) -> dict[str, Any]:
        """The counters, as ``GET /stats`` returns them."""
        return self.state.stats()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.state.reset_stats()

    def register_client(self, **registration: Any) -> None:
        """
        Register a client, as ``POST /admin/clients`` does.

        :param registration: the registration fields, e.g. ``client_id``, ``client_secret``,
            ``token_endpoint_auth_method``, ``grant_types``, ``jwks``, ``access_token_lifetime``.
        :raises ValueError: naming an invalid field.
        """
        self.state.add_client(client_from_json(registration, self.state.config))

    def inject_fault(
        self,
        path: str,
        status: int | None = None,
        count: int = 1,
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """
        Make the next ``count`` requests to ``path`` fail, as ``POST /admin/faults`` does.

        :param path: exact path, or a prefix ending in ``*``.
        :param status: the HTTP status to answer (400-599).
        :param count: how many requests it applies to.
        :param retry_after: a ``Retry-After`` header value.
        :param delay: seconds to wait before answering.
        """
        fault = {"path": path, "status": status, "count": count, "retry_after": retry_after, "delay": delay}
        self.state.add_fault(fault_from_json(fault))

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def update_config(self, **changes: Any) -> SandboxConfig:
        """
        Change runtime settings, as ``POST /admin/config`` does.

        :param changes: e.g. ``access_token_lifetime=2``, ``rotate_refresh_tokens=False``.
        """
        return self.state.update_config(changes)

    def __repr__(self) -> str:
        where = server_url(self._server) if self._server else "stopped"
        return f"SandboxServer({where}, {self.config!r})"
