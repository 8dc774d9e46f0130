"""JWT bearer grant (RFC 7523 §2.1): a signed assertion is the grant (service accounts)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from airflow_oauth_provider.client_auth import ASSERTION_LIFETIME, ASSERTION_SKEW, PrivateKeyJWT, load_private_key
from airflow_oauth_provider.grants.base import Grant

if TYPE_CHECKING:
    from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["JWTBearerGrant"]


class JWTBearerGrant(Grant):
    """
    The client presents a JWT it signed with its private key::

        +--------+                                  +---------------+
        | Client |>--(A)-- grant_type=jwt-bearer -->| Authorization |
        |        |         assertion=<signed JWT>   |     Server    |
        |        |<--(B)------- Access Token ------<|               |
        +--------+                                  +---------------+

    Claims (RFC 7523 §3): ``iss`` = client_id, ``sub`` = ``extra.assertion_subject`` or the
    client_id, ``aud`` = the token endpoint, a unique ``jti``, ``exp`` a minute ahead and ``iat``
    slightly in the past to tolerate clock skew.
    """

    NAME = "jwt_bearer"
    GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def assertion(self, now: float | None = None) -> str:
        """A freshly signed grant assertion."""
        import jwt

        settings = self.settings
        signer = PrivateKeyJWT(settings.client_id or "", load_private_key(settings), settings.private_key_id)
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": settings.client_id,
            "sub": settings.assertion_subject or settings.client_id,
            "aud": self.token_url,
            "jti": uuid.uuid4().hex,
            "iat": issued - ASSERTION_SKEW,
            "exp": issued + ASSERTION_LIFETIME,
        }
        headers = {"kid": settings.private_key_id} if settings.private_key_id else None
        return jwt.encode(claims, load_private_key(settings), algorithm=signer.algorithm, headers=headers)

    def initial_request(self) -> TokenRequest:
        return self._request(self.GRANT_TYPE, [("assertion", self.assertion())])
