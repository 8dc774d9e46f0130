"""The protected API (RFC 6750 Bearer): paged items, the caller's identity, slow jobs."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import current_token
from flask import Response, jsonify, request

if TYPE_CHECKING:
    from flask import Flask

    from airflow_oauth_provider.sandbox.server import SandboxResourceProtector
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["MAX_PER_PAGE", "register_api_routes"]

MAX_PER_PAGE = 100


def _bad_request(description: str) -> tuple[Response, int]:
    return jsonify({"error": "invalid_request", "error_description": description}), 400


def _positive_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = int(raw)  # ValueError handled by the caller
    if value < 1:
        raise ValueError(name)
    return value


def register_api_routes(app: Flask, require_oauth: SandboxResourceProtector, state: SandboxState) -> None:
    """
    Add the protected API's routes to ``app``.

    :param app: the Flask app.
    :param require_oauth: the resource protector checking Bearer tokens.
    :param state: the store.
    """

    @app.get("/api/items")
    @require_oauth("items:read")
    def list_items() -> Any:
        """``?page=N&per_page=M``: one page of the items, ``next_page`` null on the last."""
        config = state.config
        try:
            page = _positive_int("page", 1)
            per_page = min(_positive_int("per_page", config.items_per_page), MAX_PER_PAGE)
        except ValueError:
            return _bad_request("'page' and 'per_page' must be positive integers.")
        total = config.items_total
        first = (page - 1) * per_page + 1
        last = min(page * per_page, total)
        items = [{"id": i, "name": f"item-{i:03d}"} for i in range(first, last + 1)]
        return jsonify(
            {
                "items": items,
                "page": page,
                "per_page": per_page,
                "total": total,
                "next_page": page + 1 if last < total else None,
            }
        )

    @app.post("/api/items")
    @require_oauth("items:write")
    def create_item() -> Any:
        body = request.get_json(silent=True) or {}
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _bad_request("JSON body needs a non-empty 'name'.")
        return jsonify({"id": secrets.token_hex(4), "name": name}), 201

    @app.get("/api/me")
    @require_oauth()
    def me() -> Any:
        return jsonify(
            {"client_id": current_token.client_id, "user": current_token.username, "scope": current_token.scope}
        )

    @app.post("/api/jobs")
    @require_oauth("jobs")
    def create_job() -> Any:
        """JSON ``{"polls_until_done": K}`` (default 3): the K-th ``GET`` of the job answers ``done``."""
        body = request.get_json(silent=True) or {}
        polls = body.get("polls_until_done", 3) if isinstance(body, dict) else 3
        if type(polls) is not int or polls < 0:
            return _bad_request("'polls_until_done' must be a non-negative integer.")
        job = state.create_job(current_token.client_id, polls)
        response = jsonify({"id": job.id, "status": "running", "polls": 0})
        response.headers["Location"] = f"/api/jobs/{job.id}"
        return response, 201

    @app.get("/api/jobs/<job_id>")
    @require_oauth("jobs")
    def get_job(job_id: str) -> Any:
        polled = state.poll_job(job_id)
        if polled is None:
            return jsonify({"error": "not_found", "error_description": "No such job."}), 404
        job, status, polls = polled
        body: dict[str, Any] = {"id": job.id, "status": status, "polls": polls}
        if status == "done":
            body["result"] = {"items_processed": state.config.items_total}
        return jsonify(body)
