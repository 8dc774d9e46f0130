"""The ``oauth2`` connection form declared in provider info, checked against Airflow's own schemas."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_oauth_provider.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_oauth_provider.settings import _EXTRA_PARSERS, CLIENT_AUTH_METHODS, GRANT_TYPES, LOCK_BACKENDS

AIRFLOW_DIR = Path(airflow.__file__).parent

# DESIGN.md's connection table, extra part.
DESIGN_EXTRA_KEYS = {
    "grant_type",
    "token_url",
    "authorization_url",
    "device_authorization_url",
    "revocation_url",
    "issuer",
    "scope",
    "audience",
    "resource",
    "client_auth_method",
    "private_key",
    "private_key_id",
    "redirect_uri",
    "refresh_token",
    "leeway",
    "lock_timeout",
    "token_variable",
    "lock_conn_id",
    "lock_backend",
    "timeout",
    "verify",
    "proxies",
    "allow_insecure_http",
}


def _schema(name: str) -> dict:
    return json.loads((AIRFLOW_DIR / name).read_text())


def _connection_type() -> dict:
    (conn_type,) = get_provider_info()["connection-types"]
    return conn_type


def test_provider_info_is_valid_for_the_runtime_schema():
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_connection_type_is_valid_for_the_provider_yaml_schema():
    """The richer schema that describes conn-fields and ui-field-behaviour (what the providers manager reads)."""
    schema = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate([_connection_type()], schema)


def test_ui_field_behaviour_is_valid_once_converted():
    """providers_manager converts the kebab keys and validates against this schema; an error drops the form."""
    behaviour = _connection_type()["ui-field-behaviour"]
    converted = {key.replace("-", "_"): value for key, value in behaviour.items()}
    jsonschema.validate(converted, _schema("customized_form_field_behaviours.schema.json"))
    assert set(converted["hidden_fields"]) <= {"schema"}, "host, login, password and port carry settings"


def test_every_design_setting_has_a_labelled_field_with_help():
    assert DESIGN_EXTRA_KEYS <= set(CONN_FIELDS)
    for key, field in CONN_FIELDS.items():
        assert key in _EXTRA_PARSERS, f"{key} is not an extra key the settings reader accepts"
        assert field["label"].strip() and len(field["description"]) > 20, key
        assert "null" in field["schema"]["type"], f"{key} must be optional in the form"


def test_choices_are_dropdowns_with_the_accepted_values():
    assert CONN_FIELDS["grant_type"]["schema"]["enum"] == list(GRANT_TYPES)
    assert CONN_FIELDS["client_auth_method"]["schema"]["enum"] == list(CLIENT_AUTH_METHODS)
    assert CONN_FIELDS["lock_backend"]["schema"]["enum"] == list(LOCK_BACKENDS)


@pytest.mark.parametrize("key", ["private_key", "refresh_token"])
def test_secrets_are_password_fields(key):
    """``format: password`` renders a masked input and makes the providers manager mark the field sensitive."""
    assert CONN_FIELDS[key]["schema"]["format"] == "password"


def test_standard_secret_and_labels():
    behaviour = _connection_type()["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "API base URL", "login": "Client ID", "password": "Client secret"}
    # Placeholders are only shown for standard fields (Airflow 3.3.2); extra hints live in descriptions.
    assert set(behaviour["placeholders"]) <= {"description", "host", "port", "login", "password", "schema"}


def test_no_default_overrides_deployment_wide_options():
    """A default in the form is written into every saved connection and would shadow [oauth2] leeway etc."""
    with_defaults = {key for key, field in CONN_FIELDS.items() if "default" in field["schema"]}
    assert with_defaults == {"grant_type", "client_auth_method", "allow_insecure_http"}


@pytest.mark.parametrize("joiner", [" ", ""])
def test_private_key_survives_a_single_line_password_input(joiner):
    """A password input cannot hold line breaks: browsers turn them into spaces or drop them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from airflow_oauth_provider.client_auth import PrivateKeyJWT

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    PrivateKeyJWT("client", joiner.join(pem.strip().splitlines()))
