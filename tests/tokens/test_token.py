"""The token model: expiry with leeway, redaction, persisted records."""

from __future__ import annotations

import pytest

from airflow_oauth_provider.tokens.token import Token


def make(lifetime: float | None = 3600, **kw) -> Token:
    return Token(
        access_token="AT-secret-value",
        refresh_token="RT-secret-value",
        expires_at=None if lifetime is None else 1000.0 + lifetime,
        issued_at=1000.0,
        **kw,
    )


def test_repr_and_str_never_show_secrets():
    token = make(scope=("a",))
    for text in (repr(token), str(token), f"{token}", repr([token])):
        assert "AT-secret-value" not in text
        assert "RT-secret-value" not in text
        assert "[secure]" in text


def test_expiry_with_leeway():
    token = make(3600)
    assert token.is_expired(60, now=1000.0 + 3539) is False
    assert token.is_expired(60, now=1000.0 + 3541) is True
    assert token.is_expired(0, now=1000.0 + 3600) is True


def test_leeway_never_exceeds_half_the_lifetime():
    token = make(2)  # a 2 s token with the default 60 s leeway would be refreshed on every call
    assert token.effective_leeway(60) == 1.0
    assert token.is_expired(60, now=1000.5) is False
    assert token.is_expired(60, now=1001.0) is True


def test_unknown_expiry_is_unknown():
    assert make(None).is_expired(60, now=10**10) is None


def test_token_type_is_case_insensitive():
    assert make(token_type="bearer").is_bearer
    assert make(token_type="BEARER").is_bearer


def test_record_round_trip():
    token = make(scope=("a", "b"), version=7, updated_at=1234.5, refresh_expires_at=99999.0)
    assert Token.from_record(token.to_record()) == token


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({}, "access_token"),
        ({"access_token": 5}, "access_token"),
        ({"access_token": "x", "version": -1}, "version"),
        ({"access_token": "x", "version": True}, "version"),
        ({"access_token": "x", "expires_at": "soon"}, "expires_at"),
    ],
)
def test_invalid_records_name_the_field(record, message):
    with pytest.raises(ValueError, match=message):
        Token.from_record(record)
