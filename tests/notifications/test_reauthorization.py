"""The re-authorization notifier speaks only for dead grants, naming the connection and the fix."""

from __future__ import annotations

import pytest

from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired, OAuth2TransportError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.notifications.reauthorization import OAuth2ReauthorizationNotifier


def dead_grant_error(make_conn, sandbox) -> OAuth2ReauthorizationRequired:
    url = sandbox.url
    hook = OAuth2Hook(
        oauth2_conn_id=make_conn(
            host=url, grant_type="refresh_token", token_url=f"{url}/token", refresh_token="revoked-long-ago"
        )
    )
    with pytest.raises(OAuth2ReauthorizationRequired) as info:
        hook.get_token()
    return info.value


def test_dead_grant_is_reported_with_the_fix(make_conn, sandbox, caplog):
    error = dead_grant_error(make_conn, sandbox)
    sent: list[str] = []
    notifier = OAuth2ReauthorizationNotifier(send=sent.append, ui_base_url="https://airflow.example.com/")
    notifier.notify({"exception": error})
    assert sent == [
        f"OAuth 2.0 connection {error.conn_id!r} needs re-authorization (invalid_grant): run "
        f"`airflow oauth2 authorize {error.conn_id}` or press Connect at https://airflow.example.com/oauth2/."
    ]
    assert "needs re-authorization" in caplog.text


def test_other_failures_are_left_to_the_usual_alerts():
    sent: list[str] = []
    OAuth2ReauthorizationNotifier(send=sent.append).notify({"exception": OAuth2TransportError("timeout")})
    OAuth2ReauthorizationNotifier(send=sent.append).notify({})
    assert sent == []
