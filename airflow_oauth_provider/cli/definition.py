"""``airflow oauth2 ...`` commands, registered through the provider info ``cli`` key."""

from __future__ import annotations

from typing import Any

__all__ = ["get_oauth2_cli_commands"]


def get_oauth2_cli_commands() -> list[Any]:
    """The ``oauth2`` command group (imported lazily: the CLI parser calls this on every start)."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    conn_id = Arg(("conn_id",), help="The oauth2 connection id")
    output = Arg(("-o", "--output"), help="Output format", choices=("table", "json"), default="table")
    commands = [
        ActionCommand(
            name="authorize",
            help="Authorize a connection once: authorization code + PKCE in a browser, or the device flow",
            description=(
                "For authorization_code connections, prints the authorization URL and receives the redirect on a "
                "loopback redirect_uri (or asks you to paste the redirected URL). For device_code connections, "
                "shows the code to enter and waits for approval. The token is stored encrypted under the lock."
            ),
            func=lazy_load_command("airflow_oauth_provider.cli.commands.authorize"),
            args=(
                conn_id,
                Arg(("--no-browser",), help="Print the URL and read the pasted redirect URL", action="store_true"),
                Arg(("--timeout",), help="Seconds to wait for the user (default 300)", type=float, default=300.0),
                Arg(("--add-scope",), help="Also request this scope (repeatable)", action="append", default=[]),
            ),
        ),
        ActionCommand(
            name="status",
            help="Show a connection's grant, scopes, expiry and refresh-token age (never a token)",
            func=lazy_load_command("airflow_oauth_provider.cli.commands.status"),
            args=(conn_id, output),
        ),
        ActionCommand(
            name="history",
            help="Show a connection's audit trail: issued, refreshed, rotated, revoked, failures (no secrets)",
            func=lazy_load_command("airflow_oauth_provider.cli.history.history"),
            args=(conn_id, output),
        ),
        ActionCommand(
            name="revoke",
            help="Revoke the stored tokens at the server (RFC 7009) and delete them",
            func=lazy_load_command("airflow_oauth_provider.cli.commands.revoke"),
            args=(conn_id, Arg(("-y", "--yes"), help="Do not ask for confirmation", action="store_true")),
        ),
        ActionCommand(
            name="sandbox",
            help="Run the local sandbox authorization server + API (loopback only)",
            func=lazy_load_command("airflow_oauth_provider.cli.commands.sandbox"),
            args=(
                Arg(("--port",), help="Port (0 picks a free one)", type=int, default=8080),
                Arg(("--access-token-lifetime",), help="Seconds", type=int, default=3600),
            ),
        ),
    ]
    return [GroupCommand(name="oauth2", help="OAuth 2.0 connections: authorize, status, revoke", subcommands=commands)]
