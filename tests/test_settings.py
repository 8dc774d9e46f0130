"""Reading an oauth2 connection: AIRFLOW_CONN_* JSON, field validation, transport rules."""

from __future__ import annotations

import json

import pytest

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2InsecureTransportError
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from airflow_oauth_provider.settings import OAuth2Settings, check_transport, is_loopback_host


def settings_of(make_conn, **kwargs):
    return OAuth2Hook(oauth2_conn_id=make_conn(**kwargs)).settings


def test_json_uri_connection_is_read(make_conn):
    settings = settings_of(
        make_conn,
        host="https://api.example.com",
        token_url="https://auth.example.com/token",
        scope="read write",
        audience="https://api.example.com",
        resource=["https://a.example", "https://b.example"],
        client_auth_method="client_secret_post",
        timeout=[3, 7],
        leeway="30",
    )
    assert settings.base_url == "https://api.example.com"
    assert settings.client_id == "sandbox-client"
    assert settings.client_secret == "sandbox-secret"
    assert settings.scope == ("read", "write")
    assert settings.resource == ("https://a.example", "https://b.example")
    assert settings.timeout == (3.0, 7.0)
    assert settings.leeway == 30.0
    assert settings.grant_type == "client_credentials"
    assert settings.persist_token is False
    assert settings.token_key == f"oauth2_token__{settings.conn_id}"
    assert "sandbox-secret" not in repr(settings)


def test_host_with_schema_and_port(make_conn, monkeypatch):
    body = {
        "conn_type": "oauth2",
        "host": "api.example.com",
        "schema": "https",
        "port": 8443,
        "login": "c",
        "password": "s",
        "extra": {"token_url": "https://auth.example.com/t"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PORTED", json.dumps(body))
    assert OAuth2Hook(oauth2_conn_id="ported").settings.base_url == "https://api.example.com:8443"


def test_custom_scope_delimiter(make_conn):
    settings = settings_of(make_conn, token_url="https://a.example/t", scope="a,b, c", scope_delimiter=",")
    assert settings.scope == ("a", "b", "c")
    assert settings.scope_string == "a,b,c"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"token_url": "https://a.example/t", "tokn_url": "x"}, "extra.tokn_url"),
        ({"token_url": "https://a.example/t", "grant_type": "password"}, "extra.grant_type"),
        ({"token_url": "https://a.example/t", "leeway": "soon"}, "extra.leeway"),
        ({"token_url": "https://a.example/t", "timeout": [1, 2, 3]}, "extra.timeout"),
        ({"token_url": "https://a.example/t", "allow_insecure_http": "maybe"}, "extra.allow_insecure_http"),
        ({"token_url": "not a url"}, "extra.token_url"),
        ({"token_url": "https://a.example/t#frag"}, "extra.token_url"),
        ({}, "extra.token_url"),
        ({"token_url": "https://a.example/t", "client_auth_method": "client_secret_jwt_x"}, "extra.client_auth_method"),
        ({"token_url": "https://a.example/t", "grant_type": "authorization_code"}, "extra.redirect_uri"),
        ({"token_url": "https://a.example/t", "client_auth_method": "private_key_jwt"}, "extra.private_key"),
    ],
)
def test_invalid_fields_are_named(make_conn, extra, field):
    with pytest.raises(OAuth2ConfigError) as info:
        settings_of(make_conn, **extra)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_missing_client_secret_is_named(make_conn):
    with pytest.raises(OAuth2ConfigError, match="^password: "):
        settings_of(make_conn, password=None, token_url="https://a.example/t")


def test_wrong_conn_type_is_named(make_conn):
    conn_id = make_conn(conn_type="http", token_url="https://a.example/t")
    with pytest.raises(OAuth2ConfigError, match="conn_type"):
        OAuth2Hook(oauth2_conn_id=conn_id).settings


@pytest.mark.parametrize(
    ("extra", "message"), [("[1, 2]", "must be a JSON object"), ("{not json", "is not valid JSON")]
)
def test_extra_that_is_not_a_json_object(extra, message):
    from airflow.sdk import Connection

    conn = Connection(conn_id="badextra", conn_type="oauth2", extra=extra)
    with pytest.raises(OAuth2ConfigError, match=f"^extra: {message}"):
        OAuth2Settings.from_connection(conn)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "api.localhost"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "192.168.1.1", "localhost.example.com", "", None])
def test_non_loopback_hosts(host):
    assert not is_loopback_host(host)


def test_http_to_remote_host_is_refused(make_conn):
    with pytest.raises(
        OAuth2InsecureTransportError, match=r"^extra\.token_url: http://auth\.example\.com is not https"
    ):
        settings_of(make_conn, token_url="http://auth.example.com/token")
    with pytest.raises(OAuth2InsecureTransportError, match="^host: "):
        settings_of(make_conn, host="http://api.example.com", token_url="https://auth.example.com/token")


def test_http_allowed_on_loopback_or_opt_in(make_conn):
    check_transport("http://127.0.0.1:8080/token", "extra.token_url", False)
    settings = settings_of(make_conn, token_url="http://auth.internal/token", allow_insecure_http=True)
    assert settings.token_url == "http://auth.internal/token"
