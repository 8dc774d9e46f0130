"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_oauth_provider import __version__

__all__ = ["get_provider_info"]


def _field(
    label: str,
    description: str,
    *,
    kind: str = "string",
    default: Any = None,
    enum: list[str] | None = None,
    fmt: str | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if default is not None:
        schema["default"] = default
    if enum:
        schema["enum"] = enum
    if fmt:
        schema["format"] = fmt
    return {"label": label, "description": description, "schema": schema}


CONN_FIELDS: dict[str, dict[str, Any]] = {
    "grant_type": _field(
        "Grant type",
        "How tokens are obtained: client_credentials (service to service), authorization_code or "
        "device_code (a human consents once), refresh_token (paste one refresh token), jwt_bearer.",
        default="client_credentials",
        enum=["client_credentials", "authorization_code", "device_code", "refresh_token", "jwt_bearer"],
    ),
    "token_url": _field("Token URL", "The authorization server's token endpoint (https)."),
    "issuer": _field("Issuer", "Instead of endpoint URLs: the issuer for RFC 8414 / OIDC discovery."),
    "authorization_url": _field("Authorization URL", "For authorization_code: the authorization endpoint."),
    "device_authorization_url": _field("Device authorization URL", "For device_code (RFC 8628)."),
    "revocation_url": _field("Revocation URL", "RFC 7009 endpoint used by `airflow oauth2 revoke`."),
    "redirect_uri": _field("Redirect URI", "For authorization_code: registered redirect URI."),
    "scope": _field("Scope", "Space-separated scopes requested on token requests."),
    "audience": _field("Audience", "Sent as `audience` on token requests (Auth0 and similar)."),
    "resource": _field("Resource", "RFC 8707 resource indicator(s), space-separated."),
    "client_auth_method": _field(
        "Client authentication",
        "How the client authenticates at the token endpoint.",
        default="client_secret_basic",
        enum=["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"],
    ),
    "private_key": _field("Private key (PEM)", "For private_key_jwt / jwt_bearer; stored masked.", fmt="password"),
    "private_key_id": _field("Key ID (kid)", "Optional `kid` header of client assertions."),
    "refresh_token": _field(
        "Initial refresh token",
        "For grant refresh_token: pasted once; once the store holds a token, the store wins.",
        fmt="password",
    ),
    "leeway": _field(
        "Refresh leeway (s)", "Refresh this long before expiry (max half the lifetime).", kind="number", default=60
    ),
    "lock_timeout": _field("Lock timeout (s)", "Longest wait for the token lock.", kind="number", default=60),
    "lock_conn_id": _field("Lock connection", "Connection of the database that holds the token lock on workers."),
    "lock_backend": _field(
        "Lock backend", "auto, metadata, sql or file.", default="auto", enum=["auto", "metadata", "sql", "file"]
    ),
    "token_variable": _field(
        "Token Variable",
        "Variable that stores the encrypted token (default oauth2_token__<conn_id>).",
    ),
    "timeout": _field("Timeout (s)", "Connect and read timeout of token and API requests.", kind="number"),
    "verify": _field("Verify TLS", "true, false, or the path of a CA bundle.", default="true"),
    "allow_insecure_http": _field(
        "Allow http", "Allow plain http to non-loopback hosts (never in production).", kind="boolean", default=False
    ),
}


def get_provider_info() -> dict[str, Any]:
    """The provider info dict (schema: ``airflow/provider_info.schema.json``)."""
    return {
        "package-name": "airflow-oauth-provider",
        "name": "OAuth 2.0",
        "description": "Call OAuth 2.0 protected APIs from DAGs: grants, token refresh and rotation, "
        "tokens persisted encrypted and refreshed once per expiry across workers.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "OAuth 2.0",
                "external-doc-url": "https://datatracker.ietf.org/doc/html/rfc6749",
                "tags": ["protocol"],
            }
        ],
        "cli": ["airflow_oauth_provider.cli.definition.get_oauth2_cli_commands"],
        "hooks": [{"integration-name": "OAuth 2.0", "python-modules": ["airflow_oauth_provider.hooks.oauth2"]}],
        "connection-types": [
            {
                "hook-class-name": "airflow_oauth_provider.hooks.oauth2.OAuth2Hook",
                "hook-name": "OAuth 2.0",
                "connection-type": "oauth2",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "host": "API base URL",
                        "schema": "Scheme (https)",
                        "login": "Client ID",
                        "password": "Client secret",
                    },
                    "placeholders": {
                        "host": "https://api.example.com",
                        "schema": "https",
                        "login": "my-client-id",
                        "token_url": "https://auth.example.com/oauth/token",
                        "scope": "read:items write:items",
                        "extra": '{"send_scope_on_refresh": false}',
                    },
                },
            }
        ],
        "config": {
            "oauth2": {
                "description": "Options of the OAuth 2.0 provider's token store.",
                "options": {
                    "token_encryption_keys": {
                        "description": "Comma-separated Fernet keys that encrypt stored tokens, newest first "
                        "(rotation: prepend a new key, keep the old ones until every token was rewritten). "
                        "Empty: [core] fernet_key is used. Every worker, triggerer and the API server need it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "sensitive": True,
                        "example": "<new fernet key>,<old fernet key>",
                        "default": "",
                    },
                    "lock_conn_id": {
                        "description": "Connection of the database holding token locks for tasks and triggers "
                        "(PostgreSQL, MySQL/MariaDB or SQLite). Required when workers run on several hosts; a "
                        "connection's extra.lock_conn_id wins.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "oauth2_lock_db",
                        "default": "",
                    },
                    "lock_timeout": {
                        "description": "Default longest wait, in seconds, for a token lock.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "60",
                        "default": "60",
                    },
                    "leeway": {
                        "description": "Default seconds before expiry at which a token is refreshed "
                        "(never more than half its lifetime).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "60",
                        "default": "60",
                    },
                },
            }
        },
    }
