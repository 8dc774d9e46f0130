"""Granted scopes: a narrower grant is named in a warning, or refused with require_scopes; scope on refresh."""

from __future__ import annotations

import logging

import pytest

from airflow_oauth_provider.exceptions import OAuth2ScopeError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.tokens.store import clear_process_cache
from tests.cli.helpers import authorize_in_process, redirect_uri, stored, unique_conn_id


@pytest.fixture(scope="module")
def narrow_client(sandbox) -> str:
    """A client the sandbox lets have items:read only, whatever it asks for."""
    client_id = unique_conn_id("narrow")
    sandbox.register_client(
        client_id=client_id,
        client_secret="narrow-secret",
        grant_types=["client_credentials", "authorization_code", "refresh_token"],
        scope="items:read",
    )
    return client_id


def narrow_conn(make_conn, sandbox, client_id, **extra) -> str:
    return make_conn(
        conn_id=unique_conn_id("scopes"),
        host=sandbox.url,
        login=client_id,
        password="narrow-secret",
        token_url=f"{sandbox.url}/token",
        scope="items:read jobs profile",
        **extra,
    )


def test_narrower_grant_is_a_warning_naming_the_missing_scopes(sandbox, make_conn, narrow_client, caplog):
    conn_id = narrow_conn(make_conn, sandbox, narrow_client)
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_provider"):
        token = OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    assert token.scope == ("items:read",)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("granted fewer scopes than requested; missing: jobs profile")
    assert conn_id in warnings[0]


def test_require_scopes_refuses_the_token(sandbox, make_conn, narrow_client):
    conn_id = narrow_conn(make_conn, sandbox, narrow_client, require_scopes=True)
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    with pytest.raises(OAuth2ScopeError, match="missing: jobs profile .extra.require_scopes is true."):
        hook.get_token()
    # The token is kept (a rotated refresh token must never be lost) but refused every time.
    with pytest.raises(OAuth2ScopeError, match="missing: jobs profile"):
        hook.get_token()


def test_require_scopes_at_authorization_stores_nothing(sandbox, make_conn, narrow_client):
    conn_id = narrow_conn(
        make_conn,
        sandbox,
        narrow_client,
        grant_type="authorization_code",
        authorization_url=f"{sandbox.url}/authorize",
        redirect_uri=redirect_uri(),
        require_scopes=True,
    )
    with pytest.raises(OAuth2ScopeError, match="missing: jobs profile"):
        authorize_in_process(conn_id)
    assert stored(conn_id) is None


@pytest.mark.parametrize("send_scope_on_refresh", [False, True])
def test_scope_on_refresh(sandbox, make_conn, send_scope_on_refresh, caplog):
    """
    Without the flag a refresh asks for the originally granted scope (RFC 6749 §6), extra scopes
    from ``--add-scope`` included; with it, the connection's scope is sent and the sandbox narrows.
    """
    fields = {
        "conn_id": unique_conn_id("refresh_scope"),
        "host": sandbox.url,
        "grant_type": "authorization_code",
        "issuer": sandbox.url,
        "redirect_uri": redirect_uri(),
        "scope": "items:read",
    }
    conn_id = make_conn(**fields)
    first = authorize_in_process(conn_id, extra_scope=("jobs",))
    assert first.scope == ("items:read", "jobs")
    make_conn(**fields, send_scope_on_refresh=send_scope_on_refresh)
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    refresh = hook.grant.refresh_request(first)
    assert (("scope", "items:read") in refresh.data) is send_scope_on_refresh
    assert "scope" not in dict(refresh.data) or send_scope_on_refresh

    clear_process_cache()
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_provider"):
        second = hook.get_token(rejected=first)

    assert second.version == first.version + 1 and second.refresh_token != first.refresh_token
    assert second.scope == (("items:read",) if send_scope_on_refresh else ("items:read", "jobs"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_narrower_user_grant_is_reported_at_authorization_not_on_every_refresh(
    sandbox, make_conn, narrow_client, caplog
):
    conn_id = narrow_conn(
        make_conn,
        sandbox,
        narrow_client,
        grant_type="authorization_code",
        authorization_url=f"{sandbox.url}/authorize",
        redirect_uri=redirect_uri(),
    )
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_provider"):
        first = authorize_in_process(conn_id)
        assert [r.getMessage()[-30:] for r in caplog.records] == ["than requested; missing: jobs profile"[-30:]]
        caplog.clear()
        second = OAuth2Hook(oauth2_conn_id=conn_id).get_token(rejected=first)
    assert second.version == first.version + 1 and second.scope == ("items:read",)
    assert not caplog.records


def test_require_scopes_on_a_narrowed_refresh_keeps_the_rotated_refresh_token(stub, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("narrowed_refresh"),
        host=stub.url,
        token_url=f"{stub.url}/token",
        grant_type="refresh_token",
        refresh_token="rt-0",
        scope="items:read jobs",
        require_scopes=True,
    )
    stub.add_json(
        200,
        {
            "access_token": "at-1",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "rt-1",
            "scope": "items:read",
        },
    )
    with pytest.raises(OAuth2ScopeError):
        OAuth2Hook(oauth2_conn_id=conn_id).get_token()
    token = stored(conn_id)
    assert token is not None and token.refresh_token == "rt-1"
