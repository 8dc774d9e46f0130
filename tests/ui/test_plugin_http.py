"""
The Connect button's routes over real HTTP against a real API server: who may use them, and
that every forged, replayed, expired, foreign or unauthenticated callback is refused with an
HTML page and leaves the stored token exactly as it was.
"""

from __future__ import annotations

import dataclasses
import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.ui.deployment import Deployment
from tests.user_agent import consent


def create_connection(d: Deployment, conn_id: str, **extra: object) -> None:
    body = {
        "connection_id": conn_id,
        "conn_type": "oauth2",
        "host": d.sandbox_url,
        "login": "sandbox-client",
        "password": "sandbox-secret",
        "extra": json.dumps(
            {
                "grant_type": "authorization_code",
                "token_url": f"{d.sandbox_url}/token",
                "authorization_url": f"{d.sandbox_url}/authorize",
                "redirect_uri": f"{d.url}/oauth2/callback",
                "scope": "items:read offline_access",
                **extra,
            }
        ),
    }
    response = requests.post(
        f"{d.url}/api/v2/connections", json=body, headers={"Authorization": f"Bearer {d.token('admin')}"}, timeout=10
    )
    assert response.status_code == 201, response.text


def stored_token(conn_id: str) -> str | None:
    """The raw (encrypted) Variable value: any rewrite changes it, Fernet being randomized."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Variable._val).where(Variable.key == f"oauth2_token__{conn_id}"))


def pending_values() -> dict[str, str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_oauth_provider.plugins.pending import KEY_PREFIX

    with create_session() as session:
        rows = session.execute(select(Variable.key, Variable._val).where(Variable.key.startswith(KEY_PREFIX)))
        return dict(rows.all())


def start_connect(session: requests.Session, d: Deployment, conn_id: str) -> str:
    """Press Connect: the authorization URL the API server redirects to."""
    response = session.get(f"{d.url}/oauth2/connect/{conn_id}", allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def assert_refused(response: requests.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert text in response.text, response.text


@pytest.fixture(scope="module")
def authorized(ui_deployment: Deployment) -> dict[str, str]:
    """A connection authorized through the routes (no browser), and the callback URL that did it."""
    d = ui_deployment
    create_connection(d, "http_crm")
    admin = d.session("admin")
    location = start_connect(admin, d, "http_crm")
    callback_url = consent(location)
    response = admin.get(callback_url, timeout=30)
    assert response.status_code == 200, response.text
    return {"conn_id": "http_crm", "callback_url": callback_url, "location": location}


def test_plugin_is_registered_with_a_nav_entry(ui_deployment):
    d = ui_deployment
    plugins = requests.get(
        f"{d.url}/api/v2/plugins", headers={"Authorization": f"Bearer {d.token('admin')}"}, timeout=10
    ).json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "oauth2_ui"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/oauth2"
    (view,) = plugin["external_views"]
    assert view["href"] == "/oauth2/" and view["destination"] == "nav" and view["url_route"] is None
    assert view["category"] == "admin"  # a real link in the Admin menu (see OAuth2UIPlugin)


def test_connect_redirects_with_pkce_and_keeps_secrets_server_side(ui_deployment, authorized):
    location = authorized["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{ui_deployment.sandbox_url}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [f"{ui_deployment.url}/oauth2/callback"]
    assert len(query["state"][0]) >= 43 and "code_verifier" not in query


def test_pending_request_is_stored_hashed_and_encrypted(ui_deployment):
    d = ui_deployment
    create_connection(d, "http_pending")
    state = parse_qs(urlsplit(start_connect(d.session("admin"), d, "http_pending")).query)["state"][0]
    from airflow_oauth_provider.plugins.pending import PendingStore, variable_key

    values = pending_values()
    assert variable_key(state) in values
    assert all(state not in key and state not in value for key, value in values.items())
    pending = PendingStore().find(state)
    assert pending is not None and pending.conn_id == "http_pending" and pending.user_id == "admin"
    assert pending.request.code_verifier not in values[variable_key(state)]


def test_successful_callback_stores_the_token(ui_deployment, authorized):
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

    assert stored_token("http_crm") is not None
    token = OAuth2Hook(oauth2_conn_id="http_crm").get_token()
    assert token.refresh_token and set(token.scope or ()) == {"items:read", "offline_access"}
    page = ui_deployment.session("admin").get(f"{ui_deployment.url}/oauth2/", timeout=30)
    assert page.status_code == 200 and 'id="row-http_crm"' in page.text and "authorized" in page.text
    # Airflow's audit log (Browse > Audit Log) records who authorized what.
    from airflow.models.log import Log
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        entries = session.scalars(select(Log).where(Log.event == "oauth2.authorize")).all()
        assert any(e.owner == "admin" and json.loads(e.extra)["conn_id"] == "http_crm" for e in entries)


@pytest.mark.parametrize(
    ("path", "cookie"),
    [
        ("/oauth2/", None),
        ("/oauth2/connect/http_crm", None),
        ("/oauth2/callback?state=x&code=y", None),
        ("/oauth2/", "not-a-jwt"),
        ("/oauth2/connect/http_crm", "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhZG1pbiJ9.forged"),
    ],
)
def test_unauthenticated_requests_are_refused(ui_deployment, authorized, path, cookie):
    before = stored_token("http_crm")
    headers = {"Cookie": f"_token={cookie}"} if cookie else {}
    response = requests.get(f"{ui_deployment.url}{path}", headers=headers, allow_redirects=False, timeout=10)
    assert_refused(response, 401, "Sign in required")
    assert "/auth/login" in response.text
    assert stored_token("http_crm") == before


def test_invalid_bearer_token_is_refused_even_with_a_valid_cookie(ui_deployment):
    """As in the core API, an explicit Authorization header wins over the cookie."""
    session = ui_deployment.session("admin")
    session.headers["Authorization"] = "Bearer not-a-jwt"
    assert_refused(session.get(f"{ui_deployment.url}/oauth2/", timeout=10), 401, "Sign in required")


def test_replayed_callback_is_refused(ui_deployment, authorized):
    before = stored_token("http_crm")
    response = ui_deployment.session("admin").get(authorized["callback_url"], timeout=10)
    assert_refused(response, 400, "already used")
    assert stored_token("http_crm") == before


def test_forged_state_is_refused(ui_deployment, authorized):
    before = stored_token("http_crm")
    forged = urlencode({"state": "A" * 43, "code": "stolen-or-made-up"})
    response = ui_deployment.session("admin").get(f"{ui_deployment.url}/oauth2/callback?{forged}", timeout=10)
    assert_refused(response, 400, "unknown or was already used")
    response = ui_deployment.session("admin").get(f"{ui_deployment.url}/oauth2/callback?code=x", timeout=10)
    assert_refused(response, 400, "no state")
    assert stored_token("http_crm") == before


def test_expired_state_is_refused_and_purged(ui_deployment, authorized):
    """A pending request 11 minutes old, written as the API server would have written it."""
    from airflow_oauth_provider.authorization import begin_authorization
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
    from airflow_oauth_provider.plugins.pending import PendingAuthorization, PendingStore

    request = begin_authorization(OAuth2Hook(oauth2_conn_id="http_crm"))
    old = dataclasses.replace(request, created_at=time.time() - 660)
    store = PendingStore()
    store.add(PendingAuthorization("http_crm", "admin", old))
    before = stored_token("http_crm")
    # A code that the server really issued for this request: only the age can make it fail.
    callback_url = consent(request.url)
    response = ui_deployment.session("admin").get(callback_url, timeout=10)
    assert_refused(response, 400, "more than 10 minutes ago")
    assert store.find(request.state) is None
    assert stored_token("http_crm") == before


def test_callback_of_another_user_is_refused_and_left_to_its_owner(ui_deployment, authorized):
    d = ui_deployment
    before = stored_token("http_crm")
    callback_url = consent(start_connect(d.session("admin"), d, "http_crm"))
    # The viewer may not edit connections at all; the operator may, but did not start this one.
    assert_refused(d.session("viewer").get(callback_url, timeout=10), 403, "may not edit connection")
    assert_refused(d.session("operator").get(callback_url, timeout=10), 403, "started by another Airflow user")
    assert stored_token("http_crm") == before
    # Neither refusal consumed the request: its owner completes it.
    response = d.session("admin").get(callback_url, timeout=30)
    assert response.status_code == 200, response.text
    assert stored_token("http_crm") != before


def test_viewer_may_not_list_or_connect(ui_deployment, authorized):
    d = ui_deployment
    viewer = d.session("viewer")
    assert_refused(viewer.get(f"{d.url}/oauth2/", timeout=10), 403, "may not edit connections")
    response = viewer.get(f"{d.url}/oauth2/connect/http_crm", allow_redirects=False, timeout=10)
    assert_refused(response, 403, "may not edit connection")


def test_denied_consent_changes_nothing(ui_deployment, authorized):
    d = ui_deployment
    before = stored_token("http_crm")
    callback_url = consent(start_connect(d.session("admin"), d, "http_crm"), allow=False)
    assert "error=access_denied" in callback_url
    response = d.session("admin").get(callback_url, timeout=10)
    assert_refused(response, 400, "access_denied")
    assert stored_token("http_crm") == before


def test_connect_from_another_site_is_refused(ui_deployment, authorized):
    session = ui_deployment.session("admin")
    session.headers["Sec-Fetch-Site"] = "cross-site"
    response = session.get(f"{ui_deployment.url}/oauth2/connect/http_crm", allow_redirects=False, timeout=10)
    assert_refused(response, 403, "not from another site")


@pytest.mark.parametrize(
    ("conn_id", "extra", "status", "text"),
    [
        ("http_elsewhere", {"redirect_uri": "http://127.0.0.1:8765/callback"}, 400, "/oauth2/callback"),
        ("http_cc", {"grant_type": "client_credentials"}, 400, "the Connect button is for"),
        ("http_unknown_key", {"colour": "blue"}, 400, "extra.colour"),
        ("http_missing", None, 404, "no connection"),
    ],
)
def test_connect_refuses_connections_it_cannot_authorize(ui_deployment, conn_id, extra, status, text):
    d = ui_deployment
    if extra is not None:
        create_connection(d, conn_id, **extra)
    response = d.session("admin").get(f"{d.url}/oauth2/connect/{conn_id}", allow_redirects=False, timeout=10)
    assert_refused(response, status, text)
