"""
``airflow oauth2 authorize / status`` as a person runs them: a real subprocess, a scripted user.

The user reads the authorization URL (or the device code) from the command's output, logs in and
consents at the sandbox, and the browser's redirect reaches the command's loopback listener (or
is pasted). Failures must be one ``error: ...`` line that says what to do, and must leave the
previously stored token exactly as it was.
"""

from __future__ import annotations

import argparse
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from airflow_oauth_provider.cli import commands
from tests.cli.helpers import (
    Cli,
    authorization_url,
    authorize_code_with_cli,
    authorize_device_in_process,
    authorize_in_process,
    redirect_uri,
    run_cli,
    secrets_of,
    stored,
    unique_conn_id,
)
from tests.user_agent import approve_device, consent


@pytest.fixture
def code_conn(sandbox, make_conn):
    """An authorization_code connection whose endpoints come from the sandbox's RFC 8414 metadata."""
    return make_conn(
        conn_id=unique_conn_id("code"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        scope="items:read offline_access",
    )


@pytest.fixture
def explicit_code_conn(sandbox, make_conn):
    """The same with explicit endpoint URLs instead of discovery."""
    return make_conn(
        conn_id=unique_conn_id("code_explicit"),
        host=sandbox.url,
        grant_type="authorization_code",
        token_url=f"{sandbox.url}/token",
        authorization_url=f"{sandbox.url}/authorize",
        redirect_uri=redirect_uri(),
        scope="items:read offline_access",
    )


@pytest.fixture
def device_conn(sandbox, make_conn):
    return make_conn(
        conn_id=unique_conn_id("device"),
        host=sandbox.url,
        grant_type="device_code",
        token_url=f"{sandbox.url}/token",
        device_authorization_url=f"{sandbox.url}/device_authorization",
        scope="items:read",
    )


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_untouched(conn_id: str, before) -> None:
    after = stored(conn_id)
    assert after is not None, "the previously stored token was deleted"
    assert (after.version, after.access_token, after.refresh_token) == (
        before.version,
        before.access_token,
        before.refresh_token,
    )


# -- success ------------------------------------------------------------------------------------


def test_authorize_on_loopback_redirect_then_status(sandbox, code_conn):
    cli = authorize_code_with_cli(code_conn)

    assert cli.returncode == 0, cli.output
    summary = [line for line in cli.stdout.splitlines() if line.startswith("Connection ")]
    assert len(summary) == 1, cli.stdout
    assert summary[0].startswith(f"Connection {code_conn!r} authorized with a refresh token; access token expires ")
    assert summary[0].endswith("scopes: items:read offline_access; record version 1")
    token = stored(code_conn)
    assert token.version == 1 and token.refresh_token

    status = run_cli("status", code_conn, "-o", "json")
    assert status.returncode == 0, status.output
    info = json.loads(status.stdout.strip().splitlines()[-1])
    assert info["authorized"] is True
    assert info["scope"] == "items:read offline_access"
    assert info["access_token_expires_at"] and info["access_token_expired"] is False
    assert info["has_refresh_token"] is True and info["version"] == 1
    assert info["token_url"] == f"{sandbox.url}/token"  # discovered

    for secret in [*secrets_of(token), "sandbox-secret"]:
        assert secret not in cli.output and secret not in status.output


def test_authorize_no_browser_paste_mode_replaces_the_grant(sandbox, explicit_code_conn):
    conn_id = explicit_code_conn
    before = authorize_in_process(conn_id)

    cli = Cli("authorize", conn_id, "--no-browser", stdin=True)
    url = authorization_url(cli)
    cli.expect(r"paste the full URL")
    cli.send(consent(url))
    cli.finish()

    assert cli.returncode == 0, cli.output
    assert f"Connection {conn_id!r} authorized with a refresh token" in cli.stdout
    after = stored(conn_id)
    assert after.version == before.version + 1
    assert after.refresh_token != before.refresh_token
    for secret in secrets_of(before, after):
        assert secret not in cli.output


def test_authorize_device_flow(sandbox, device_conn):
    cli = Cli("authorize", device_conn)
    match = cli.expect(r"visit (\S+) and enter the code: (\S+)")
    verification_uri, user_code = match.groups()
    assert verification_uri == f"{sandbox.url}/device"
    approve_device(verification_uri, user_code)
    cli.finish()

    assert cli.returncode == 0, cli.output
    assert f"Connection {device_conn!r} authorized with a refresh token" in cli.stdout
    token = stored(device_conn)
    assert token.version == 1
    for secret in secrets_of(token):
        assert secret not in cli.output


# -- failures: one line, nothing stored ----------------------------------------------------------


def test_tampered_state_is_refused(sandbox, explicit_code_conn):
    conn_id = explicit_code_conn
    before = authorize_in_process(conn_id)

    cli = Cli("authorize", conn_id, "--no-browser", stdin=True)
    location = consent(authorization_url(cli))
    state = dict(parse_qsl(urlsplit(location).query))["state"]
    cli.send(with_query(location, state=state[:-4] + "AAAA"))
    cli.finish()

    assert cli.returncode == 1, cli.output
    error = cli.error_line()
    assert "state does not match" in error and "nothing was stored" in error
    assert f"airflow oauth2 authorize {conn_id}" in error
    assert_untouched(conn_id, before)


def test_redirect_to_another_uri_is_refused(sandbox, explicit_code_conn):
    conn_id = explicit_code_conn
    before = authorize_in_process(conn_id)

    cli = Cli("authorize", conn_id, "--no-browser", stdin=True)
    location = consent(authorization_url(cli))
    parts = urlsplit(location)
    elsewhere = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port + 1}"))
    cli.send(elsewhere)
    cli.finish()

    assert cli.returncode == 1, cli.output
    error = cli.error_line()
    assert "not the connection's redirect_uri" in error and f"airflow oauth2 authorize {conn_id}" in error
    assert_untouched(conn_id, before)


def test_denied_consent(sandbox, code_conn):
    before = authorize_in_process(code_conn)

    cli = Cli("authorize", code_conn)
    url = authorization_url(cli)
    cli.expect(r"Waiting up to")
    location = consent(url, allow=False)
    assert "error=access_denied" in location
    requests.get(location, timeout=10)
    cli.finish()

    assert cli.returncode == 1, cli.output
    error = cli.error_line()
    assert "access_denied" in error and "approve the request" in error
    assert f"airflow oauth2 authorize {code_conn}" in error
    assert_untouched(code_conn, before)


def test_expired_device_code(fresh_sandbox, make_conn):
    fresh_sandbox.update_config(device_expires_in=2)
    conn_id = make_conn(
        conn_id=unique_conn_id("device_expiring"),
        host=fresh_sandbox.url,
        grant_type="device_code",
        issuer=fresh_sandbox.url,
        scope="items:read",
    )
    before = authorize_device_in_process(conn_id)

    cli = Cli("authorize", conn_id)
    cli.expect(r"enter the code: (\S+)")
    cli.finish()  # nobody approves

    assert cli.returncode == 1, cli.output
    error = cli.error_line()
    assert "expired before it was approved" in error and f"airflow oauth2 authorize {conn_id}" in error
    assert_untouched(conn_id, before)


def test_device_denial(sandbox, device_conn):
    before = authorize_device_in_process(device_conn)

    cli = Cli("authorize", device_conn)
    verification_uri, user_code = cli.expect(r"visit (\S+) and enter the code: (\S+)").groups()
    approve_device(verification_uri, user_code, approve=False)
    cli.finish()

    assert cli.returncode == 1, cli.output
    error = cli.error_line()
    assert "denied" in error and f"airflow oauth2 authorize {device_conn}" in error
    assert_untouched(device_conn, before)


def test_unknown_connection_is_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        commands.status(argparse.Namespace(conn_id="no_such_oauth2_conn", output="json"))
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(r"no_such_oauth2_conn.*AIRFLOW_CONN_NO_SUCH_OAUTH2_CONN", err)
