"""
Driving ``airflow oauth2 ...`` as a real subprocess, and the in-process shortcuts tests use to set up a grant.

The subprocess inherits ``os.environ`` (the test ``AIRFLOW_HOME``, its SQLite database and Fernet
key, and every ``AIRFLOW_CONN_*`` a test defined), so it reads and writes the same token store as
the test process.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from airflow_oauth_provider import authorization
from airflow_oauth_provider.hooks.oauth2 import OAuth2Hook
from tests.conftest import ROOT
from tests.user_agent import approve_device, consent


def unique_conn_id(prefix: str) -> str:
    """A connection id no other test uses: the token Variable of a connection outlives the test."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redirect_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


class Cli:
    """One running ``airflow oauth2 ...``; stdout is read line by line while it runs."""

    def __init__(self, *args: str, stdin: bool = False) -> None:
        env = os.environ.copy()
        env["PYTHONUNBUFFERED"] = "1"
        self.args = args
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "oauth2", *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout_lines: list[str] = []
        self.stderr_text = ""
        self._out = threading.Thread(target=self._pump_stdout, daemon=True)
        self._err = threading.Thread(target=self._pump_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr_text = self.process.stderr.read()

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first stdout line (from now on) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s; stdout so far:\n{self.stdout}"
                ) from None
            if line is None:
                self.process.wait(10)
                raise AssertionError(
                    f"exited ({self.process.returncode}) before printing {pattern!r}:\n{self.stdout}\n{self.stderr_text}"
                )
            match = re.search(pattern, line)
            if match:
                return match

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 60) -> Cli:
        try:
            self.process.wait(timeout)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                self.process.wait(10)
            self._out.join(10)
            self._err.join(10)
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        self.seconds = time.monotonic() - self.started
        return self

    @property
    def stdout(self) -> str:
        return "".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return self.stderr_text

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def returncode(self) -> int:
        code = self.process.returncode
        assert code is not None, "finish() first"
        return code

    def error_line(self) -> str:
        """The single ``error: ...`` line a failing command prints on stderr."""
        errors = [line for line in self.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, f"expected one 'error:' line on stderr, got:\n{self.stderr}"
        assert "Traceback" not in self.output, self.output
        return errors[0]


def run_cli(*args: str, timeout: float = 60) -> Cli:
    return Cli(*args).finish(timeout)


def authorization_url(cli: Cli) -> str:
    return cli.expect(r"^\s+(https?://\S+/authorize\?\S+)\s*$").group(1)


def authorize_code_with_cli(conn_id: str, *extra_args: str) -> Cli:
    """``airflow oauth2 authorize`` on a loopback redirect_uri, with the scripted user consenting."""
    import requests

    cli = Cli("authorize", conn_id, *extra_args)
    url = authorization_url(cli)
    cli.expect(r"Waiting up to")
    location = consent(url)
    page = requests.get(location, timeout=10)
    assert page.status_code == 200, page.text
    return cli.finish()


# -- in-process shortcuts for setting up a stored grant ------------------------------------------


def authorize_in_process(conn_id: str, extra_scope: tuple[str, ...] = ()) -> Any:
    """The authorization code flow without the CLI: returns the stored token."""
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    request = authorization.begin_authorization(hook, extra_scope)
    return authorization.finish_authorization(hook, request, consent(request.url))


def authorize_device_in_process(conn_id: str) -> Any:
    """The device flow without the CLI, approved at once: returns the stored token."""
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    return authorization.device_authorization(
        hook, lambda device: approve_device(device.verification_uri, device.user_code), sleep=lambda seconds: None
    )


def stored(conn_id: str) -> Any:
    """The token record the store holds for ``conn_id`` (read without the lock), or ``None``."""
    hook = OAuth2Hook(oauth2_conn_id=conn_id)
    assert hook.store.backend is not None
    return hook.store.backend.peek(hook.settings.token_key)


def secrets_of(*tokens: Any) -> list[str]:
    values = []
    for token in tokens:
        if token is not None:
            values += [v for v in (token.access_token, token.refresh_token) if v]
    return values


def reset_stub(server: Any) -> Any:
    """A module's shared stub server, emptied for the next test (shutting one down costs 0.5 s)."""
    server.script.clear()
    server.requests.clear()
    return server
