"""
The token store's single-flight path over the real metadata database (SQLite in this process).

``obtain`` is the store's injected seam (the hook passes its grant); here it is a plain
function so that each test controls what the "server" answers.
"""

from __future__ import annotations

import threading
import time

import pytest

from airflow_oauth_provider.exceptions import (
    OAuth2ReauthorizationRequired,
    OAuth2TokenError,
    OAuth2TokenStoreError,
)
from airflow_oauth_provider.tokens.backends import VariableBackend, file_lock
from airflow_oauth_provider.tokens.crypto import TokenCipher, cipher_from_config
from airflow_oauth_provider.tokens.persistence import MetadataVariables
from airflow_oauth_provider.tokens.store import TokenStore, clear_process_cache
from airflow_oauth_provider.tokens.token import Token


def variable_value(key: str) -> str | None:
    return MetadataVariables().read(key)


class Server:
    """Issues rotating tokens; counts calls."""

    def __init__(self, lifetime: float = 3600) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.lock = threading.Lock()

    def obtain(self, current: Token | None) -> Token:
        with self.lock:
            self.calls += 1
            n = self.calls
        time.sleep(0.05)
        now = time.time()
        return Token(access_token=f"at-{n}", refresh_token=f"rt-{n}", expires_at=now + self.lifetime, issued_at=now)


@pytest.fixture
def key(request) -> str:
    return f"oauth2_token__store_{request.node.name}"[:200]


@pytest.fixture
def backend() -> VariableBackend:
    return VariableBackend(file_lock(), MetadataVariables(), cipher_from_config(), name="test")


def store_for(key, backend, **kw) -> TokenStore:
    return TokenStore(key, backend=backend, leeway=0, lock_timeout=10, conn_id="crm", **kw)


def test_first_get_persists_version_1_encrypted(key, backend):
    server = Server()
    token = store_for(key, backend).get(server.obtain)
    assert (token.access_token, token.version) == ("at-1", 1)
    raw = variable_value(key)
    assert raw.startswith("oauth2:v1:") and "at-1" not in raw and "rt-1" not in raw
    assert backend.peek(key).access_token == "at-1"


def test_cache_hit_does_no_io(key, backend, monkeypatch):
    server = Server()
    store = store_for(key, backend)
    store.get(server.obtain)
    monkeypatch.setattr(MetadataVariables, "read", lambda *a: pytest.fail("I/O on the hot path"))
    assert store.get(server.obtain).access_token == "at-1"
    assert server.calls == 1


def test_other_process_sees_persisted_token(key, backend):
    server = Server()
    store_for(key, backend).get(server.obtain)
    clear_process_cache()  # as if another process
    assert store_for(key, backend).get(server.obtain).access_token == "at-1"
    assert server.calls == 1


def test_expired_token_is_refreshed_with_version_plus_one(key, backend):
    server = Server(lifetime=0.3)
    store = store_for(key, backend)
    first = store.get(server.obtain)
    time.sleep(0.4)
    second = store.get(server.obtain)
    assert (second.access_token, second.version) == ("at-2", first.version + 1)
    assert backend.peek(key).version == 2


def test_rejected_token_is_never_returned_but_a_siblings_newer_one_is(key, backend):
    server = Server()
    store = store_for(key, backend)
    first = store.get(server.obtain)
    # A sibling process already refreshed after its own 401: the store holds version 2.
    clear_process_cache()
    sibling = store_for(key, backend).get(server.obtain, rejected=first)
    assert sibling.access_token == "at-2"
    clear_process_cache()
    # This process was rejected with the old token too: it takes the sibling's, no new refresh.
    again = store_for(key, backend).get(server.obtain, rejected=first)
    assert again.access_token == "at-2"
    assert server.calls == 2


def test_threads_refresh_once(key, backend):
    server = Server()
    store = store_for(key, backend)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(store.get(server.obtain).access_token)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["at-1"] * 8
    assert server.calls == 1


def test_invalid_grant_with_no_newer_version_requires_reauthorization(key, backend):
    server = Server(lifetime=0.2)
    store = store_for(key, backend)
    store.get(server.obtain)
    time.sleep(0.3)

    def revoked(current):
        raise OAuth2TokenError("invalid_grant", "refresh token revoked", status=400)

    with pytest.raises(OAuth2ReauthorizationRequired) as info:
        store.get(revoked)
    assert "connection 'crm'" in str(info.value)
    assert "`airflow oauth2 authorize crm`" in str(info.value)
    assert backend.peek(key).version == 1  # nothing overwritten


def test_invalid_grant_after_a_sibling_rotated_uses_the_newer_token(key, backend):
    server = Server(lifetime=0.2)
    store = store_for(key, backend)
    store.get(server.obtain)
    time.sleep(0.3)

    def sibling_rotated_meanwhile(current):
        # A writer that ignored the lock (or a crash window) stored version 2 first.
        backend.io.write(
            key, backend.cipher.encrypt(Token("at-sib", refresh_token="rt-sib", version=2, expires_at=time.time() + 60))
        )
        raise OAuth2TokenError("invalid_grant", status=400)

    assert store.get(sibling_rotated_meanwhile).access_token == "at-sib"


def test_write_failure_raises_a_named_error_and_keeps_the_token_in_process(key, backend, monkeypatch):
    server = Server()

    def broken_write(self, key, value):
        raise OSError("database is read-only")

    monkeypatch.setattr(MetadataVariables, "write", broken_write)
    monkeypatch.setattr("airflow_oauth_provider.tokens.store.time.sleep", lambda s: None)
    store = store_for(key, backend)
    with pytest.raises(OAuth2TokenStoreError) as info:
        store.get(server.obtain)
    assert "a new token (version 1) was obtained but could not be saved" in str(info.value)
    assert key in str(info.value)
    assert server.calls == 1
    assert store.cached().access_token == "at-1"  # not lost while this process lives


def test_write_that_does_not_read_back_is_detected(key, backend, monkeypatch):
    server = Server()
    monkeypatch.setattr(MetadataVariables, "write", lambda self, key, value: None)  # a silently lost write
    monkeypatch.setattr("airflow_oauth_provider.tokens.store.time.sleep", lambda s: None)
    with pytest.raises(OAuth2TokenStoreError, match="read-back after writing .* returned version None, expected 1"):
        store_for(key, backend).get(server.obtain)


def test_undecryptable_stored_token_is_an_error_not_a_new_grant(key, backend):
    server = Server()
    from cryptography.fernet import Fernet

    other = TokenCipher([Fernet.generate_key().decode()])
    backend.io.write(key, other.encrypt(Token("old", refresh_token="r", version=4)))
    with pytest.raises(OAuth2TokenStoreError, match=f"Variable '{key}' cannot be decrypted"):
        store_for(key, backend).get(server.obtain)
    assert server.calls == 0


def test_variable_shadowed_by_environment_is_an_error(key, backend, monkeypatch):
    server = Server()
    monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", "something")
    with pytest.raises(OAuth2TokenStoreError, match=f"shadowed by the environment variable AIRFLOW_VAR_{key.upper()}"):
        store_for(key, backend).get(server.obtain)
    assert server.calls == 0
