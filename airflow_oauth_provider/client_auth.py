"""
Client authentication at the token endpoint, one class per method (RFC 6749 §2.3, RFC 7523 §2.2).

Each method takes a :class:`~airflow_oauth_provider.protocol.TokenRequest` and returns it with the
client's credentials added; none does I/O.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
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

log = logging.getLogger(__name__)

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
    """
    A signed client assertion (RFC 7523 §2.2, §3; OIDC Core §9): iss = sub = client_id.

    ``aud`` is the token endpoint (OIDC Core §9, RFC 7523 §3) for every endpoint the client
    authenticates at (token, device authorization, revocation): servers identify themselves by
    it, and a revocation URL as audience is refused by most of them.

    :param client_id: the client identifier (``iss`` and ``sub``).
    :param key: the signing key (a private key object, or the client secret for HS256).
    :param key_id: the ``kid`` header, if the server needs it to pick the key.
    :param audience: the ``aud`` claim; default: the URL of the request being authenticated.
    """

    algorithm: str

    def __init__(self, client_id: str, key: Any, key_id: str | None = None, *, audience: str | None = None) -> None:
        super().__init__(client_id)
        self._key = key
        self.key_id = key_id
        self.audience = audience

    def claims(self, audience: str, now: float | None = None, *, subject: str | None = None) -> dict[str, Any]:
        """
        The claims of a fresh assertion: a unique ``jti``, ``exp`` a minute ahead, ``iat`` backdated for skew.

        :param audience: the ``aud`` claim.
        :param now: the current epoch time (tests).
        :param subject: the ``sub`` claim; default the client_id (client authentication).
        """
        issued = int(time.time() if now is None else now)
        return {
            "iss": self.client_id,
            "sub": subject or self.client_id,
            "aud": audience,
            "jti": uuid.uuid4().hex,
            "iat": issued - ASSERTION_SKEW,
            "exp": issued + ASSERTION_LIFETIME,
        }

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign ``claims`` with this client's key and algorithm."""
        import jwt

        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def assertion(self, audience: str, now: float | None = None, *, subject: str | None = None) -> str:
        """A freshly signed assertion for ``audience`` with a unique ``jti``."""
        return self.sign(self.claims(audience, now, subject=subject))

    def apply(self, request: TokenRequest) -> TokenRequest:
        request.data += [
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", self.assertion(self.audience or request.url)),
        ]
        if self.client_id:
            request.data.append(("client_id", self.client_id))
        return request


class PrivateKeyJWT(_JWTAssertion):
    """``private_key_jwt``: an assertion signed with the client's RSA (RS256) or EC (ES256) key."""

    METHOD = "private_key_jwt"

    def __init__(
        self, client_id: str, private_key_pem: str, key_id: str | None = None, *, audience: str | None = None
    ) -> None:
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
        super().__init__(client_id, key, key_id, audience=audience)


class ClientSecretJWT(_JWTAssertion):
    """
    ``client_secret_jwt``: an assertion signed with HS256 keyed by the client secret.

    The secret is the authorization server's choice: when it is shorter than the 32 bytes
    RFC 7518 §3.2 asks for HS256, that is logged once per client instead of PyJWT's
    per-signature ``InsecureKeyLengthWarning``.
    """

    METHOD = "client_secret_jwt"
    algorithm = "HS256"
    _warned: ClassVar[set[str]] = set()

    def sign(self, claims: dict[str, Any]) -> str:
        key = self._key.encode() if isinstance(self._key, str) else self._key
        if len(key) < 32 and self.client_id not in self._warned:
            self._warned.add(self.client_id or "")
            log.warning(
                "The client secret of %r is %d bytes, shorter than the 32 bytes RFC 7518 §3.2 recommends for "
                "client_secret_jwt (HS256); ask the authorization server for a longer one",
                self.client_id,
                len(key),
            )
        headers = {"kid": self.key_id} if self.key_id else None
        payload = json.dumps(claims, separators=(",", ":")).encode()
        token: str = _hs256().encode(payload, key, algorithm="HS256", headers=headers)
        return token


@functools.cache
def _hs256() -> Any:
    """A PyJWS that signs HS256 without the key-length warning (reported once by :class:`ClientSecretJWT`)."""
    import jwt
    from jwt.algorithms import HMACAlgorithm

    class _ServerIssuedSecret(HMACAlgorithm):
        def check_key_length(self, key: Any) -> str | None:
            return None

    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm("HS256", _ServerIssuedSecret(HMACAlgorithm.SHA256))
    return jws


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
        return ClientSecretJWT(
            client_id, settings.client_secret or "", settings.private_key_id, audience=settings.token_url
        )
    if method == "private_key_jwt":
        return PrivateKeyJWT(
            client_id, load_private_key(settings), settings.private_key_id, audience=settings.token_url
        )
    return NoClientAuth(client_id or None)
