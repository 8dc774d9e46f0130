"""The MultiFernet envelope: round trip, key rotation, and undecryptable values."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_provider.exceptions import OAuth2TokenStoreError
from airflow_oauth_provider.tokens.crypto import PREFIX, TokenCipher, cipher_from_config
from airflow_oauth_provider.tokens.token import Token

TOKEN = Token(access_token="at-value-123", refresh_token="rt-value-456", expires_at=2000.0, issued_at=1000.0, version=3)


def test_round_trip_and_no_plaintext():
    cipher = TokenCipher([Fernet.generate_key().decode()])
    stored = cipher.encrypt(TOKEN)
    assert stored.startswith(PREFIX)
    assert "at-value-123" not in stored and "rt-value-456" not in stored
    assert cipher.decrypt(stored, "k") == TOKEN


def test_key_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored_with_old = TokenCipher([old]).encrypt(TOKEN)
    rotated = TokenCipher([new, old])
    assert rotated.decrypt(stored_with_old, "k") == TOKEN  # old ciphertext still reads
    fresh = rotated.encrypt(TOKEN)
    assert TokenCipher([new]).decrypt(fresh, "k") == TOKEN  # new writes use the newest key
    with pytest.raises(OAuth2TokenStoreError):
        TokenCipher([old]).decrypt(fresh, "k")
    assert TokenCipher([new]).decrypt(rotated.rotate(stored_with_old), "k") == TOKEN


def test_undecryptable_value_names_variable_and_setting():
    stored = TokenCipher([Fernet.generate_key().decode()]).encrypt(TOKEN)
    cipher = TokenCipher([Fernet.generate_key().decode()], "[oauth2] token_encryption_keys")
    with pytest.raises(OAuth2TokenStoreError) as info:
        cipher.decrypt(stored, "oauth2_token__crm")
    assert str(info.value).startswith(
        "Variable 'oauth2_token__crm' cannot be decrypted with the keys in [oauth2] token_encryption_keys"
    )


@pytest.mark.parametrize("value", ["not ours", PREFIX + "garbage", PREFIX + "Zm9v"])
def test_corrupted_values(value):
    with pytest.raises(OAuth2TokenStoreError, match="oauth2_token__crm"):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(value, "oauth2_token__crm")


def test_no_key_refuses_with_instructions():
    with pytest.raises(OAuth2TokenStoreError, match=r"set \[oauth2\] token_encryption_keys"):
        TokenCipher([])


def test_invalid_key():
    with pytest.raises(OAuth2TokenStoreError, match="not a valid Fernet key"):
        TokenCipher(["short"], "[oauth2] token_encryption_keys")


def test_config_prefers_provider_keys(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__OAUTH2__TOKEN_ENCRYPTION_KEYS", f"{key}, {Fernet.generate_key().decode()}")
    cipher = cipher_from_config()
    assert cipher.source == "[oauth2] token_encryption_keys"
    assert TokenCipher([key]).decrypt(cipher.encrypt(TOKEN), "k") == TOKEN
    monkeypatch.delenv("AIRFLOW__OAUTH2__TOKEN_ENCRYPTION_KEYS")
    assert cipher_from_config().source == "[core] fernet_key"
