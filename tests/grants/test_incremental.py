"""Incremental authorization: ``--add-scope`` asks only for the new scope; the store keeps the granted set."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from airflow_oauth_provider import authorization
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.sandbox.user import consent
from tests.cli.helpers import redirect_uri, stored, unique_conn_id


def authorize(conn_id: str, extra_scope: tuple[str, ...] = ()):
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    request = authorization.begin_authorization(hook, extra_scope)
    requested = parse_qs(urlsplit(request.url).query)["scope"][0]
    return requested, authorization.finish_authorization(hook, request, consent(request.url))


def test_add_scope_requests_only_the_new_scope_and_keeps_the_union(sandbox, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("incremental"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        scope="items:read offline_access",
    )
    requested, first = authorize(conn_id)
    assert requested == "items:read offline_access"
    requested, second = authorize(conn_id, ("jobs",))
    assert requested == "jobs"  # only the additional scope is asked for
    assert second.scope == ("items:read", "offline_access", "jobs")
    assert stored(conn_id).scope == ("items:read", "offline_access", "jobs")
    assert second.version == first.version + 1
    OAuth2Hook(oauth2_conn_id=conn_id).check_scopes(second, ["items:read", "jobs"])  # a task needing both is fine


def test_first_authorization_with_add_scope_asks_for_everything(sandbox, make_conn):
    conn_id = make_conn(
        conn_id=unique_conn_id("incremental_first"),
        host=sandbox.url,
        grant_type="authorization_code",
        issuer=sandbox.url,
        redirect_uri=redirect_uri(),
        scope="items:read offline_access",
    )
    requested, token = authorize(conn_id, ("jobs",))
    assert requested == "items:read offline_access jobs"
    assert set(token.scope) == {"items:read", "offline_access", "jobs"}
