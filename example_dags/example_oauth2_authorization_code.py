"""
Authorization code + PKCE: call an API on behalf of a user who consented once.

One-time setup, done by a person (the user whose data the DAG reads)::

    airflow oauth2 authorize oauth2_sandbox_code

The command prints an authorization URL (and opens it when a browser is at hand), receives the
redirect on the connection's loopback ``redirect_uri`` (or, with ``--no-browser``, asks you to
paste the URL you land on), and stores the tokens encrypted in the Variable
``oauth2_token__oauth2_sandbox_code``. ``airflow oauth2 status oauth2_sandbox_code`` shows the
grant, its scopes and expiry; ``airflow oauth2 revoke oauth2_sandbox_code`` ends it.

From then on no human is needed: every task refreshes the access token when it is due, and the
provider stores each rotated refresh token under a lock before using the new access token, so no
task ever replays a spent one. If the user or the server revokes the grant, tasks fail with
``OAuth2ReauthorizationRequired`` naming the command to run again.

Connection ``oauth2_sandbox_code`` (``make demo`` defines one against the sandbox)::

    AIRFLOW_CONN_OAUTH2_SANDBOX_CODE='{"conn_type": "oauth2", "host": "http://127.0.0.1:8080",
        "login": "sandbox-client", "password": "sandbox-secret",
        "extra": {"grant_type": "authorization_code", "issuer": "http://127.0.0.1:8080",
                  "redirect_uri": "http://127.0.0.1:8765/callback", "scope": "items:read offline_access"}}'
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

CONN_ID = "oauth2_sandbox_code"


@dag(
    dag_id="example_oauth2_authorization_code",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oauth2"],
)
def example_oauth2_authorization_code():
    @task
    def whoami() -> str:
        """The user who authorized the connection, as the API sees the token."""
        me = OAuth2Hook(oauth2_conn_id=CONN_ID).run("GET", "/api/me").json()
        print(f"Calling the API as {me['user']} (client {me['client_id']}, scope {me['scope']})")
        return me["user"]

    @task
    def fetch_items(user: str) -> int:
        """Every page of the user's items."""
        hook = OAuth2Hook(oauth2_conn_id=CONN_ID)
        page, items = 1, []
        while page:
            body = hook.run("GET", "/api/items", params={"page": page, "per_page": 25}).json()
            items.extend(body["items"])
            page = body["next_page"]
        print(f"Fetched {len(items)} items on behalf of {user}")
        return len(items)

    fetch_items(whoami())


example_oauth2_authorization_code()
