"""
JWT client authentication at the token endpoint (RFC 7523 §2.2, OpenID Connect Core §9).

Authlib's :class:`JWTBearerClientAssertion` handles one method name; the sandbox registers it
twice, as ``client_secret_jwt`` (HMAC with the client secret) and ``private_key_jwt`` (the
client's public JWK Set), each answering only for clients registered with that method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet, OctKey

from airflow_oauth_provider.sandbox.context import issuer, token_endpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from authlib.oauth2.rfc6749 import OAuth2Request

    from airflow_oauth_provider.sandbox.models import Client
    from airflow_oauth_provider.sandbox.store import SandboxState

__all__ = ["ClientSecretJWTAuth", "PrivateKeyJWTAuth", "client_key_set"]

#: What Authlib (joserfc's recommended set) verifies by default.
SIGNING_ALGORITHMS = ["HS256", "RS256", "ES256"]


def client_key_set(client: Client) -> KeySet:
    """
    The client's public keys: its registered ``jwks`` (a JWK Set or a single JWK).

    :param client: a client registered with ``jwks``.
    :raises InvalidClientError: when it has none.
    """
    if not client.jwks:
        raise InvalidClientError(description="The client has no registered 'jwks'.")
    jwks = client.jwks if "keys" in client.jwks else {"keys": [client.jwks]}
    return KeySet.import_key_set(jwks)  # type: ignore[arg-type]


class _ClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """A client assertion checked against one method's keys, replay-protected by ``jti``."""

    def __init__(self, state: SandboxState) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self.state = state

    def __call__(self, query_client: Callable[[str], Any], request: OAuth2Request) -> Any:
        assertion = request.form.get("client_assertion")
        if request.form.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE or not assertion:
            return None
        _headers, claims = self.extract_assertion(assertion)
        client = query_client(claims["sub"]) if isinstance(claims.get("sub"), str) else None
        # Leave a client registered for the other JWT method to that method's handler.
        if client is not None and not client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, "token"):
            return None
        return super().__call__(query_client, request)

    def get_audiences(self) -> list[str]:
        # RFC 7523 §3: the token endpoint URL; the issuer too, as RFC 7523bis recommends.
        return [token_endpoint(), issuer()]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return self.state.use_jti(f"{claims['sub']}\x00{jti}", float(claims.get("exp", 0)))


class ClientSecretJWTAuth(_ClientAssertion):
    """``client_secret_jwt``: an HS256 assertion keyed with the client secret."""

    CLIENT_AUTH_METHOD = "client_secret_jwt"

    def resolve_client_public_key(self, client: Client) -> OctKey:
        if not client.client_secret:
            raise InvalidClientError(description="The client has no secret.")
        return OctKey.import_key(client.client_secret)


class PrivateKeyJWTAuth(_ClientAssertion):
    """``private_key_jwt``: an assertion signed with a key from the client's ``jwks``."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return client_key_set(client)
