"""
One-time user authorization and token administration, shared by the CLI and the UI plugin.

Human waits (the browser consent, the device approval) happen outside the token lock; only
the final exchange runs under it, through :meth:`TokenStore.replace`, so workers refreshing the
previous grant are never blocked for minutes and never see a half-written record.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from airflow_oauth_provider.exceptions import OAuth2ConfigError, OAuth2Error, OAuth2TokenError
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
    return grant.authorization_request(extra_scope)


def finish_authorization(hook: OAuth2Hook, request: AuthorizationRequest, redirected_url: str) -> Token:
    """
    Validate the redirect, exchange the code with the verifier, and store the token under the lock.

    Nothing is stored when any check fails, so the previous token stays as it was.
    """
    grant: AuthorizationCodeGrant = _grant_of(hook, AuthorizationCodeGrant)
    code = grant.code_from_redirect(redirected_url, request)
    exchange = grant.exchange_request(code, request)
    return hook.store.replace(lambda current: hook.send_token_request(exchange))


def device_authorization(
    hook: OAuth2Hook,
    prompt: Callable[[DeviceAuthorization], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Token:
    """
    Run the device flow (RFC 8628): show the code, poll at the server's interval, store the token.

    :param prompt: shows ``verification_uri`` and ``user_code`` to the user.
    :raises OAuth2AuthorizationError: on ``access_denied`` or ``expired_token``, saying what to do.
    """
    grant: DeviceCodeGrant = _grant_of(hook, DeviceCodeGrant)
    request = grant.device_authorization_request()
    response = _post_form(hook, request)
    authorization = parse_device_authorization_response(
        response.status_code, response.headers, response.content, url=request.url
    )
    prompt(authorization)
    conn_id = hook.oauth2_conn_id
    interval = float(authorization.interval)
    deadline = clock() + authorization.expires_in
    while True:
        sleep(interval)
        if clock() > deadline:
            raise OAuth2AuthorizationError(
                f"the device code expired before it was approved; run `airflow oauth2 authorize {conn_id}` again"
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
                    f"the user denied the request; nothing was stored. Run `airflow oauth2 authorize {conn_id}` "
                    "again and approve it"
                ) from None
            if err.error == "expired_token":
                raise OAuth2AuthorizationError(
                    f"the device code expired before it was approved; run `airflow oauth2 authorize {conn_id}` again"
                ) from None
            raise
        return _store_issued(hook, token)


def _store_issued(hook: OAuth2Hook, token: Token) -> Token:
    """Persist a token obtained outside the lock (the device flow's final poll) as a new version."""
    return hook.store.replace(lambda current: token)


def _post_form(hook: OAuth2Hook, request: TokenRequest) -> Any:
    settings = hook.settings
    return hook._token_session.post(
        request.url,
        data=urlencode(request.data),
        headers={"Content-Type": "application/x-www-form-urlencoded", **request.headers},
        timeout=settings.timeout,
        verify=settings.verify,
        proxies=settings.proxies or None,
        allow_redirects=False,
    )


def revoke(hook: OAuth2Hook) -> list[str]:
    """
    Revoke the stored refresh and access tokens at the server (RFC 7009), then delete the record.

    :return: one line per action taken.
    """
    settings = hook.settings
    backend = hook.store.backend
    token = backend.peek(settings.token_key) if backend is not None else hook.store.cached()
    done: list[str] = []
    if token is not None and settings.revocation_url:
        for value, hint in ((token.refresh_token, "refresh_token"), (token.access_token, "access_token")):
            if not value:
                continue
            request = TokenRequest(settings.revocation_url, [("token", value), ("token_type_hint", hint)])
            response = _post_form(hook, hook.grant.client_auth.apply(request))
            if response.status_code != 200:
                raise OAuth2Error(
                    f"revocation endpoint {settings.revocation_url} answered HTTP {response.status_code} for the "
                    f"{hint}: {excerpt(response.content)}; the stored token was kept"
                )
            done.append(f"revoked the {hint} at {settings.revocation_url}")
    elif token is not None:
        done.append("the connection has no revocation_url: the tokens were not revoked at the server")
    if backend is not None:
        backend.delete(settings.token_key)
        done.append(f"deleted Variable {settings.token_key!r}")
    clear_process_cache()
    return done or ["nothing was stored"]


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
