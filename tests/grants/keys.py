"""Client keys for private_key_jwt and the JWT bearer grant, and reading the assertions we send."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def new_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(algorithm)


def private_pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "use": "sig"}


def form_of(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode()))


def token_response(access_token: str = "stub-access-token") -> dict[str, Any]:
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
