"""
``make demo``: the sandbox authorization server, then two example DAGs run by ``airflow dags test``
against a fresh SQLite metadata database.

1. Client credentials: every page of the sandbox's paged API, with a token the hook obtains itself.
2. Refresh-token rotation: a user consents once (scripted here, over real HTTP), the refresh token
   is pasted into the connection once, and four mapped tasks share it while 2-second access tokens
   expire; every refresh rotates the refresh token and is persisted in an encrypted Variable under
   the lock. The sandbox revokes the whole grant if a spent refresh token is ever replayed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def airflow(args: list[str], env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if check and result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"`airflow {' '.join(args)}` failed with exit code {result.returncode}")
    return result


def dag_test(dag_id: str, env: dict[str, str]) -> str:
    """Run a DAG with ``airflow dags test``; return its output; fail unless the run succeeded."""
    result = airflow(["dags", "test", dag_id], env, check=False)
    output = result.stdout + result.stderr
    (DEMO / f"{dag_id}.log").write_text(output)
    if result.returncode != 0 or "state=success" not in output.replace("state=DagRunState.SUCCESS", "state=success"):
        sys.stderr.write(output[-6000:])
        raise SystemExit(f"DAG {dag_id} did not succeed; full output in {DEMO / (dag_id + '.log')}")
    return output


def lines_with(output: str, marker: str) -> list[str]:
    return [line[line.index(marker) :].strip() for line in output.splitlines() if marker in line]


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    home = DEMO / "airflow_home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    step(f"Fresh Airflow home with a SQLite metadata database: {home}")
    airflow(["db", "migrate"], env)

    step("Starting the sandbox authorization server + API (2-second access tokens, rotating refresh tokens)")
    ready = DEMO / "sandbox.url"
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_oauth_provider.sandbox",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--access-token-lifetime",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if sandbox.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start")
            time.sleep(0.1)
        url = ready.read_text().strip()
        print(f"sandbox listening on {url}")
        run_demo(url, env)
    finally:
        sandbox.terminate()
        sandbox.wait(10)


def run_demo(url: str, env: dict[str, str]) -> None:
    from airflow_oauth_provider.sandbox.user import obtain_refresh_token

    env["AIRFLOW_CONN_OAUTH2_SANDBOX_CC"] = json.dumps(
        {
            "conn_type": "oauth2",
            "host": url,
            "login": "sandbox-client",
            "password": "sandbox-secret",
            "extra": {"token_url": f"{url}/token", "scope": "items:read"},
        }
    )
    step("DAG example_oauth2_client_credentials: all pages of /api/items with a client-credentials token")
    output = dag_test("example_oauth2_client_credentials", env)
    for line in lines_with(output, "Fetched"):
        print("  " + line)

    step("A user consents once (scripted login at the sandbox); the refresh token is pasted into the connection")
    seed = obtain_refresh_token(url)
    env["AIRFLOW_CONN_OAUTH2_SANDBOX_RT"] = json.dumps(
        {
            "conn_type": "oauth2",
            "host": url,
            "login": "sandbox-client",
            "password": "sandbox-secret",
            "extra": {
                "grant_type": "refresh_token",
                "token_url": f"{url}/token",
                "refresh_token": seed,
                "revocation_url": f"{url}/revoke",
            },
        }
    )
    requests.post(f"{url}/stats/reset", timeout=10).raise_for_status()
    step("DAG example_oauth2_refresh_rotation: 4 parallel tasks share the rotating refresh token")
    output = dag_test("example_oauth2_refresh_rotation", env)
    for line in lines_with(output, "partition ") + lines_with(output, "Summary:"):
        print("  " + line)

    stats = requests.get(f"{url}/stats", timeout=10).json()
    refreshes = stats["token_requests"].get("refresh_token", 0)
    step("What the authorization server saw")
    print(f"  API calls:                      {stats['api_calls']}")
    print(f"  refreshes (each one rotated):   {refreshes}")
    print(f"  invalid_grant answers:          {stats['invalid_grant']}")
    print(f"  refresh-token reuse detected:   {stats['refresh_reuse_detected']}")
    status = airflow(["oauth2", "status", "oauth2_sandbox_rt"], env)
    step("airflow oauth2 status oauth2_sandbox_rt (never shows a token)")
    print("\n".join("  " + line for line in status.stdout.strip().splitlines()))
    if stats["invalid_grant"] or stats["refresh_reuse_detected"] or refreshes < 2:
        raise SystemExit("unexpected: the demo should refresh several times and never replay a refresh token")
    step("Demo finished: tokens were refreshed and rotated, every rotated refresh token was persisted, none replayed")


if __name__ == "__main__":
    main()
