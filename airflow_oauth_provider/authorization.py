"""
One-time user authorization and token administration, shared by the CLI and the UI plugin.

Human waits (the browser consent, the device approval) happen outside the token lock; only
the final exchange runs under it, through :meth:`TokenStore.replace`, so workers refreshing the
previous grant are never blocked for minutes and never see a half-written record.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests

from airflow_oauth_provider import observability
from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2Error, OAuth2TokenError, OAuth2TransportError
from airflow_oauth_provider.grants import AuthorizationCodeGrant, DeviceCodeGrant
from airflow_oauth_provider.grants.authorization_code import AuthorizationRequest, OAuth2AuthorizationError
from airflow_oauth_provider.protocol import (
    DeviceAuthorization,
    TokenRequest,
    excerpt,
    parse_device_authorization_response,
)
from airflow_oauth_provider.tokens.store import clear_process_cache

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
    from airflow_oauth_provider.tokens.token import Token

__all__ = [
    "OAuth2AuthorizationError",
    "begin_authorization",
    "device_authorization",
    "finish_authorization",
    "revoke",
    "status",
]


def _grant_of(hook: OAuth2Hook, kind: type[Any]) -> Any:
    grant = hook.grant
    if not isinstance(grant, kind):
        raise OAuth2ConfigError(
            "extra.grant_type",
            f"connection {hook.oauth2_conn_id!r} uses {hook.settings.grant_type}; this needs {kind.NAME}",
        )
    return grant


def begin_authorization(hook: OAuth2Hook, extra_scope: tuple[str, ...] = ()) -> AuthorizationRequest:
    """A fresh authorization request (new state and PKCE verifier) for an authorization_code connection."""
    grant: AuthorizationCodeGrant = _grant_of(hook, AuthorizationCodeGrant)
    incremental = False
    if extra_scope and hook.store.backend is not None:
        try:
            stored = hook.store.backend.peek(hook.settings.token_key)
        except OAuth2Error:
            stored = None
        incremental = stored is not None and bool(stored.scope)
    return grant.authorization_request(extra_scope, incremental=incremental)


def finish_authorization(hook: OAuth2Hook, request: AuthorizationRequest, redirected_url: str) -> Token:
    """
    Validate the redirect, exchange the code with the verifier, and store the token under the lock.

    Nothing is stored when any check fails, so the previous token stays as it was.

    :raises OAuth2AuthorizationError: the redirect is not this request's (wrong URI, state or issuer).
    :raises OAuth2TokenError: the server refused (an ``error`` redirect, or the code exchange failed).
    """
    grant: AuthorizationCodeGrant = _grant_of(hook, AuthorizationCodeGrant)
    code = grant.code_from_redirect(redirected_url, request)
    exchange = grant.exchange_request(code, request)

    def obtain(current: Token | None) -> Token:
        token = hook.send_token_request(exchange)
        if request.incremental and current is not None and current.scope:
            granted = tuple(dict.fromkeys((*current.scope, *(token.scope or ()))))
            token = dataclasses.replace(token, scope=granted)
        hook.check_scopes(token)  # a narrower consent is refused before anything is stored
        return token

    try:
        token = hook.store.replace(obtain)
    except OAuth2TokenError as err:
        detail = f" ({err.error_description})" if err.error_description else ""
        raise OAuth2TokenError(
            err.error,
            err.error_description,
            error_uri=err.error_uri,
            status=err.status,
            url=err.url,
            message=(
                f"the token endpoint refused the authorization code: {err.error}{detail}; nothing was stored. "
                f"Check the connection's client credentials, then run `airflow oauth2 authorize "
                f"{hook.oauth2_conn_id}` again"
            ),
        ) from None
    return token


def device_authorization(
    hook: OAuth2Hook,
    prompt: Callable[[DeviceAuthorization], None],
    *,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Token:
    """
    Run the device flow (RFC 8628): show the code, poll at the server's interval, store the token.

    :param prompt: shows ``verification_uri`` and ``user_code`` to the user.
    :param timeout: stop waiting after this many seconds even if the code is still valid.
    :raises OAuth2AuthorizationError: on ``access_denied``, ``expired_token`` or another refusal,
        saying what to do; nothing is stored then.
    """
    grant: DeviceCodeGrant = _grant_of(hook, DeviceCodeGrant)
    conn_id = hook.oauth2_conn_id
    command = f"`airflow oauth2 authorize {conn_id}`"
    request = grant.device_authorization_request()
    response = _post_form(hook, request)
    try:
        authorization = parse_device_authorization_response(
            response.status_code, response.headers, response.content, url=request.url
        )
    except OAuth2TokenError as err:
        detail = f" ({err.error_description})" if err.error_description else ""
        raise OAuth2AuthorizationError(
            f"the device authorization endpoint {request.url} refused: {err.error}{detail}; check the "
            "connection's client_id, client authentication and scope",
            error=err.error,
            error_description=err.error_description,
        ) from None
    prompt(authorization)
    interval = float(authorization.interval)
    waited_for = float(authorization.expires_in) if timeout is None else min(timeout, authorization.expires_in)
    deadline = clock() + waited_for
    while True:
        sleep(interval)
        if clock() > deadline:
            if waited_for < authorization.expires_in:
                raise OAuth2AuthorizationError(
                    f"the code was not approved within {waited_for:.0f} s; nothing was stored. Run {command} "
                    "again (with a longer --timeout) and approve it"
                )
            raise OAuth2AuthorizationError(
                f"the device code expired before it was approved; nothing was stored. Run {command} again and "
                f"approve it within {authorization.expires_in} s",
                error="expired_token",
            )
        try:
            token = hook.send_token_request(grant.poll_request(authorization.device_code))
        except OAuth2TokenError as err:
            if err.error == "authorization_pending":
                continue
            if err.error == "slow_down":
                interval += 5  # RFC 8628 §3.5
                continue
            if err.error == "access_denied":
                raise OAuth2AuthorizationError(
                    f"the user denied the request; nothing was stored. Run {command} again and approve it",
                    error=err.error,
                    error_description=err.error_description,
                ) from None
            if err.error == "expired_token":
                raise OAuth2AuthorizationError(
                    f"the device code expired before it was approved; nothing was stored. Run {command} again "
                    f"and approve it within {authorization.expires_in} s",
                    error=err.error,
                    error_description=err.error_description,
                ) from None
            detail = f" ({err.error_description})" if err.error_description else ""
            raise OAuth2AuthorizationError(
                f"the token endpoint refused the device code: {err.error}{detail}; nothing was stored. Check the "
                f"connection's client settings, then run {command} again",
                error=err.error,
                error_description=err.error_description,
            ) from None
        return _store_issued(hook, token)


def _store_issued(hook: OAuth2Hook, token: Token) -> Token:
    """Persist a token obtained outside the lock (the device flow's final poll) as a new version."""
    return hook.store.replace(lambda current: token)


def _post_form(hook: OAuth2Hook, request: TokenRequest) -> Any:
    """POST a form to a non-token endpoint (device authorization, revocation); no retries, no redirects."""
    settings = hook.settings
    try:
        return hook._token_session.post(
            request.url,
            data=urlencode(request.data),
            headers={"Content-Type": "application/x-www-form-urlencoded", **request.headers},
            timeout=settings.timeout,
            verify=settings.verify,
            proxies=settings.proxies or None,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
        raise OAuth2TransportError(f"{request.url} {kind} ({type(exc).__name__})") from None


def revoke(hook: OAuth2Hook) -> list[str]:
    """
    Revoke the stored refresh and access tokens at the server (RFC 7009), then delete the record.

    The refresh token goes first: revoking it ends the grant (RFC 7009 §2.1). If that fails,
    nothing is deleted and the error says so; if only the access token's revocation fails
    afterwards (some servers cannot revoke access tokens), the record is still deleted and the
    access token simply expires. The revocation runs under the token lock, so no sibling
    refreshes the grant meanwhile.

    :return: one line per action taken.
    """
    settings = hook.settings
    backend = hook.store.backend
    done: list[str] = []
    if backend is None:
        token = hook.store.cached()
        if token is not None:
            done += _revoke_at_server(hook, token)
    else:
        with backend.locked(settings.token_key, settings.lock_timeout) as record:
            token = record.load()
            if token is not None:
                done += _revoke_at_server(hook, token)
                event = observability.event(hook.oauth2_conn_id, "revoked", version=token.version)
                record.append_audit([event], None)
        if token is not None:
            backend.delete(settings.token_key)
            done.append(f"deleted Variable {settings.token_key!r}")
    clear_process_cache()
    return done or ["nothing was stored; nothing to revoke"]


def _revoke_at_server(hook: OAuth2Hook, token: Token) -> list[str]:
    settings = hook.settings
    url = settings.revocation_url
    if not url:
        return ["the connection has no revocation_url (nor an issuer that names one): the tokens were not revoked"]
    done: list[str] = []
    for value, hint in ((token.refresh_token, "refresh_token"), (token.access_token, "access_token")):
        if not value:
            continue
        request = hook.grant.client_auth.apply(TokenRequest(url, [("token", value), ("token_type_hint", hint)]))
        try:
            response = _post_form(hook, request)
        except OAuth2TransportError as err:
            problem = f"revoking the {hint}: {err}"
        else:
            if response.status_code == 200:
                done.append(f"revoked the {hint} at {url}")
                continue
            problem = (
                f"revocation endpoint {url} answered HTTP {response.status_code} for the {hint}: "
                f"{excerpt(response.content)}"
            )
        if done:  # the refresh token is revoked: the grant is over, the access token expires by itself
            done.append(f"{problem} (it expires by itself)")
            continue
        raise OAuth2Error(
            f"{problem}; the stored token was kept. Fix the cause and run `airflow oauth2 revoke "
            f"{hook.oauth2_conn_id}` again, or revoke the grant at the authorization server and delete Variable "
            f"{settings.token_key!r}"
        )
    return done


def status(hook: OAuth2Hook, now: float | None = None) -> dict[str, Any]:
    """What is known about a connection's grant; never a token value."""
    settings = hook.settings
    now = time.time() if now is None else now
    backend = hook.store.backend
    info: dict[str, Any] = {
        "conn_id": hook.oauth2_conn_id,
        "grant_type": settings.grant_type,
        "token_url": settings.token_url,
        "store": f"Variable {settings.token_key!r} ({backend.name})" if backend is not None else "this process only",
    }
    try:
        token = backend.peek(settings.token_key) if backend is not None else hook.store.cached()
    except OAuth2Error as err:
        info["error"] = str(err)
        return info
    if token is None:
        info["authorized"] = False
        return info

    def when(ts: float | None) -> str | None:
        return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))

    info.update(
        authorized=True,
        scope=" ".join(token.scope) if token.scope else None,
        access_token_expires_at=when(token.expires_at),
        access_token_expired=bool(token.is_expired(0, now=now)),
        has_refresh_token=bool(token.refresh_token),
        refresh_token_age_s=None if token.refresh_issued_at is None else round(now - token.refresh_issued_at),
        last_refresh=when(token.updated_at),
        version=token.version,
    )
    return info
