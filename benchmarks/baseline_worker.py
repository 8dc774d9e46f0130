"""
The baseline: what people write today, one OS process of it.

Each process has its own ``requests_oauthlib.OAuth2Session`` with ``auto_refresh_url`` and a
``token_updater`` that keeps the new token in a per-process variable: no coordination between
processes. All start from the same refresh token (as they would, read from one shared
connection or Variable), with an access token already expired, so each refreshes on its first call.

Usage: ``python -m benchmarks.baseline_worker SANDBOX_URL GO_FILE DURATION OUT_JSON``, with the
refresh token in ``BENCH_REFRESH_TOKEN``. Writes ``OUT_JSON.ready`` once imported, starts at the
epoch time written to GO_FILE.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


def main() -> None:
    sandbox_url, go_file, duration, out = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    # What people do to use http on a test server: the process-global switch.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    from requests_oauthlib import OAuth2Session

    saved: dict[str, object] = {}
    refreshes = 0

    def token_updater(token: dict) -> None:
        nonlocal refreshes
        refreshes += 1
        saved.update(token)

    session = OAuth2Session(
        CLIENT_ID,
        token={
            "access_token": "expired-at-start",
            "refresh_token": os.environ["BENCH_REFRESH_TOKEN"],
            "token_type": "Bearer",
            "expires_at": time.time() - 1,
        },
        auto_refresh_url=f"{sandbox_url}/token",
        auto_refresh_kwargs={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        token_updater=token_updater,
    )
    Path(out + ".ready").touch()
    while not go_file.exists():
        time.sleep(0.01)
    start_at = float(go_file.read_text())
    ok = 0
    errors: dict[str, int] = {}
    first_failure: float | None = None
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + duration
    url = f"{sandbox_url}/api/items"
    while time.time() < deadline:
        try:
            response = session.get(url, params={"page": 1, "per_page": 1}, timeout=10)
        except Exception as err:  # oauthlib's InvalidGrantError from the auto-refresh, mostly
            key = type(err).__name__
        else:
            if response.status_code < 400:
                ok += 1
                continue
            key = f"HTTP {response.status_code}"
        errors[key] = errors.get(key, 0) + 1
        if first_failure is None:
            first_failure = time.time() - start_at
        time.sleep(0.05)
    with open(out, "w") as fh:
        json.dump(
            {
                "ok": ok,
                "errors": errors,
                "refreshes": refreshes,
                "first_failure": first_failure,
                "ended_at": time.time(),
            },
            fh,
        )


if __name__ == "__main__":
    main()
