"""The Flask app: authorization server + protected API + test controls, with counters and faults."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Flask, g, jsonify, request

from airflow_oauth_provider.sandbox.admin import register_admin_routes
from airflow_oauth_provider.sandbox.api import register_api_routes
from airflow_oauth_provider.sandbox.context import EXTENSION_KEY
from airflow_oauth_provider.sandbox.oauth_views import register_oauth_routes
from airflow_oauth_provider.sandbox.server import build_oauth
from airflow_oauth_provider.sandbox.store import SandboxState

if TYPE_CHECKING:
    from flask import Response

    from airflow_oauth_provider.sandbox.config import SandboxConfig

__all__ = ["create_app"]

# No AUTHLIB_INSECURE_TRANSPORT: Authlib (>= 1.6.2) accepts plain http for loopback hosts
# (RFC 8252 §7.3), and the sandbox only ever listens on loopback.


def create_app(config: SandboxConfig) -> Flask:
    """
    The sandbox as a WSGI app, with fresh in-memory state.

    :param config: the settings; the app keeps its own copy, changed through ``/admin/config``.
    """
    app = Flask("airflow_oauth_provider.sandbox")
    state = SandboxState(config)
    app.extensions[EXTENSION_KEY] = state
    server, require_oauth = build_oauth(app, state)

    register_admin_routes(app, state)

    @app.before_request
    def count_and_inject_faults() -> Response | None:
        path = request.path
        if path == "/token" and request.method == "POST":
            state.count_token_request(request.form.get("grant_type") or "(missing)")
        if path.startswith("/api/"):
            state.count("api_calls")
        if path.startswith(("/admin/", "/stats")):
            return None
        fault = state.take_fault(path)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return None
        g.sandbox_fault = True
        response = jsonify({"error": "injected_fault", "error_description": f"Injected HTTP {fault.status}."})
        response.status_code = fault.status
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    @app.after_request
    def count_outcomes(response: Response) -> Response:
        path = request.path
        if g.get("sandbox_fault"):
            return response
        if path == "/token" and response.status_code >= 400:
            body = response.get_json(silent=True)
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                state.count_token_error(body["error"])
        elif path.startswith("/api/") and response.status_code in (401, 403):
            state.count(f"api_{response.status_code}")
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    register_oauth_routes(app, server, state)
    register_api_routes(app, require_oauth, state)
    return app
