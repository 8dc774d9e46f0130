"""
Test controls, loopback callers only: counters, client registration, fault injection, settings.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from flask import Response, abort, jsonify, request

from airflow_oauth_provider.sandbox.config import is_loopback_host
from airflow_oauth_provider.sandbox.grants import ALL_AUTH_METHODS
from airflow_oauth_provider.sandbox.models import SCOPES, Client, Fault
from airflow_oauth_provider.sandbox.server import GRANT_TYPES

if TYPE_CHECKING:
    from flask import Flask

    from airflow_oauth_provider.sandbox.config import SandboxConfig
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["client_from_json", "fault_from_json", "register_admin_routes"]

_SECRET_METHODS = {"client_secret_basic", "client_secret_post", "client_secret_jwt"}


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name!r} must be a string or a list of strings")
    return tuple(value)


def client_from_json(data: dict[str, Any], config: SandboxConfig) -> Client:
    """
    A client from a registration document (RFC 7591 names).

    :param data: ``client_id``, ``client_secret``, ``token_endpoint_auth_method`` (or
        ``token_endpoint_auth_methods``), ``grant_types``, ``redirect_uris``, ``scope``, ``jwks``,
        ``access_token_lifetime``, ``allow_any_loopback_redirect``.
    :param config: server settings supplying defaults.
    :raises ValueError: naming the first invalid field.
    """
    known = {
        "client_id",
        "client_secret",
        "token_endpoint_auth_method",
        "token_endpoint_auth_methods",
        "grant_types",
        "redirect_uris",
        "scope",
        "jwks",
        "access_token_lifetime",
        "allow_any_loopback_redirect",
    }
    if unknown := sorted(set(data) - known):
        raise ValueError(f"unknown fields {unknown}; known: {sorted(known)}")
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("'client_id' is required")
    methods = _strings(
        data.get("token_endpoint_auth_methods", data.get("token_endpoint_auth_method", "client_secret_basic")),
        "token_endpoint_auth_method",
    )
    if bad := [m for m in methods if m not in ALL_AUTH_METHODS]:
        raise ValueError(f"unsupported auth methods {bad}; supported: {ALL_AUTH_METHODS}")
    if "none" in methods and len(methods) > 1:
        raise ValueError("a public client ('none') cannot have other auth methods")
    secret = data.get("client_secret")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("'client_secret' must be a string")
    if _SECRET_METHODS & set(methods) and not secret:
        raise ValueError(f"'client_secret' is required for {sorted(_SECRET_METHODS & set(methods))}")
    jwks = data.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise ValueError("'jwks' must be a JWK Set or a JWK object")
    if "private_key_jwt" in methods and not jwks:
        raise ValueError("'jwks' is required for private_key_jwt")
    grant_types = _strings(data.get("grant_types", ["client_credentials"]), "grant_types")
    if bad := [g for g in grant_types if g not in GRANT_TYPES]:
        raise ValueError(f"unsupported grant types {bad}; supported: {GRANT_TYPES}")
    scope = data.get("scope", " ".join(SCOPES))
    if not isinstance(scope, str) or not set(scope.split()) <= set(SCOPES):
        raise ValueError(f"'scope' must be a space-separated subset of {list(SCOPES)}")
    lifetime = data.get("access_token_lifetime")
    if lifetime is not None and (type(lifetime) is not int or lifetime < 1):
        raise ValueError("'access_token_lifetime' must be a positive integer")
    any_loopback = data.get("allow_any_loopback_redirect", config.allow_any_loopback_redirect)
    if not isinstance(any_loopback, bool):
        raise ValueError("'allow_any_loopback_redirect' must be a boolean")
    return Client(
        client_id=client_id,
        client_secret=secret,
        token_endpoint_auth_methods=methods,
        grant_types=grant_types,
        redirect_uris=_strings(data.get("redirect_uris", list(config.redirect_uris)), "redirect_uris"),
        scope=scope,
        jwks=jwks,
        access_token_lifetime=lifetime,
        allow_any_loopback_redirect=any_loopback,
    )


def fault_from_json(data: dict[str, Any]) -> Fault:
    """
    A fault from ``{"path", "status", "count", "retry_after", "delay"}``.

    :param data: ``path`` (exact, or a prefix ending in ``*``); ``status`` 400-599 and/or
        ``delay`` seconds; ``count`` (default 1); ``retry_after`` (Retry-After header value).
    :raises ValueError: naming the first invalid field.
    """
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("'path' must be an absolute path such as /api/items")
    status = data.get("status")
    if status is not None and (type(status) is not int or not 400 <= status <= 599):
        raise ValueError("'status' must be an integer from 400 to 599")
    count = data.get("count", 1)
    if type(count) is not int or count < 0:
        raise ValueError("'count' must be a non-negative integer")
    retry_after = data.get("retry_after")
    if retry_after is not None:
        retry_after = str(retry_after)
    delay = data.get("delay", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 60:
        raise ValueError("'delay' must be a number of seconds from 0 to 60")
    if status is None and not delay:
        raise ValueError("give 'status', 'delay' or both")
    return Fault(path=path, count=count, status=status, retry_after=retry_after, delay=float(delay))


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_error(400, "expected a JSON object"))
    return body


def _error(status: int, description: str) -> Response:
    response = jsonify({"error": "invalid_request" if status == 400 else "forbidden", "error_description": description})
    response.status_code = status
    return response


def register_admin_routes(app: Flask, state: SandboxState) -> None:
    """
    Add ``/stats`` and ``/admin/*`` to ``app``; each answers 403 to a non-loopback caller.

    :param app: the Flask app.
    :param state: its store.
    """

    @app.before_request
    def loopback_only() -> Response | None:
        if request.path.startswith(("/admin/", "/stats")) and not is_loopback_host(request.remote_addr or ""):
            return _error(403, "loopback callers only")
        return None

    @app.get("/stats")
    def stats() -> Response:
        return jsonify(state.stats())

    @app.post("/stats/reset")
    def reset_stats() -> Response:
        state.reset_stats()
        return jsonify(state.stats())

    @app.post("/admin/clients")
    def register_client() -> tuple[Response, int]:
        try:
            client = client_from_json(_json_body(), state.config)
        except ValueError as error:
            return _error(400, str(error)), 400
        state.add_client(client)
        return jsonify(client.describe()), 201

    @app.post("/admin/faults")
    def add_fault() -> tuple[Response, int]:
        try:
            fault = fault_from_json(_json_body())
        except ValueError as error:
            return _error(400, str(error)), 400
        state.add_fault(fault)
        return jsonify(dataclasses.asdict(fault)), 201

    @app.delete("/admin/faults")
    def clear_faults() -> tuple[str, int]:
        state.clear_faults()
        return "", 204

    @app.get("/admin/config")
    def show_config() -> Response:
        return jsonify(dataclasses.asdict(state.config))

    @app.post("/admin/config")
    def change_config() -> tuple[Response, int]:
        try:
            config = state.update_config(_json_body())
        except ValueError as error:
            return _error(400, str(error)), 400
        return jsonify(dataclasses.asdict(config)), 200
