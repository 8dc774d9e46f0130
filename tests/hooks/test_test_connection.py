"""The Test button's hook method: obtains where harmless, never spends a stored grant."""

from __future__ import annotations

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import obtain_refresh_token
from airflow_oauth_provider.tokens.token import Token


def test_client_credentials_obtains_a_token(make_conn, fresh_sandbox):
    url = fresh_sandbox.url
    ok, message = OAuth2Hook(oauth2_conn_id=make_conn(host=url, token_url=f"{url}/token")).test_connection()
    assert ok, message
    assert message.startswith("Token obtained with client_credentials; expires in ")


def test_pasted_refresh_token_is_not_spent(make_conn, fresh_sandbox):
    url = fresh_sandbox.url
    seed = obtain_refresh_token(url)
    conn_id = make_conn(host=url, grant_type="refresh_token", token_url=f"{url}/token", refresh_token=seed)
    ok, message = OAuth2Hook(oauth2_conn_id=conn_id).test_connection()
    assert ok, message
    assert message == (
        "Client credentials accepted by the token endpoint (refresh_token); "
        "the pasted refresh token is used at the first task run"
    )
    assert seed not in message
    # the seed still works: the Test did not rotate it away
    assert OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/items").status_code == 200
    assert fresh_sandbox.stats()["refresh_reuse_detected"] == 0


def test_wrong_secret_is_reported(make_conn, fresh_sandbox):
    url = fresh_sandbox.url
    conn_id = make_conn(
        host=url,
        password="wrong",
        grant_type="refresh_token",
        token_url=f"{url}/token",
        refresh_token="anything-at-all",
    )
    ok, message = OAuth2Hook(oauth2_conn_id=conn_id).test_connection()
    assert not ok
    assert message.startswith("The token endpoint rejected the client credentials: ")
    assert "invalid_client" in message


def test_authorization_code_reports_the_stored_token_or_how_to_authorize(make_conn, fresh_sandbox):
    url = fresh_sandbox.url
    conn_id = make_conn(
        host=url,
        grant_type="authorization_code",
        token_url=f"{url}/token",
        authorization_url=f"{url}/authorize",
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    ok, message = hook.test_connection()
    assert ok, message
    assert message.endswith(f"authorize with `airflow oauth2 authorize {conn_id}` or Connect")
    seed = obtain_refresh_token(url)  # as if a user had authorized
    hook.store.replace(
        lambda current: hook.send_token_request(hook.grant.refresh_request(Token("-", refresh_token=seed)))
    )
    ok, message = OAuth2Hook(oauth2_conn_id=conn_id).test_connection()
    assert ok, message
    assert "; stored token: expires in " in message
