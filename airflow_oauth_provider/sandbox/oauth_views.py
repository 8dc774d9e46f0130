"""Routes of the authorization server: metadata, token, authorize, device, revocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2 import OAuth2Error
from flask import Response, jsonify, request

from airflow_oauth_provider.sandbox.models import USERS, User
from airflow_oauth_provider.sandbox.pages import consent_page, device_page, error_page, message_page
from airflow_oauth_provider.sandbox.server import server_metadata

if TYPE_CHECKING:
    from flask import Flask

    from airflow_oauth_provider.sandbox.server import SandboxAuthorizationServer
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["register_oauth_routes"]


def _login() -> User | None:
    user = USERS.get(request.form.get("username", ""))
    if user is None or not user.check_password(request.form.get("password", "")):
        return None
    return user


def register_oauth_routes(app: Flask, server: SandboxAuthorizationServer, state: SandboxState) -> None:
    """
    Add the authorization server's routes to ``app``.

    :param app: the Flask app.
    :param server: its Authlib authorization server.
    :param state: its store.
    """

    def authorization_error(error: OAuth2Error) -> Response:
        # RFC 6749 §4.1.2.1: redirect only to a redirect URI validated for the client.
        if error.redirect_uri:
            response: Response = server.handle_error_response(None, error)
            return response
        return error_page(error.error or "invalid_request", error.description, error.status_code or 400)

    @app.get("/.well-known/oauth-authorization-server")
    @app.get("/.well-known/openid-configuration")
    def metadata() -> Response:
        return jsonify(server_metadata())

    @app.post("/token")
    def token() -> Response:
        response: Response = server.create_token_response()
        return response

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return authorization_error(error)
        if request.method == "GET":
            return consent_page(request.full_path, grant.client.get_client_id(), grant.request.scope)
        if request.form.get("confirm") != "yes":
            denied: Response = server.create_authorization_response(grant=grant, grant_user=None)
            return denied
        user = _login()
        if user is None:
            return consent_page(
                request.full_path,
                grant.client.get_client_id(),
                grant.request.scope,
                error="Invalid username or password.",
                status=401,
            )
        granted: Response = server.create_authorization_response(grant=grant, grant_user=user)
        return granted

    @app.post("/device_authorization")
    def device_authorization() -> Response:
        response: Response = server.create_endpoint_response("device_authorization")
        return response

    @app.get("/device")
    def device_form() -> Response:
        return device_page(request.args.get("user_code", ""))

    @app.post("/device")
    def device_decision() -> Response:
        user_code = request.form.get("user_code", "")
        decision = request.form.get("action") or {"yes": "approve", "no": "deny"}.get(request.form.get("confirm", ""))
        if decision not in ("approve", "deny"):
            return device_page(user_code, "Choose approve or deny.", status=400)
        user = _login()
        if decision == "approve" and user is None:
            return device_page(user_code, "Invalid username or password.", status=401)
        problem = state.decide_device(user_code, user, approved=decision == "approve")
        if problem:
            return device_page(user_code, problem, status=400)
        if decision == "approve":
            return message_page("Device connected", "You may close this page and return to your device.")
        return message_page("Request denied", "The device was not given access.")

    @app.post("/revoke")
    def revoke() -> Response:
        response: Response = server.create_endpoint_response("revocation")
        if response.status_code == 200:
            state.count("revocations")
        return response
