"""
A scripted user for demos and tests: logs in, consents and approves device codes at the sandbox
over real HTTP, exactly as a person's browser would (no shortcut into the server's state).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests


def consent(
    authorization_url: str, *, username: str = "alice", password: str = "wonderland", allow: bool = True
) -> str:
    """Open the authorization URL, submit the login + consent form, return where the server redirects."""
    session = requests.Session()
    page = session.get(authorization_url, timeout=10)
    if page.status_code != 200:
        raise RuntimeError(f"authorization page answered {page.status_code}: {page.text[:200]}")
    answer = session.post(
        authorization_url,
        data={"username": username, "password": password, "confirm": "yes" if allow else "no"},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"consent answered {answer.status_code}: {answer.text[:200]}")
    return answer.headers["Location"]


def approve_device(verification_uri: str, user_code: str, *, approve: bool = True) -> None:
    """Enter the user code and approve (or deny) on the device page."""
    response = requests.post(
        verification_uri,
        data={
            "user_code": user_code,
            "username": "alice",
            "password": "wonderland",
            "action": "approve" if approve else "deny",
        },
        timeout=10,
    )
    if response.status_code != 200:
        raise RuntimeError(f"device page answered {response.status_code}: {response.text[:200]}")


def obtain_refresh_token(
    sandbox_url: str,
    *,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",
    scope: str = "items:read jobs offline_access",
    redirect_uri: str = "http://127.0.0.1:8765/callback",
) -> str:
    """Authorization code + PKCE by hand (no project code): the refresh token a user would paste once."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    url = f"{sandbox_url}/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    location = consent(url)
    params = parse_qs(urlsplit(location).query)
    if params.get("state") != [state]:
        raise RuntimeError("the sandbox returned another state")
    response = requests.post(
        f"{sandbox_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, client_secret),
        timeout=10,
    )
    response.raise_for_status()
    refresh_token: str = response.json()["refresh_token"]
    return refresh_token
