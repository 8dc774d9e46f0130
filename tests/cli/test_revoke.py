"""``airflow oauth2 revoke``: the grant ends at the server, the record is deleted, tasks are told what to run."""

from __future__ import annotations

import argparse

import pytest
import requests

from airflow_oauth_provider import authorization
from airflow_oauth_provider.cli import commands
from airflow_oauth_provider.exceptions import OAuth2Error, OAuth2ReauthorizationRequired
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.tokens.store import clear_process_cache
from tests.cli.helpers import authorize_in_process, redirect_uri, run_cli, secrets_of, stored, unique_conn_id


@pytest.fixture
def code_conn(sandbox, make_conn):
    return make_conn(
        conn_id=unique_conn_id("revoke"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        scope="items:read",
    )


def test_revoke_ends_the_grant_and_tasks_are_told_to_reauthorize(sandbox, code_conn):
    token = authorize_in_process(code_conn)
    hook = OAuth2Hook(oauth2_conn_id=code_conn)
    assert hook.run("GET", "/api/items").status_code == 200

    cli = run_cli("revoke", code_conn, "-y")

    assert cli.returncode == 0, cli.output
    assert cli.stdout.splitlines()[-3:] == [
        f"revoked the refresh_token at {sandbox.url}/revoke",
        f"revoked the access_token at {sandbox.url}/revoke",
        f"deleted Variable 'oauth2_token__{code_conn}'",
    ]
    for secret in [*secrets_of(token), "sandbox-secret"]:
        assert secret not in cli.output
    assert stored(code_conn) is None

    api = requests.get(
        f"{sandbox.url}/api/items", headers={"Authorization": f"Bearer {token.access_token}"}, timeout=10
    )
    assert api.status_code == 401
    refresh = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": token.refresh_token},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    assert (refresh.status_code, refresh.json()["error"]) == (400, "invalid_grant")

    # This process still caches the revoked token: the API's 401 sends it to the store, which has nothing.
    with pytest.raises(OAuth2ReauthorizationRequired, match=f"`airflow oauth2 authorize {code_conn}`"):
        hook.run("GET", "/api/items")
    clear_process_cache()  # as in a new task process
    with pytest.raises(OAuth2ReauthorizationRequired, match=f"`airflow oauth2 authorize {code_conn}`"):
        OAuth2Hook(oauth2_conn_id=code_conn).get_token()
    assert authorization.status(OAuth2Hook(oauth2_conn_id=code_conn))["authorized"] is False
    hook = OAuth2Hook(oauth2_conn_id=code_conn)
    events = [e["event"] for e in hook.store.backend.audit(hook.settings.token_key)["events"]]
    assert events[:2] == ["authorized", "revoked"]  # the trail outlives the token


def test_revoke_asks_first_and_a_closed_stdin_changes_nothing(sandbox, code_conn, monkeypatch, capsys):
    authorize_in_process(code_conn)

    def no_terminal(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    commands.revoke(argparse.Namespace(conn_id=code_conn, yes=False))
    assert "Nothing was changed" in capsys.readouterr().out
    assert stored(code_conn) is not None


def test_revoke_of_nothing(sandbox, code_conn):
    assert authorization.revoke(OAuth2Hook(oauth2_conn_id=code_conn)) == ["nothing was stored; nothing to revoke"]


def test_refresh_token_revocation_failure_keeps_the_record(sandbox, stub, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("revoke_fail"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        revocation_url=f"{stub.url}/revoke",
        redirect_uri=redirect_uri(),
        scope="items:read",
    )
    before = authorize_in_process(conn_id)
    stub.add_json(503, {"error": "temporarily_unavailable"})

    with pytest.raises(OAuth2Error, match="HTTP 503 for the refresh_token.*the stored token was kept"):
        authorization.revoke(OAuth2Hook(oauth2_conn_id=conn_id))
    assert stored(conn_id).version == before.version
    assert len(stub.requests) == 1  # the access token is not revoked while the grant lives on


def test_access_token_revocation_unsupported_still_ends_the_grant(sandbox, stub, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("revoke_partial"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        revocation_url=f"{stub.url}/revoke",
        redirect_uri=redirect_uri(),
        scope="items:read",
    )
    authorize_in_process(conn_id)
    stub.add(200)
    stub.add_json(400, {"error": "unsupported_token_type"})

    lines = authorization.revoke(OAuth2Hook(oauth2_conn_id=conn_id))

    assert lines[0] == f"revoked the refresh_token at {stub.url}/revoke"
    assert "HTTP 400 for the access_token" in lines[1] and "expires by itself" in lines[1]
    assert lines[2] == f"deleted Variable 'oauth2_token__{conn_id}'"
    assert stored(conn_id) is None
