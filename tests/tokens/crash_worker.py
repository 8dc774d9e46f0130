"""
A worker that is killed (``kill -9``) inside the token store's critical section.

Usage: ``python -m tests.tokens.crash_worker CONN_ID MODE MARKER``, MODE one of:

- ``before_request``: holds the lock, then stalls before sending the refresh;
- ``in_flight``: sends the refresh (the test delays the sandbox's answer) and stalls;
- ``after_response``: the server answered (and rotated) but the new token is not yet saved.

The worker writes MARKER when it reaches the window and then sleeps until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    conn_id, mode, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook

    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    original_obtain = hook._obtain
    original_send = hook.send_token_request

    def stall() -> None:
        marker.touch()
        time.sleep(600)

    def obtain(current):
        if mode == "before_request":
            stall()
        token = original_obtain(current)
        if mode == "after_response":
            stall()
        return token

    def send(request, **kwargs):
        if mode == "in_flight":
            marker.touch()  # the sandbox delays its answer; the kill lands while the request is in flight
        return original_send(request, **kwargs)

    hook._obtain = obtain  # type: ignore[method-assign]
    hook.send_token_request = send  # type: ignore[method-assign]
    hook.get_token()
    raise SystemExit("the worker was expected to be killed in the critical section")


if __name__ == "__main__":
    main()
