"""
Client authentication at the token endpoint, one class per method (RFC 6749 §2.3, RFC 7523 §2.2).

Each method takes a :class:`~airflow_oauth_provider.protocol.TokenRequest` and returns it with the
client's credentials added; none does I/O.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from airflow_oauth_provider.exceptions import OAuth2ConfigError

if TYPE_CHECKING:
    from airflow_oauth_provider.protocol import TokenRequest
    from airflow_oauth_provider.settings import OAuth2Settings

__all__ = [
    "ClientAuth",
    "ClientSecretBasic",
    "ClientSecretJWT",
    "ClientSecretPost",
    "NoClientAuth",
    "PrivateKeyJWT",
    "client_auth_for",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Lifetime of a client assertion (RFC 7523 §3: "reasonable"); iat is backdated for clock skew.
ASSERTION_LIFETIME = 60
ASSERTION_SKEW = 5


class ClientAuth:
    """Base class: a client authentication method."""

    METHOD: ClassVar[str] = ""

    def __init__(self, client_id: str | None) -> None:
        self.client_id = client_id

    def apply(self, request: TokenRequest) -> TokenRequest:
        """Add the client's credentials to ``request`` and return it."""
        raise NotImplementedError


class ClientSecretBasic(ClientAuth):
    """
    HTTP Basic with client_id and secret, each form-urlencoded first (RFC 6749 §2.3.1).

    Encoding before base64 is what the RFC requires; secrets with ``:`` or non-ASCII characters
    otherwise break on strict servers.
    """

    METHOD = "client_secret_basic"

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__(client_id)
        self._secret = client_secret

    def apply(self, request: TokenRequest) -> TokenRequest:
        assert self.client_id is not None
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return request


class ClientSecretPost(ClientAuth):
    """client_id and client_secret in the request body (RFC 6749 §2.3.1)."""

    METHOD = "client_secret_post"

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__(client_id)
        self._secret = client_secret

    def apply(self, request: TokenRequest) -> TokenRequest:
        assert self.client_id is not None
        request.data += [("client_id", self.client_id), ("client_secret", self._secret)]
        return request


class NoClientAuth(ClientAuth):
    """A public client: only ``client_id`` in the body (RFC 6749 §3.2.1)."""

    METHOD = "none"

    def apply(self, request: TokenRequest) -> TokenRequest:
        if self.client_id:
            request.data.append(("client_id", self.client_id))
        return request


class _JWTAssertion(ClientAuth):
    """A signed client assertion (RFC 7523 §2.2, §3; OIDC Core §9): iss = sub = client_id, aud = token URL."""

    algorithm: str

    def __init__(self, client_id: str, key: str | bytes, key_id: str | None = None) -> None:
        super().__init__(client_id)
        self._key = key
        self.key_id = key_id

    def assertion(self, audience: str, now: float | None = None) -> str:
        """A fresh client assertion for ``audience`` with a unique ``jti``."""
        import jwt

        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": uuid.uuid4().hex,
            "iat": issued - ASSERTION_SKEW,
            "exp": issued + ASSERTION_LIFETIME,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def apply(self, request: TokenRequest) -> TokenRequest:
        request.data += [
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", self.assertion(request.url)),
        ]
        if self.client_id:
            request.data.append(("client_id", self.client_id))
        return request


class PrivateKeyJWT(_JWTAssertion):
    """``private_key_jwt``: an assertion signed with the client's RSA (RS256) or EC (ES256) key."""

    METHOD = "private_key_jwt"

    def __init__(self, client_id: str, private_key_pem: str, key_id: str | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as err:
            raise OAuth2ConfigError("extra.private_key", f"is not an unencrypted PEM private key ({err})") from None
        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise OAuth2ConfigError("extra.private_key", "must be an RSA key (RS256) or a P-256 EC key (ES256)")
        super().__init__(client_id, private_key_pem, key_id)


class ClientSecretJWT(_JWTAssertion):
    """``client_secret_jwt``: an assertion signed with HS256 keyed by the client secret."""

    METHOD = "client_secret_jwt"
    algorithm = "HS256"


def load_private_key(settings: OAuth2Settings) -> str:
    """The PEM private key from ``extra.private_key`` or the file at ``extra.private_key_path``."""
    if settings.private_key:
        return settings.private_key
    if settings.private_key_path:
        try:
            return Path(settings.private_key_path).read_text()
        except OSError as err:
            raise OAuth2ConfigError("extra.private_key_path", f"cannot be read: {err.strerror}") from None
    raise OAuth2ConfigError("extra.private_key", "is required")


def client_auth_for(settings: OAuth2Settings) -> ClientAuth:
    """The client authentication method a connection asks for."""
    method = settings.client_auth_method
    client_id = settings.client_id or ""
    if method == "client_secret_basic":
        return ClientSecretBasic(client_id, settings.client_secret or "")
    if method == "client_secret_post":
        return ClientSecretPost(client_id, settings.client_secret or "")
    if method == "client_secret_jwt":
        return ClientSecretJWT(client_id, settings.client_secret or "", settings.private_key_id)
    if method == "private_key_jwt":
        return PrivateKeyJWT(client_id, load_private_key(settings), settings.private_key_id)
    return NoClientAuth(client_id or None)
