"""Endpoint discovery (RFC 8414, then OpenID Connect): where we look, what we fill in, what we refuse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_oauth_provider import discovery
from airflow_oauth_provider.exceptions import (
    OAuth2ConfigError,
    OAuth2InsecureTransportError,
    OAuth2ResponseError,
    OAuth2TransportError,
)
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from tests.cli.helpers import free_port, reset_stub, unique_conn_id
from tests.stub_server import StubServer


@pytest.fixture(scope="module")
def module_stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def stub(module_stub: StubServer) -> StubServer:
    return reset_stub(module_stub)


@pytest.fixture(autouse=True)
def _forget_documents() -> Iterator[None]:
    discovery.clear_cache()
    yield
    discovery.clear_cache()


def settings_of(conn_id: str):
    return OAuth2Hook(oauth2_conn_id=conn_id).settings


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            "https://as.example.com",
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ],
        ),
        (
            "https://as.example.com/",
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ],
        ),
        (
            # RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
            "https://as.example.com/tenant/v2",
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant/v2",
                "https://as.example.com/tenant/v2/.well-known/openid-configuration",
            ],
        ),
        (
            "https://as.example.com:8443/realms/airflow/",
            [
                "https://as.example.com:8443/.well-known/oauth-authorization-server/realms/airflow",
                "https://as.example.com:8443/realms/airflow/.well-known/openid-configuration",
            ],
        ),
    ],
)
def test_metadata_urls(issuer, expected):
    assert discovery.metadata_urls(issuer) == expected


def test_issuer_fills_every_endpoint(sandbox, make_conn):
    conn_id = make_conn(conn_id=unique_conn_id("discover"), host=sandbox.url, issuer=sandbox.url, scope="items:read")
    settings = settings_of(conn_id)
    assert (
        settings.token_url,
        settings.authorization_url,
        settings.device_authorization_url,
        settings.revocation_url,
    ) == (
        f"{sandbox.url}/token",
        f"{sandbox.url}/authorize",
        f"{sandbox.url}/device_authorization",
        f"{sandbox.url}/revoke",
    )
    assert OAuth2Hook(oauth2_conn_id=conn_id).run("GET", "/api/items").status_code == 200


def test_explicit_urls_win(sandbox, make_conn):
    # The same sandbox by another name: discovery would say 127.0.0.1, the connection says localhost.
    explicit = sandbox.url.replace("127.0.0.1", "localhost")
    conn_id = make_conn(
        conn_id=unique_conn_id("discover_explicit"),
        host=sandbox.url,
        issuer=sandbox.url,
        token_url=f"{explicit}/token",
        revocation_url=f"{explicit}/revoke",
    )
    settings = settings_of(conn_id)
    assert settings.token_url == f"{explicit}/token" and settings.revocation_url == f"{explicit}/revoke"
    assert settings.authorization_url == f"{sandbox.url}/authorize"
    assert OAuth2Hook(oauth2_conn_id=conn_id).get_token().access_token


def test_all_explicit_needs_no_document(make_conn):
    dead = f"http://127.0.0.1:{free_port()}"
    conn_id = make_conn(
        conn_id=unique_conn_id("discover_none"),
        issuer=dead,
        token_url=f"{dead}/token",
        authorization_url=f"{dead}/authorize",
        device_authorization_url=f"{dead}/device",
        revocation_url=f"{dead}/revoke",
    )
    assert settings_of(conn_id).token_url == f"{dead}/token"


def document(issuer: str, base: str, **changes) -> dict:
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/token",
        "authorization_endpoint": f"{base}/authorize",
        **changes,
    }


def test_another_issuer_in_the_document_is_refused(stub, make_conn):
    stub.add_json(200, document("https://attacker.example", stub.url))
    conn_id = make_conn(conn_id=unique_conn_id("mixup"), issuer=stub.url)
    with pytest.raises(OAuth2ConfigError, match="names issuer 'https://attacker.example'.*refusing its endpoints") as e:
        settings_of(conn_id)
    assert e.value.field == "extra.issuer"
    assert [r.path for r in stub.requests] == ["/.well-known/oauth-authorization-server"]


def test_a_document_without_issuer_is_refused(stub, make_conn):
    stub.add_json(200, {"token_endpoint": f"{stub.url}/token"})
    with pytest.raises(OAuth2ConfigError, match="names issuer None"):
        settings_of(make_conn(conn_id=unique_conn_id("no_issuer"), issuer=stub.url))


def test_openid_configuration_after_a_4xx_with_path_insertion(stub, make_conn):
    issuer = f"{stub.url}/tenant"
    stub.add(404, "not here")
    stub.add_json(200, document(issuer, issuer))
    conn_id = make_conn(conn_id=unique_conn_id("oidc"), issuer=issuer)
    assert settings_of(conn_id).token_url == f"{issuer}/token"
    assert [r.path for r in stub.requests] == [
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/openid-configuration",
    ]
    settings_of(conn_id)
    assert len(stub.requests) == 2  # cached per process


def test_no_document_anywhere(stub, make_conn):
    stub.add(404)
    with pytest.raises(OAuth2ConfigError, match=r"no discovery document at .*\(HTTP 404\) or .*\(HTTP 404\)"):
        settings_of(make_conn(conn_id=unique_conn_id("nodoc"), issuer=stub.url))


def test_plain_http_endpoint_elsewhere_is_refused(stub, make_conn):
    stub.add_json(200, document(stub.url, "http://as.example.com"))
    with pytest.raises(OAuth2InsecureTransportError, match="discovered token_endpoint"):
        settings_of(make_conn(conn_id=unique_conn_id("insecure"), issuer=stub.url))


@pytest.mark.parametrize(("status", "body"), [(200, "<html>login</html>"), (200, "[1, 2]"), (500, "oops")])
def test_broken_documents(stub, make_conn, status, body):
    stub.add(status, body, content_type="text/html")
    with pytest.raises(OAuth2ResponseError):
        settings_of(make_conn(conn_id=unique_conn_id("broken"), issuer=stub.url))


def test_relative_endpoint_is_refused(stub, make_conn):
    stub.add_json(200, document(stub.url, stub.url, token_endpoint="/token"))
    with pytest.raises(OAuth2ConfigError, match="token_endpoint is not an absolute http.s. URL"):
        settings_of(make_conn(conn_id=unique_conn_id("relative"), issuer=stub.url))


def test_unreachable_issuer(make_conn):
    with pytest.raises(OAuth2TransportError, match="could not be fetched.*set the endpoint URLs"):
        settings_of(make_conn(conn_id=unique_conn_id("unreachable"), issuer=f"http://127.0.0.1:{free_port()}"))
