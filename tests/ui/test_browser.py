"""
The whole UI path in a real browser (Debian's Chromium driven by Playwright):

sign in to Airflow → create an ``oauth2`` connection through the form → press Test →
Admin > OAuth 2.0 connections → Connect → sign in and consent at the authorization server →
back on Airflow's success page → a DAG run calls the API with the token stored there.

Screenshots of the form and of the success page go to ``test-output/`` at the repository root.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.ui.deployment import BIN, Deployment

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser test needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="browser test needs the playwright package (pip install playwright; no `playwright install`)",
    ),
]

DAG_FILE = '''
"""Uses the connection authorized in the browser, as any DAG would."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def oauth2_ui_check():
    @task
    def fetch_items() -> int:
        from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

        response = OAuth2Hook(oauth2_conn_id="ui_crm").run("GET", "/api/items")
        count = len(response.json()["items"])
        print(f"OAUTH2_UI_ITEMS={count}")
        return count

    fetch_items()


oauth2_ui_check()
'''


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def _client_credentials_connection(d: Deployment) -> None:
    """A second connection, made through the REST API, to see the Test button succeed."""
    body = {
        "connection_id": "ui_cc",
        "conn_type": "oauth2",
        "host": d.sandbox_url,
        # Airflow 3.3.2's Test button sends port 0 for a connection without one and is refused
        # (apache/airflow#73298), so these connections carry their port.
        "port": int(_port(d.sandbox_url)),
        "login": "sandbox-client",
        "password": "sandbox-secret",
        "extra": json.dumps({"token_url": f"{d.sandbox_url}/token", "scope": "items:read"}),
    }
    response = requests.post(
        f"{d.url}/api/v2/connections", json=body, headers={"Authorization": f"Bearer {d.token('admin')}"}, timeout=10
    )
    assert response.status_code == 201, response.text


def _stored_token_variable(conn_id: str) -> str | None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Variable._val).where(Variable.key == f"oauth2_token__{conn_id}"))


def _screenshot(target, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    target.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def test_connect_in_the_browser_then_a_dag_uses_the_token(ui_deployment: Deployment) -> None:
    from playwright.sync_api import expect, sync_playwright

    d = ui_deployment
    _client_credentials_connection(d)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(20_000)
            page = context.new_page()

            # Sign in to Airflow (simple auth manager).
            page.goto(f"{d.url}/connections")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(d.passwords["admin"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/connections")

            # Create the connection through the form.
            page.get_by_role("button", name="Add Connection").click()
            form = page.get_by_role("dialog")
            form.locator("input[name=connection_id]").fill("ui_crm")
            form.get_by_role("combobox").first.click()
            page.get_by_role("option", name="OAuth 2.0", exact=True).click()
            form.locator("input[name=host]").fill(d.sandbox_url)
            form.locator("input[name=port]").fill(_port(d.sandbox_url))
            form.locator("input[name=login]").fill("sandbox-client")
            secret = form.locator("input[name=password]")
            secret.fill("sandbox-secret")
            assert secret.get_attribute("type") == "password"
            expect(form.get_by_text("API base URL", exact=True)).to_be_visible()
            expect(form.get_by_text("Client secret", exact=True)).to_be_visible()
            expect(form.locator("input[name=schema]")).to_have_count(0)
            _screenshot(form, "ui-connection-form-standard.png")

            form.get_by_role("button", name="Extra Fields", exact=True).click()
            form.get_by_label("Grant type").click()
            page.get_by_role("option", name="authorization_code", exact=True).click()
            form.locator("input[name=element_token_url]").fill(f"{d.sandbox_url}/token")
            form.locator("input[name=element_authorization_url]").fill(f"{d.sandbox_url}/authorize")
            form.locator("input[name=element_redirect_uri]").fill(f"{d.url}/oauth2/callback")
            form.locator("input[name=element_scope]").fill("items:read offline_access")
            for secret_field in ("element_private_key", "element_refresh_token"):
                assert form.locator(f"input[name={secret_field}]").get_attribute("type") == "password"
            expect(form.get_by_text("Space-separated scopes to request")).to_be_visible()
            page.set_viewport_size({"width": 1400, "height": 3200})  # the whole form in one picture
            _screenshot(form, "ui-connection-form.png")
            page.set_viewport_size({"width": 1400, "height": 1000})
            form.get_by_role("button", name="Save").click()
            expect(form).to_be_hidden()

            # The Test button shows the hook's own message, for success and for failure.
            def row(conn_id: str):
                return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))

            row("ui_cc").get_by_role("button", name="Test Connection").click()
            expect(
                page.get_by_text(
                    re.compile(r"Token obtained with client_credentials; expires in \d+ s; scope: items:read")
                )
            ).to_be_visible()
            row("ui_crm").get_by_role("button", name="Test Connection").click()
            expect(
                page.get_by_text(
                    re.compile(
                        r"Client credentials accepted by the token endpoint \(authorization_code\); authorize with"
                    )
                )
            ).to_be_visible()

            # Admin > OAuth 2.0 connections opens the plugin's page in a new tab.
            page.get_by_role("button", name="Admin").click()
            with context.expect_page() as opened:
                page.get_by_role("menuitem", name="OAuth 2.0 connections").click()
            status = opened.value
            status.wait_for_load_state()
            assert status.url == f"{d.url}/oauth2/"
            expect(status.locator("#row-ui_crm")).to_contain_text("not authorized")

            # Connect → the authorization server's login + consent → back to Airflow.
            status.locator("#connect-ui_crm").click()
            status.wait_for_url(f"{d.sandbox_url}/authorize?*")
            status.get_by_label("Username").fill("alice")
            status.get_by_label("Password").fill("wonderland")
            status.get_by_role("button", name="Allow").click()
            status.wait_for_url(f"{d.url}/oauth2/callback?*")
            expect(status.locator("h1")).to_have_text("Connection authorized")
            expect(status.locator("#conn-id")).to_have_text("ui_crm")
            expect(status.locator("#scope")).to_have_text("items:read offline_access")
            expect(status.locator("#expires-at")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
            _screenshot(status, "ui-connected.png")

            status.get_by_role("link", name="Back to OAuth 2.0 connections").click()
            expect(status.locator("#row-ui_crm")).to_contain_text("authorized")
            expect(status.locator("#row-ui_crm")).not_to_contain_text("not authorized")
            expect(status.locator("#connect-ui_crm")).to_have_text("Reconnect")
        finally:
            browser.close()

    stored = _stored_token_variable("ui_crm")
    assert stored is not None

    # A DAG run (its own process, the same metadata database) calls the API with that token.
    (d.dags_folder / "oauth2_ui_check.py").write_text(DAG_FILE)
    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "oauth2_ui_check"],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "OAUTH2_UI_ITEMS=10" in output, output[-5000:]
    assert "state=success" in output, output[-5000:]
    # The token from the browser was valid: the run used it rather than obtaining another.
    assert _stored_token_variable("ui_crm") == stored
