"""
``python -m airflow_oauth_provider.sandbox``: run the sandbox in the foreground.

Prints ``sandbox listening on http://127.0.0.1:N`` once ready (and writes the URL to
``--ready-file``); stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_oauth_provider.sandbox.config import SandboxConfig, is_loopback_host
from airflow_oauth_provider.sandbox.runner import bind, server_url

if TYPE_CHECKING:
    from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_oauth_provider.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    parser.add_argument("--issuer", help="issuer in the metadata (default: the URL the client used)")
    parser.add_argument("--access-token-lifetime", type=int, default=3600, metavar="S")
    parser.add_argument("--refresh-token-lifetime", type=int, default=86400, metavar="S")
    parser.add_argument("--no-rotation", action="store_true", help="keep refresh tokens valid across refreshes")
    parser.add_argument("--no-reuse-detection", action="store_true", help="do not revoke a family on reuse")
    parser.add_argument("--device-interval", type=int, default=5, metavar="S")
    parser.add_argument("--device-expires-in", type=int, default=600, metavar="S")
    parser.add_argument("--items-total", type=int, default=50, metavar="N")
    parser.add_argument("--ready-file", type=Path, help="write the URL to this file once listening")
    parser.add_argument("--verbose", action="store_true", help="log one line per request (no query strings)")
    return parser


def _write_ready_file(path: Path, url: str) -> None:
    """Write atomically, so a script polling for the file never reads half a URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(url + "\n")
    os.replace(tmp, path)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """
    Parse arguments, bind, announce the URL and serve until interrupted.

    :param argv: command-line arguments (default ``sys.argv[1:]``).
    """
    args = _parser().parse_args(argv)
    if not is_loopback_host(args.host):
        print(f"refusing to bind to {args.host!r}: the sandbox listens on loopback only", file=sys.stderr)
        return 2
    try:
        config = SandboxConfig(
            host=args.host,
            port=args.port,
            issuer=args.issuer,
            access_token_lifetime=args.access_token_lifetime,
            refresh_token_lifetime=args.refresh_token_lifetime,
            rotate_refresh_tokens=not args.no_rotation,
            reuse_detection=not args.no_reuse_detection,
            device_interval=args.device_interval,
            device_expires_in=args.device_expires_in,
            items_total=args.items_total,
            verbose=args.verbose,
        )
    except ValueError as error:
        print(f"invalid settings: {error}", file=sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    server, _app = bind(config)
    url = server_url(server)
    signal.signal(signal.SIGTERM, _stop)
    if args.ready_file:  # before the line: a reader of the line may look for the file at once
        _write_ready_file(args.ready_file, url)
    print(f"sandbox listening on {url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
