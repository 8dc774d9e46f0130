"""The OAuth 2.0 hook: an ``oauth2`` connection → a grant, a token store, and authenticated HTTP calls."""

from __future__ import annotations

import dataclasses
import logging
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from requests.auth import AuthBase

from airflow_oauth_provider import observability
from airflow_oauth_provider.client_auth import client_auth_for
from airflow_oauth_provider.discovery import with_discovered_endpoints
from airflow_oauth_provider.exceptions import (
    OAuth2ConfigError,
    OAuth2Error,
    OAuth2HttpError,
    OAuth2ScopeError,
    OAuth2TokenError,
)
from airflow_oauth_provider.grants import grant_for
from airflow_oauth_provider.hooks.retry import ApiRetryPolicy, body_is_replayable, send_with_retries
from airflow_oauth_provider.runtime import get_connection
from airflow_oauth_provider.settings import OAuth2Settings, check_transport
from airflow_oauth_provider.tokens.store import TokenStore
from airflow_oauth_provider.tokens.token import Token
from airflow_oauth_provider.transport import send_token_request

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_oauth_provider.grants import Grant
    from airflow_oauth_provider.protocol import TokenRequest

__all__ = ["OAuth2BearerAuth", "OAuth2Hook"]

log = logging.getLogger(__name__)


class OAuth2Hook(BaseHook):
    """
    Call an OAuth 2.0 protected API with tokens obtained, cached, refreshed and persisted for you.

    Nothing is looked up until a token or a request is needed.

    :param oauth2_conn_id: the ``oauth2`` connection (API base URL in host, client_id in login,
        client_secret in password, grant settings in extra).
    """

    conn_name_attr: ClassVar[str] = "oauth2_conn_id"
    default_conn_name: ClassVar[str] = "oauth2_default"
    conn_type: ClassVar[str] = "oauth2"
    hook_name: ClassVar[str] = "OAuth 2.0"

    def __init__(self, oauth2_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oauth2_conn_id = oauth2_conn_id
        self._masked: str | None = None
        self._scope_checked: str | None = None

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        """The connection, looked up where this process can see it (see :func:`runtime.get_connection`)."""
        return get_connection(conn_id)

    @cached_property
    def settings(self) -> OAuth2Settings:
        """The connection, read and validated; its secrets registered with the masker."""
        conn = self.get_connection(self.oauth2_conn_id)
        if conn.conn_type and conn.conn_type != self.conn_type:
            raise OAuth2ConfigError(
                "conn_type", f"connection {self.oauth2_conn_id!r} is of type {conn.conn_type!r}, expected 'oauth2'"
            )
        settings = OAuth2Settings.from_connection(conn)
        for secret in (settings.client_secret, settings.private_key, settings.refresh_token):
            if secret:
                mask_secret(secret)
        return with_discovered_endpoints(settings)

    @cached_property
    def grant(self) -> Grant:
        """The grant the connection names."""
        return grant_for(self.settings, client_auth_for(self.settings))

    @cached_property
    def store(self) -> TokenStore:
        """The token store for this connection (persisted and locked when the grant needs it)."""
        settings = self.settings
        backend = None
        if settings.persist_token:
            from airflow_oauth_provider.tokens.backends import backend_for

            backend = backend_for(settings)
        return TokenStore(
            settings.token_key,
            backend=backend,
            leeway=settings.leeway,
            lock_timeout=settings.lock_timeout,
            conn_id=self.oauth2_conn_id,
            grant_type=settings.grant_type,
        )

    @cached_property
    def _token_session(self) -> requests.Session:
        return requests.Session()

    # -- tokens -------------------------------------------------------------------------------

    @property
    def conn_name(self) -> str:
        """The connection id, for messages."""
        return self.oauth2_conn_id

    def _obtain(self, current: Token | None) -> Token:
        """
        Refresh ``current`` when it has a refresh token, else run the connection's grant.

        A refresh token pasted into the connection is used once; the stored tokens remember its
        fingerprint, so pasting a *new* one (after a manual re-authorization) replaces them.
        """
        seed = _seed_digest(self.settings.refresh_token) if self.settings.grant_type == "refresh_token" else None
        if current is not None and current.refresh_token and (seed is None or current.seed == seed):
            token = self.send_token_request(self.grant.refresh_request(current), current=current)
        else:
            if current is not None and seed is not None:
                log.info(
                    "Connection %r has a newly pasted refresh token; it replaces the stored one", self.oauth2_conn_id
                )
            token = self.send_token_request(self.grant.initial_request())
        return dataclasses.replace(token, seed=seed) if seed else token

    def send_token_request(self, request: TokenRequest, *, current: Token | None = None) -> Token:
        """
        Send a token request built by a grant, parse it, mask the result and check the granted scope.

        :param request: the request, client authentication applied.
        :param current: the token being refreshed: its refresh token is kept when none is returned.
        """
        previous = current.refresh_token if current is not None else None
        if previous is None and self.settings.grant_type == "refresh_token" and request.param("refresh_token"):
            previous = request.param("refresh_token")
        grant_type = request.param("grant_type") or ""
        log.info("Requesting a token for %r (%s)", self.oauth2_conn_id, grant_type)
        started = time.monotonic()
        try:
            token = send_token_request(self._token_session, request, self.settings, previous_refresh_token=previous)
        finally:
            observability.timing(
                "oauth2.token.request_duration",
                time.monotonic() - started,
                conn_id=self.oauth2_conn_id,
                grant_type=self.settings.grant_type,
            )
        if current is not None and token.refresh_token == current.refresh_token:
            token = dataclasses.replace(token, refresh_issued_at=current.refresh_issued_at)
        self._mask(token)
        self._check_scope(request, token)
        self._warn_refresh_expiry(token)
        return token

    def _warn_refresh_expiry(self, token: Token) -> None:
        """Warn ahead of an absolute refresh-token expiry the server announced (``refresh_expires_in``)."""
        if token.refresh_expires_at is None:
            return
        left = token.refresh_expires_at - time.time()
        if left < self.settings.refresh_expiry_warning:
            log.warning(
                "The refresh token of %r expires in %.0f h (the server said so); re-authorize before then with "
                "`airflow oauth2 authorize %s`",
                self.oauth2_conn_id,
                left / 3600,
                self.oauth2_conn_id,
            )

    def _check_scope(self, request: TokenRequest, token: Token) -> None:
        """
        Warn when fewer scopes were granted than requested.

        Never raises here: the token must reach the store first (a rotated refresh token would
        otherwise be lost). ``require_scopes`` is enforced by :meth:`check_scopes` after saving.
        """
        requested = request.requested_scope or ()
        missing = sorted(set(requested) - set(token.scope or requested))
        if missing:
            log.warning(
                "connection %r: the server granted fewer scopes than requested; missing: %s",
                self.oauth2_conn_id,
                " ".join(missing),
            )

    def check_scopes(self, token: Token, required: Sequence[str] | None = None) -> None:
        """
        Fail early and clearly when ``token`` lacks scopes a task needs.

        :param token: a stored token (from :meth:`get_token`).
        :param required: the scopes needed; defaults to the connection's ``scope`` when
            ``extra.require_scopes`` is true, else nothing.
        :raises OAuth2ScopeError: naming the missing scopes and how to get them.
        """
        from_settings = required is None
        if required is None:
            required = self.settings.scope if self.settings.require_scopes else ()
        if not required or token.scope is None:
            return
        missing = [s for s in dict.fromkeys(required) if s not in token.scope]
        if not missing:
            return
        fix = (
            f"`airflow oauth2 authorize {self.oauth2_conn_id} --add-scope {' --add-scope '.join(missing)}`"
            if not self.grant.UNATTENDED
            else "ask the provider to grant them to the client"
        )
        why = " (extra.require_scopes is true)" if from_settings else ""
        raise OAuth2ScopeError(
            f"connection {self.oauth2_conn_id!r} lacks required scopes; missing: {' '.join(missing)}{why}; "
            f"granted: {' '.join(token.scope) or 'none'}; {fix}"
        )

    def _mask(self, token: Token) -> None:
        mask_secret(token.access_token)
        if token.refresh_token:
            mask_secret(token.refresh_token)
        self._masked = token.access_token

    def get_token(self, *, rejected: Token | None = None) -> Token:
        """
        A valid access token: cached, refreshed by a sibling, or newly obtained.

        :param rejected: a token the API refused; it is never returned again.
        """
        token = self.store.get(self._obtain, rejected=rejected)
        if token.access_token != self._masked:  # a sibling's token read from the store: mask it once
            self._mask(token)
        if token.access_token != self._scope_checked:
            self.check_scopes(token)  # after the store saved it: nothing is lost if this raises
            self._scope_checked = token.access_token
        return token

    def keep_alive(self, max_idle: float | None = None) -> bool:
        """
        Refresh now if the refresh token has been idle longer than ``max_idle`` seconds.

        Providers expire idle refresh tokens (Microsoft after 90 days, Xero after 60); a
        scheduled keep-alive keeps a weekly ETL's grant alive. Goes through the store and lock,
        so a sibling that refreshed meanwhile counts as activity.

        :param max_idle: seconds; defaults to ``extra.refresh_token_max_idle``.
        :return: whether a refresh happened.
        """
        limit = max_idle if max_idle is not None else self.settings.refresh_token_max_idle
        if limit is None:
            raise OAuth2ConfigError("extra.refresh_token_max_idle", "is required for keep-alive (seconds)")

        def idle(token: Token) -> bool:
            since = token.refresh_issued_at or token.updated_at or token.issued_at
            return bool(token.refresh_token) and time.time() - since > limit

        backend = self.store.backend
        current = backend.peek(self.settings.token_key) if backend is not None else self.store.cached()
        if current is not None and not idle(current):
            return False  # in use: leave it alone, not even a routine refresh
        started = time.time()
        token = self.store.get(self._obtain, refresh_if=idle)
        return token.updated_at is not None and token.updated_at >= started

    def scrub(self, text: str) -> str:
        """
        Replace this connection's own secrets in ``text`` (e.g. a response body about to be logged).

        Defence in depth on top of Airflow's masker, whose patterns live in a process-global
        object that Airflow resets at every task start.
        """
        token = self.store.cached()
        secrets = [self.settings.client_secret]
        if token is not None:
            secrets += [token.access_token, token.refresh_token]
        for secret in secrets:
            if secret and len(secret) >= 5:
                text = text.replace(secret, "***")
        return text

    def get_access_token(self) -> str:
        """The access token string of :meth:`get_token`."""
        return self.get_token().access_token

    # -- HTTP -----------------------------------------------------------------------------------

    @cached_property
    def _api_session(self) -> requests.Session:
        """The session ``run()`` reuses, so consecutive calls keep their connection alive."""
        return self.get_session()

    def get_session(self) -> requests.Session:
        """A ``requests.Session`` that sends the bearer token and refreshes once on a 401."""
        session = requests.Session()
        session.auth = OAuth2BearerAuth(self)
        session.headers.update(self.settings.headers)
        session.verify = self.settings.verify
        if self.settings.proxies:
            session.proxies.update(self.settings.proxies)
        return session

    def url_from_endpoint(self, endpoint: str | None) -> str:
        """
        The full URL of ``endpoint`` under the connection's host.

        An absolute URL is accepted only on the connection's own origin, so that the bearer
        token is never sent to another host (e.g. a ``next`` link elsewhere).
        """
        base = self.settings.base_url
        endpoint = endpoint or ""
        if "://" in endpoint:
            if base and _origin(endpoint) != _origin(base):
                raise OAuth2ConfigError(
                    "endpoint",
                    f"{_strip_query(endpoint)} is not on the connection's host {base}; "
                    "the bearer token is only sent to that origin",
                )
            url = endpoint
        elif base:
            url = base + "/" + endpoint.lstrip("/") if endpoint else base
        else:
            raise OAuth2ConfigError("host", f"connection {self.oauth2_conn_id!r} has no host (the API base URL)")
        check_transport(url, "endpoint", self.settings.allow_insecure_http)
        return url

    def run(
        self,
        method: str = "GET",
        endpoint: str | None = None,
        data: dict[str, Any] | str | bytes | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra_options: dict[str, Any] | None = None,
        *,
        max_retries: int | None = None,
        retry_non_idempotent: bool | None = None,
        **request_kwargs: Any,
    ) -> requests.Response:
        """
        Call the API like ``HttpHook.run``, with the bearer token and transient failures handled.

        429 and 503 are retried after their ``Retry-After``; other 5xx and connection errors with
        backoff, for idempotent methods only unless opted in (see :mod:`.retry`). A 401 refreshes
        the token once and repeats the request.

        :param method: the HTTP method.
        :param endpoint: path under the connection's host (or an absolute URL on the same origin).
        :param data: form data or raw body.
        :param json: a JSON body.
        :param params: query parameters.
        :param headers: extra request headers.
        :param extra_options: ``timeout``, ``verify``, ``proxies``, ``allow_redirects``, ``stream``,
            ``cert`` and ``check_response`` (default true: raise :class:`OAuth2HttpError` on >= 400).
        :param max_retries: overrides the connection's ``api_retries``.
        :param retry_non_idempotent: overrides the connection's ``api_retry_non_idempotent``.
        :param request_kwargs: passed to ``requests.Session.request``.
        """
        options = dict(extra_options or {})
        check_response = options.pop("check_response", True)
        options.setdefault("timeout", self.settings.timeout)
        url = self.url_from_endpoint(endpoint)
        session = self._api_session
        policy = ApiRetryPolicy.from_settings(
            self.settings, max_retries=max_retries, retry_non_idempotent=retry_non_idempotent
        )

        def send() -> requests.Response:
            return session.request(
                method.upper(), url, data=data, json=json, params=params, headers=headers, **options, **request_kwargs
            )

        replayable = body_is_replayable(data, request_kwargs.get("files"))
        response = send_with_retries(send, policy, method.upper(), _strip_query(url), replayable=replayable)
        if check_response:
            self.check_response(response)
        return response

    @staticmethod
    def check_response(response: requests.Response) -> None:
        """Raise :class:`OAuth2HttpError` for a status >= 400 (the body is not logged: it may hold data)."""
        if response.status_code >= 400:
            raise OAuth2HttpError(response.status_code, response.reason or "", _strip_query(response.url))

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection; report grant, expiry and scopes, never a token.

        Grants that can be re-run unattended (client credentials, JWT bearer) obtain a token
        through the store, as tasks do. Grants whose tokens are stored (authorization code,
        device code, a pasted refresh token) never spend anything: Airflow's Test button runs
        the hook under a transient connection id, where a refresh would rotate the real grant's
        refresh token away from the stored one. For them the token endpoint is asked to accept
        the client's credentials with a deliberately invalid grant value (``invalid_grant``
        means they were accepted), and a stored token is reported when one is visible.
        """
        try:
            settings = self.settings
            if self.grant.UNATTENDED and not settings.persist_token:
                token = self.get_token()
                return True, f"Token obtained with {settings.grant_type}; {_describe(token)}"
            return self._probe_client()
        except OAuth2Error as err:
            return False, str(err)

    def _probe_client(self) -> tuple[bool, str]:
        import secrets

        settings = self.settings
        probe = self.grant.refresh_request(Token(access_token="-", refresh_token="probe-" + secrets.token_urlsafe(24)))
        probe.requested_scope = None
        try:
            send_token_request(self._token_session, probe, dataclasses.replace(settings, token_retries=0))
        except OAuth2TokenError as err:
            if err.error in ("invalid_client", "unauthorized_client"):
                return False, f"The token endpoint rejected the client credentials: {err}"
            if err.error != "invalid_grant":
                return False, f"Unexpected answer from the token endpoint to a credentials probe: {err}"
        else:
            return False, "The token endpoint accepted an invalid refresh token: check extra.token_url"
        backend = self.store.backend
        token = backend.peek(settings.token_key) if backend is not None else None
        stored = (
            f"stored token: {_describe(token)}"
            if token is not None
            else f"authorize with `airflow oauth2 authorize {self.oauth2_conn_id}` or Connect"
            if not self.grant.UNATTENDED
            else "the pasted refresh token is used at the first task run"
        )
        return True, f"Client credentials accepted by the token endpoint ({settings.grant_type}); {stored}"


class OAuth2BearerAuth(AuthBase):
    """
    ``requests`` auth: adds ``Authorization: Bearer`` and, on a 401, refreshes once and retries once.

    The refreshed token goes through the hook's store, so a sibling's newer token is used
    rather than a second refresh.
    """

    def __init__(self, hook: OAuth2Hook) -> None:
        self.hook = hook

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.hook.get_token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        request._oauth2_token = token  # type: ignore[attr-defined]
        body = request.body
        request._oauth2_body_pos = body.tell() if hasattr(body, "tell") else None  # type: ignore[union-attr,attr-defined]
        request.register_hook("response", self._handle_401)  # type: ignore[no-untyped-call]
        return request

    def _handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, "_oauth2_retried", False):
            return response
        position = getattr(request, "_oauth2_body_pos", None)
        if position is not None:
            request.body.seek(position)  # type: ignore[union-attr]
        elif request.body is not None and not isinstance(request.body, (str, bytes)):
            return response  # a streamed body cannot be sent twice
        log.info("API answered 401 for %r; refreshing the token once and retrying", self.hook.oauth2_conn_id)
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        retry = request.copy()
        token = self.hook.get_token(rejected=getattr(request, "_oauth2_token", None))
        retry.headers["Authorization"] = f"Bearer {token.access_token}"
        retry._oauth2_retried = True  # type: ignore[attr-defined]
        retry._oauth2_token = token  # type: ignore[attr-defined]
        assert response.connection is not None
        new_response: requests.Response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


def _describe(token: Token) -> str:
    expiry = "unknown" if token.expires_at is None else f"in {token.expires_at - time.time():.0f} s"
    scope = " ".join(token.scope) if token.scope else "(not stated)"
    return f"expires {expiry}; scope: {scope}"


def _seed_digest(secret: str | None) -> str | None:
    """A short, non-reversible fingerprint of a pasted refresh token (stored, never the token)."""
    if not secret:
        return None
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
