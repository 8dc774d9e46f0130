"""Client credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_oauth_provider.grants.base import Grant

if TYPE_CHECKING:
    from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["ClientCredentialsGrant"]


class ClientCredentialsGrant(Grant):
    """
    The client acts on its own behalf::

        +---------+                                  +---------------+
        |         |>--(A)- Client Authentication --->| Authorization |
        | Client  |                                  |     Server    |
        |         |<--(B)---- Access Token ---------<|               |
        +---------+                                  +---------------+

    No refresh token is expected (RFC 6749 §4.4.3); a new token is simply requested.
    """

    NAME = "client_credentials"
    GRANT_TYPE = "client_credentials"

    def initial_request(self) -> TokenRequest:
        return self._request(self.GRANT_TYPE, [])
