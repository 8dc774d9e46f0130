"""
MultiFernet envelope for persisted tokens.

Keys come from ``[oauth2] token_encryption_keys`` (comma-separated, newest first), else from
``[core] fernet_key``. New records are encrypted with the first key; every listed key decrypts,
so keys rotate by prepending a new one. With no key at all nothing is persisted.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airflow_oauth_provider.exceptions import OAuth2TokenStoreError
from airflow_oauth_provider.tokens.token import Token

__all__ = ["PREFIX", "TokenCipher", "cipher_from_config"]

#: Marks a value written by this store, and its format version.
PREFIX = "oauth2:v1:"

KEY_SETTINGS = "[oauth2] token_encryption_keys (or [core] fernet_key)"


class TokenCipher:
    """
    Encrypts token records with the newest key and decrypts with any.

    :param keys: Fernet keys, newest first.
    :param source: which setting the keys came from, for messages.
    """

    def __init__(self, keys: list[str], source: str = KEY_SETTINGS) -> None:
        if not keys:
            raise OAuth2TokenStoreError(
                "no encryption key for stored tokens: set [oauth2] token_encryption_keys (or [core] fernet_key) "
                "to a Fernet key, e.g. the output of "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`, "
                "on every worker, triggerer and API server"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError):
            raise OAuth2TokenStoreError(f"{source} holds a value that is not a valid Fernet key") from None
        self.source = source

    @property
    def fernet(self) -> MultiFernet:
        """The configured keys, for other secrets the provider keeps (pending UI authorizations)."""
        return self._fernet

    def encrypt(self, token: Token) -> str:
        """The stored form of ``token``."""
        return PREFIX + self._fernet.encrypt(json.dumps(token.to_record()).encode()).decode("ascii")

    def decrypt(self, value: str, key: str) -> Token:
        """
        The token stored in ``value``.

        :param value: the Variable's value.
        :param key: the Variable's key, for messages.
        :raises OAuth2TokenStoreError: naming the Variable and the key setting when it cannot be read.
        """
        if not value.startswith(PREFIX):
            raise OAuth2TokenStoreError(
                f"Variable {key!r} does not hold a token written by the OAuth 2.0 provider "
                f"(expected a value starting with {PREFIX!r}); delete it or set extra.token_variable to another key"
            )
        try:
            plain = self._fernet.decrypt(value[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise OAuth2TokenStoreError(
                f"Variable {key!r} cannot be decrypted with the keys in {self.source}: it was written with a "
                "key that is no longer configured, or it is corrupted. Add the old key after the new one, or "
                "re-authorize the connection"
            ) from None
        try:
            record: Any = json.loads(plain)
            return Token.from_record(record)
        except ValueError as err:
            raise OAuth2TokenStoreError(f"Variable {key!r} decrypts to an invalid token record: {err}") from None

    def rotate(self, value: str) -> str:
        """Re-encrypt ``value`` with the newest key (``MultiFernet.rotate``)."""
        return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode("ascii")).decode("ascii")


def cipher_from_config() -> TokenCipher:
    """The cipher configured for this process (see the module docstring)."""
    from airflow.providers.common.compat.sdk import conf

    raw = conf.get("oauth2", "token_encryption_keys", fallback="") or ""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if keys:
        return TokenCipher(keys, "[oauth2] token_encryption_keys")
    fernet = conf.get("core", "fernet_key", fallback="") or ""
    keys = [k.strip() for k in fernet.split(",") if k.strip()]
    return TokenCipher(keys, "[core] fernet_key")
