"""Database locks across real OS processes on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_oauth_provider.exceptions import OAuth2LockTimeout
from airflow_oauth_provider.tokens.lock import lock_for_url, lock_name, pg_keys
from tests.dbs import lock_url

KINDS = ["sqlite", "postgres", "mariadb"]
WORKER = [sys.executable, "-m", "tests.tokens.lock_worker"]
ROOT = Path(__file__).resolve().parents[2]


def spawn(url: str, key: str, hold: float, timeout: float, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*WORKER, url, key, str(hold), str(timeout), str(log)], cwd=ROOT)


def wait_for(log: Path, text: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {log}")


def test_lock_names_derive_from_the_key():
    assert lock_name("oauth2_token__crm") == "airflow_oauth2:oauth2_token__crm"
    long = lock_name("k" * 200)
    assert len(long) <= 64 and long != lock_name("k" * 199)
    assert pg_keys("a") != pg_keys("b")
    assert all(-(2**31) <= k < 2**31 for k in pg_keys("x"))


@pytest.mark.multiprocess
@pytest.mark.parametrize("kind", KINDS)
def test_mutual_exclusion_across_processes(kind, tmp_path):
    url = lock_url(kind, tmp_path)
    log = tmp_path / "log"
    procs = [spawn(url, f"mutex-{kind}-{os.getpid()}", 0.3, 30, log) for _ in range(6)]
    for proc in procs:
        assert proc.wait(60) == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["enter", "leave"] * 6  # never two holders at once
    times = [float(e[1]) for e in events]
    assert times == sorted(times)


@pytest.mark.multiprocess
@pytest.mark.parametrize("kind", KINDS)
def test_bounded_wait_ends_in_lock_timeout(kind, tmp_path):
    url = lock_url(kind, tmp_path)
    key = f"timeout-{kind}-{os.getpid()}"
    holder = spawn(url, key, 5, 30, tmp_path / "holder")
    wait_for(tmp_path / "holder", "enter")
    lock = lock_for_url(url, "test", "test db")
    started = time.monotonic()
    with pytest.raises(OAuth2LockTimeout, match=r"not acquired within 1 s"):
        with lock.hold(key, 1):
            pass
    assert 0.8 < time.monotonic() - started < 4
    holder.kill()
    holder.wait()


@pytest.mark.multiprocess
@pytest.mark.parametrize("kind", KINDS)
def test_killed_holder_frees_the_lock(kind, tmp_path):
    url = lock_url(kind, tmp_path)
    key = f"kill-{kind}-{os.getpid()}"
    holder = spawn(url, key, 60, 30, tmp_path / "holder")
    wait_for(tmp_path / "holder", "enter")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock = lock_for_url(url, "test", "test db")
    started = time.monotonic()
    with lock.hold(key, 20):
        pass
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])  # a SQLite lock database serialises every key
def test_different_keys_do_not_block(kind, tmp_path):
    url = lock_url(kind, tmp_path)
    holder = spawn(url, f"a-{kind}-{os.getpid()}", 5, 30, tmp_path / "holder")
    wait_for(tmp_path / "holder", "enter")
    with lock_for_url(url, "test", "test db").hold(f"b-{kind}-{os.getpid()}", 1):
        pass
    holder.kill()
    holder.wait()
