"""A separate OS process that holds or waits for a token lock (spawned by the lock tests)."""

from __future__ import annotations

import sys
import time


def main() -> None:
    url, key, hold_seconds, timeout, log_path = sys.argv[1:6]
    from airflow_oauth_provider.exceptions import OAuth2LockTimeout
    from airflow_oauth_provider.tokens.lock import lock_for_url

    lock = lock_for_url(url, "test", "test db")
    try:
        with lock.hold(key, float(timeout)):
            with open(log_path, "a") as log:
                log.write(f"enter {time.time():.6f}\n")
            time.sleep(float(hold_seconds))
            with open(log_path, "a") as log:
                log.write(f"leave {time.time():.6f}\n")
    except OAuth2LockTimeout:
        with open(log_path, "a") as log:
            log.write("timeout\n")


if __name__ == "__main__":
    main()
