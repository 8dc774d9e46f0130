"""
A local OAuth 2.0 authorization server + protected API, for demos and tests, with no internet.

Built from Authlib's server components; state lives in memory behind one lock, and the server
listens on loopback only. Run it with ``python -m airflow_oauth_provider.sandbox`` or in-process::

    from airflow_oauth_provider.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(port=0, device_interval=1)) as sandbox:
        sandbox.url  # "http://127.0.0.1:54321"

Clients: ``sandbox-client`` / ``sandbox-secret`` (confidential) and ``sandbox-public`` (PKCE).
Users: ``alice`` / ``wonderland`` and ``bob`` / ``builder``.

Endpoints::

    GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (also /.well-known/openid-configuration)
    POST /token                                     RFC 6749 / 7523 / 8628 token endpoint
    GET  /authorize, POST /authorize                login + consent (authorization code + PKCE)
    POST /device_authorization; GET|POST /device    RFC 8628 device flow
    POST /revoke                                    RFC 7009
    GET  /api/items, POST /api/items, GET /api/me, POST /api/jobs, GET /api/jobs/<id>
    GET  /stats, POST /stats/reset, POST /admin/clients, POST|DELETE /admin/faults,
    GET|POST /admin/config                          loopback callers only
    GET  /healthz
"""

from __future__ import annotations

from airflow_oauth_provider.sandbox.app import create_app
from airflow_oauth_provider.sandbox.config import SandboxConfig
from airflow_oauth_provider.sandbox.runner import SandboxServer

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "PUBLIC_CLIENT_ID",
    "SandboxConfig",
    "SandboxServer",
    "create_app",
]

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
PUBLIC_CLIENT_ID = "sandbox-public"
