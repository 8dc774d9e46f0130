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
    minimum: float | None = None,
) -> dict[str, Any]:
    """
    One field of the React connection form (``conn-fields``), stored unprefixed in ``extra``.

    ``format: password`` renders a masked input with a "show" toggle and marks the field
    sensitive; ``enum`` renders a dropdown. Placeholders are not shown for these fields in
    Airflow 3.3.2, so examples go into the description.
    """
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if default is not None:
        schema["default"] = default
    if enum:
        schema["enum"] = enum
    if fmt:
        schema["format"] = fmt
    if minimum is not None:
        schema["minimum"] = minimum
    return {"label": label, "description": description, "schema": schema}


# Defaults are given only where the form must show a choice; everything else stays empty so that
# the provider's own defaults and the deployment-wide [oauth2] options apply (a default here would
# be written into every connection saved from the form).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "grant_type": _field(
        "Grant type",
        "How tokens are obtained. client_credentials: service to service, no user. authorization_code: a "
        "user consents once (Connect button under Admin > OAuth 2.0 connections, or `airflow oauth2 "
        "authorize`). device_code: a user approves a code once (`airflow oauth2 authorize`). refresh_token: "
        "paste a refresh token once below. jwt_bearer: a signed assertion (RFC 7523) with the private key.",
        default="client_credentials",
        enum=["client_credentials", "authorization_code", "device_code", "refresh_token", "jwt_bearer"],
    ),
    "token_url": _field(
        "Token URL",
        "The authorization server's token endpoint, e.g. https://auth.example.com/oauth/token. "
        "Required unless Issuer is set.",
    ),
    "issuer": _field(
        "Issuer",
        "Instead of the endpoint URLs: the issuer URL, e.g. https://auth.example.com; the endpoints are "
        "discovered from its RFC 8414 / OpenID Connect metadata.",
    ),
    "authorization_url": _field(
        "Authorization URL",
        "authorization_code only: the authorization endpoint the user's browser is sent to, e.g. "
        "https://auth.example.com/oauth/authorize.",
    ),
    "device_authorization_url": _field(
        "Device authorization URL",
        "device_code only: the RFC 8628 device authorization endpoint.",
    ),
    "revocation_url": _field(
        "Revocation URL",
        "Optional RFC 7009 endpoint; `airflow oauth2 revoke` revokes the stored tokens there.",
    ),
    "redirect_uri": _field(
        "Redirect URI",
        "authorization_code only: the redirect URI registered at the authorization server. For the "
        "Connect button: <Airflow URL>/oauth2/callback, e.g. https://airflow.example.com/oauth2/callback.",
    ),
    "scope": _field(
        "Scope",
        "Space-separated scopes to request, e.g. `read:items offline_access` (a refresh token usually "
        "needs offline_access).",
    ),
    "audience": _field("Audience", "Optional `audience` sent on token requests (Auth0, Okta and similar)."),
    "resource": _field("Resource", "Optional RFC 8707 resource indicator URI(s), space-separated."),
    "client_auth_method": _field(
        "Client authentication",
        "How the client authenticates at the token endpoint: client_secret_basic (HTTP Basic, the default), "
        "client_secret_post (in the form body), private_key_jwt (signed with the private key below), "
        "client_secret_jwt (signed with the client secret), none (public client: client ID only).",
        default="client_secret_basic",
        enum=["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"],
    ),
    "private_key": _field(
        "Private key (PEM)",
        "private_key_jwt / jwt_bearer: the unencrypted PEM private key (RSA for RS256, P-256 EC for ES256). "
        "Stored masked; or give a file in Private key file instead.",
        fmt="password",
    ),
    "private_key_path": _field(
        "Private key file",
        "private_key_jwt / jwt_bearer: path of a PEM private key file readable on every worker (instead of "
        "pasting the key).",
    ),
    "private_key_id": _field("Key ID (kid)", "Optional `kid` header of signed client assertions."),
    "refresh_token": _field(
        "Initial refresh token",
        "refresh_token only: a refresh token pasted once (stored masked). Once a token is stored, the "
        "stored one is used and rotated; this field is not read again.",
        fmt="password",
    ),
    "leeway": _field(
        "Refresh leeway (s)",
        "Refresh this many seconds before the access token expires (never more than half its lifetime). "
        "Empty: [oauth2] leeway (60).",
        kind="number",
        minimum=0,
    ),
    "lock_timeout": _field(
        "Lock timeout (s)",
        "Longest wait for the token lock while a sibling refreshes. Empty: [oauth2] lock_timeout (60).",
        kind="number",
        minimum=1,
    ),
    "token_variable": _field(
        "Token Variable",
        "Airflow Variable that stores the encrypted token. Empty: oauth2_token__<connection id>.",
    ),
    "lock_conn_id": _field(
        "Lock connection",
        "Connection (postgres, mysql or sqlite) of the database that holds the token lock in tasks and "
        "triggers. Empty: [oauth2] lock_conn_id; required when workers run on several hosts.",
    ),
    "lock_backend": _field(
        "Lock backend",
        "Empty or auto: metadata where the ORM is usable, else sql with the lock connection, else a lock "
        "file (one host only). Override only to force one.",
        enum=["auto", "metadata", "sql", "file"],
    ),
    "timeout": _field(
        "Timeout (s)",
        "Connect and read timeout of token and API requests, in seconds. Empty: 10 s connect, 60 s read.",
        kind="number",
        minimum=1,
    ),
    "verify": _field(
        "Verify TLS",
        "Empty or true: verify certificates; a path: verify against that CA bundle; false: do not verify "
        "(never in production).",
    ),
    "proxies": _field(
        "Proxies",
        'Optional proxies by URL scheme, as for requests, e.g. {"https": "http://proxy.example.com:3128"}.',
        kind="object",
    ),
    "allow_insecure_http": _field(
        "Allow http",
        "Allow plain http to hosts other than loopback. Tokens and secrets then travel unencrypted: never in "
        "production.",
        kind="boolean",
        default=False,
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
                    # The scheme belongs in the API base URL (host); schema is still read when set through
                    # the CLI or AIRFLOW_CONN_*. Port stays visible: Airflow 3.3.2's Test button sends
                    # port 0 for a connection without one and is refused (apache/airflow#73298).
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "API base URL",
                        "login": "Client ID",
                        "password": "Client secret",
                    },
                    "placeholders": {
                        "host": "https://api.example.com/v1",
                        "port": "443",
                        "login": "client ID issued by the authorization server",
                        "password": "client secret (empty for public clients and private_key_jwt)",
                        "description": "What this API is and who owns the client registration",
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
                    "audit_events": {
                        "description": "How many audit events (issued, refreshed, rotated, revoked, refresh "
                        "failed, re-authorization required, lock timeout) are kept per connection, next to its "
                        "stored token. Shown by `airflow oauth2 history`.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "50",
                        "default": "50",
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
