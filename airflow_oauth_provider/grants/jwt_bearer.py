"""JWT bearer grant (RFC 7523 §2.1): a signed assertion is the grant (service accounts)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from airflow_oauth_provider.client_auth import PrivateKeyJWT, load_private_key
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

    @cached_property
    def signer(self) -> PrivateKeyJWT:
        """Signs with ``extra.private_key`` (RS256 for RSA, ES256 for P-256), loaded once."""
        settings = self.settings
        return PrivateKeyJWT(settings.client_id or "", load_private_key(settings), settings.private_key_id)

    def assertion(self, now: float | None = None) -> str:
        """A freshly signed grant assertion."""
        return self.signer.assertion(self.token_url, now, subject=self.settings.assertion_subject)

    def initial_request(self) -> TokenRequest:
        return self._request(self.GRANT_TYPE, [("assertion", self.assertion())])
