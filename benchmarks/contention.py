"""
Contention benchmark of the token store (issue 3, item 7).

N OS processes share one ``refresh_token`` connection against the sandbox, which rotates the
refresh token on every use, revokes the whole grant when a spent one comes back (reuse
detection) and issues access tokens living a few seconds. For each lock database and process
count it reports token-endpoint calls, expiries, ``invalid_grant``, failed API calls and lock
waits; then the same load without the store (``requests_oauthlib`` per process), and the
per-call cost of a cached token against a static bearer header.

    .venv/bin/python benchmarks/contention.py              # full: 1,4,16,32 x sqlite,postgres,mariadb
    .venv/bin/python benchmarks/contention.py --quick      # 1,4 x sqlite,postgres, short cells
    .venv/bin/python benchmarks/contention.py --processes 1,8 --dbs postgres --duration 10

See ``benchmarks/README.md`` for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.contention.harness import percentile  # noqa: E402
from tests.dbs import HOW_TO_START, MARIADB_URL, POSTGRES_URL, conn_env, port_open  # noqa: E402
from tests.user_agent import obtain_refresh_token  # noqa: E402

DBS = ("sqlite", "postgres", "mariadb")
PORTS = {"postgres": 5432, "mariadb": 3306}
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.rename(path)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


# -- environment -------------------------------------------------------------------------------


def airflow_home() -> Path:
    """A temporary AIRFLOW_HOME with a migrated SQLite metadata DB, inherited by every subprocess."""
    from cryptography.fernet import Fernet

    home = Path(tempfile.mkdtemp(prefix="oauth2-bench-home-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    for name in list(os.environ):
        if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
            del os.environ[name]
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, cwd=ROOT)
    return home


class Sandbox:
    """The sandbox in its own process (so its request handling never shares our GIL)."""

    def __init__(self, workdir: Path, lifetime: int) -> None:
        ready = workdir / "sandbox.url"
        self.log = workdir / "sandbox.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "airflow_oauth_provider.sandbox",
                    "--port",
                    "0",
                    "--ready-file",
                    str(ready),
                    "--access-token-lifetime",
                    str(lifetime),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start: {_tail(self.log)}")
            time.sleep(0.05)
        self.url = ready.read_text().strip()

    def configure(self, **changes: Any) -> None:
        requests.post(f"{self.url}/admin/config", json=changes, timeout=10).raise_for_status()

    def reset_stats(self) -> None:
        requests.post(f"{self.url}/stats/reset", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/stats", timeout=10).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def lock_urls(dbs: list[str], workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The lock database URL of each reachable kind, and why each other one is skipped."""
    urls: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for kind in dbs:
        if kind == "sqlite":
            urls[kind] = f"sqlite:///{workdir / 'locks.db'}"
            continue
        port = PORTS[kind]
        if not port_open(port):
            skipped[kind] = HOW_TO_START[port]
            continue
        url = POSTGRES_URL if kind == "postgres" else MARIADB_URL
        try:
            from sqlalchemy import create_engine, text

            engine = create_engine(url)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as err:
            skipped[kind] = f"port {port} is open but {url} does not answer: {type(err).__name__}: {err}"
            continue
        urls[kind] = url
    return urls, skipped


# -- the store under contention -----------------------------------------------------------------


class WorkerPool:
    """``size`` long-lived worker processes (``benchmarks.pool_worker``); round ``k`` uses the first P."""

    def __init__(self, size: int, workdir: Path, startup: float = 300.0) -> None:
        self.control = workdir / "pool"
        self.control.mkdir()
        self.round = 0
        self.procs: list[subprocess.Popen] = []
        for index in range(size):
            with open(self.control / f"w{index}.err", "wb") as err:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "benchmarks.pool_worker", str(index), str(self.control)],
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        self._wait([self.control / f"ready-{i}" for i in range(size)], startup, "start")

    def _wait(self, paths: list[Path], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths):
            for index, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {index} exited during {what}: {_tail(self.control / f'w{index}.err')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not {what} within {timeout:g} s")
            time.sleep(0.02)

    def run(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = self.control / f"round-{self.round}"
        self.round += 1
        workers = spec["workers"]
        _write_atomic(Path(f"{prefix}.json"), json.dumps(spec))
        t0 = time.monotonic()
        self._wait([Path(f"{prefix}.ready-{i}") for i in range(workers)], 120, "get ready")
        t1 = time.monotonic()
        _write_atomic(Path(f"{prefix}.go"), str(time.time() + 0.5))
        outs = [Path(f"{prefix}.w{i}.json") for i in range(workers)]
        self._wait(outs, spec["duration"] + 120, "finish")
        _log(f"  workers ready in {t1 - t0:.2f} s, cell took {time.monotonic() - t1:.2f} s")
        return [json.loads(out.read_text()) for out in outs]

    def close(self) -> None:
        (self.control / "stop").touch()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def store_cell(
    pool: WorkerPool,
    sandbox: Sandbox,
    kind: str,
    url: str,
    processes: int,
    duration: float,
    lifetime: float,
    leeway: float,
) -> dict[str, Any]:
    """One cell of the table: ``processes`` workers through the store, the lock on ``kind``."""
    conn_id = f"bench_{kind}_{processes}_{uuid.uuid4().hex[:6]}"
    lock_conn_id = f"{conn_id}_lock"
    connection = {
        "conn_type": "oauth2",
        "host": sandbox.url,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {
            "grant_type": "refresh_token",
            "token_url": f"{sandbox.url}/token",
            "refresh_token": obtain_refresh_token(sandbox.url),
            "lock_backend": "sql",
            "lock_conn_id": lock_conn_id,
            "leeway": leeway,
            "token_retries": 0,
        },
    }
    env = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection),
        f"AIRFLOW_CONN_{lock_conn_id.upper()}": json.dumps(conn_env(kind, url)),
    }
    sandbox.reset_stats()
    results = pool.run({"env": env, "conn_id": conn_id, "workers": processes, "duration": duration})
    stats = sandbox.stats()
    errors: dict[str, int] = {}
    for result in results:
        for key, count in result["errors"].items():
            errors[key] = errors.get(key, 0) + count
    waits = sorted(w for r in results for w in r["lock_waits"])
    issued = {int(v): t for r in results for v, t in r["versions"].items()}
    ended = max(r["ended_at"] for r in results)
    period = lifetime - min(leeway, lifetime / 2)
    # As tests/contention/harness.py: an expiry is a token whose refresh point passed while the
    # workers were still calling.
    expiries = sum(1 for t in issued.values() if t + period <= ended)
    return {
        "kind": kind,
        "processes": processes,
        "ok": sum(r["ok"] for r in results),
        "failed": sum(errors.values()),
        "errors": errors,
        "token_requests": stats["token_requests"].get("refresh_token", 0),
        "obtained": sum(r["obtained"] for r in results),
        "expiries": expiries,
        "invalid_grant": stats["invalid_grant"],
        "api_401": stats.get("api_401", 0),
        "lock_acquisitions": len(waits),
        "lock_p50_ms": percentile(waits, 0.50) * 1000,
        "lock_p99_ms": percentile(waits, 0.99) * 1000,
        "lock_max_ms": (waits[-1] if waits else 0.0) * 1000,
        "max_version": max(issued, default=0),
    }


def single_flight(cell: dict[str, Any]) -> bool:
    """What tests/tokens/test_concurrency.py asserts, for one cell."""
    return (
        cell["failed"] == 0
        and cell["invalid_grant"] == 0
        and abs(cell["token_requests"] - (1 + cell["expiries"])) <= 1
        and cell["obtained"] == cell["token_requests"] == cell["max_version"]
    )


# -- the baseline -------------------------------------------------------------------------------


def baseline_cell(sandbox: Sandbox, processes: int, duration: float, workdir: Path) -> dict[str, Any]:
    """``processes`` OS processes, each with its own requests_oauthlib OAuth2Session, one shared refresh token."""
    tmp = Path(tempfile.mkdtemp(dir=workdir, prefix=f"baseline-{processes}-"))
    env = os.environ.copy()
    env["BENCH_REFRESH_TOKEN"] = obtain_refresh_token(sandbox.url)
    go = tmp / "go"
    outs = [tmp / f"b{i}.json" for i in range(processes)]
    procs = []
    for out in outs:
        with open(f"{out}.err", "wb") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.baseline_worker", sandbox.url, str(go), str(duration), str(out)],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{out}.ready").exists() for out in outs):
            crashed = [out for out, proc in zip(outs, procs, strict=True) if proc.poll() is not None]
            if crashed or time.monotonic() > deadline:
                raise RuntimeError(
                    f"baseline workers did not start: {_tail(Path(f'{crashed[0]}.err')) if crashed else ''}"
                )
            time.sleep(0.02)
        sandbox.reset_stats()
        _write_atomic(go, str(time.time() + 0.5))
        for out, proc in zip(outs, procs, strict=True):
            if proc.wait(timeout=duration + 120) != 0:
                raise RuntimeError(f"a baseline worker failed: {_tail(Path(f'{out}.err'))}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = [json.loads(out.read_text()) for out in outs]
    stats = sandbox.stats()
    errors: dict[str, int] = {}
    for result in results:
        for key, count in result["errors"].items():
            errors[key] = errors.get(key, 0) + count
    failures = [r["first_failure"] for r in results if r["first_failure"] is not None]
    return {
        "processes": processes,
        "ok": sum(r["ok"] for r in results),
        "failed": sum(errors.values()),
        "errors": errors,
        "token_requests": stats["token_requests"].get("refresh_token", 0),
        "invalid_grant": stats["invalid_grant"],
        "reuse_detected": stats.get("refresh_reuse_detected", 0),
        "api_401": stats.get("api_401", 0),
        "first_failure_s": min(failures) if failures else None,
        "broken_processes": len(failures),
    }


# -- overhead -----------------------------------------------------------------------------------


def overhead(sandbox: Sandbox, workdir: Path, calls: int) -> dict[str, Any]:
    out = workdir / "overhead.json"
    err = workdir / "overhead.err"
    with open(err, "wb") as stderr:
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "benchmarks.overhead",
                "--sandbox",
                sandbox.url,
                "--lock-db",
                str(workdir / "overhead-lock.db"),
                "--calls",
                str(calls),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    if code != 0:
        raise RuntimeError(f"the overhead measurement failed: {_tail(err)}")
    return json.loads(out.read_text())


# -- output -------------------------------------------------------------------------------------


def _row(values: list[Any], widths: list[int]) -> str:
    cells = []
    for i, (value, width) in enumerate(zip(values, widths, strict=True)):
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        cells.append(text.ljust(width) if i == 0 else text.rjust(width))
    return "  ".join(cells).rstrip()


def print_store_table(cells: list[dict[str, Any]], skipped: dict[str, str], args: argparse.Namespace) -> None:
    period = args.lifetime - min(args.leeway, args.lifetime / 2)
    print()
    print(
        f"Token store under contention: one rotating refresh_token connection, reuse detection on, "
        f"{args.lifetime:g} s access tokens (refreshed {period:g} s after issue), {args.duration:g} s a cell"
    )
    header = [
        "lock DB",
        "procs",
        "API ok",
        "failed",
        "token calls",
        "expiries",
        "invalid_grant",
        "lock acq",
        "wait p50 ms",
        "wait p99 ms",
        "wait max ms",
        "single-flight",
    ]
    widths = [max(8, len(h)) for h in header]
    print(_row(header, widths))
    for cell in cells:
        print(
            _row(
                [
                    cell["kind"],
                    cell["processes"],
                    cell["ok"],
                    cell["failed"],
                    cell["token_requests"],
                    cell["expiries"],
                    cell["invalid_grant"],
                    cell["lock_acquisitions"],
                    cell["lock_p50_ms"],
                    cell["lock_p99_ms"],
                    cell["lock_max_ms"],
                    "yes" if single_flight(cell) else "NO",
                ],
                widths,
            )
        )
    for kind, reason in skipped.items():
        print(f"{kind.ljust(widths[0])}  skipped: {reason}")
    for cell in cells:
        for error, count in cell["errors"].items():
            print(f"  {cell['kind']}/{cell['processes']}: {count} x {error}")


def print_baseline_table(cells: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        "Baseline without the store: each process has its own requests_oauthlib OAuth2Session "
        "(auto_refresh_url + token_updater into a per-process variable), same refresh token, "
        f"same sandbox, {args.baseline_duration:g} s a cell"
    )
    header = [
        "baseline",
        "procs",
        "API ok",
        "failed",
        "token calls",
        "invalid_grant",
        "reuse detected",
        "broken procs",
        "first failure s",
    ]
    widths = [max(8, len(h)) for h in header]
    print(_row(header, widths))
    for cell in cells:
        first = cell["first_failure_s"]
        print(
            _row(
                [
                    "oauthlib",
                    cell["processes"],
                    cell["ok"],
                    cell["failed"],
                    cell["token_requests"],
                    cell["invalid_grant"],
                    cell["reuse_detected"],
                    f"{cell['broken_processes']}/{cell['processes']}",
                    "-" if first is None else f"{first:.2f}",
                ],
                widths,
            )
        )
    for cell in cells:
        for error, count in sorted(cell["errors"].items()):
            print(f"  baseline/{cell['processes']}: {count} x {error}")


def print_overhead(result: dict[str, Any]) -> None:
    us, p25 = result["us"], result["p25_us"]
    verdict = "meets" if result["ratio_session"] <= 1.05 else "MISSES"
    print()
    print(
        f"Per-call cost: GET on a trivial loopback HTTP/1.1 endpoint in its own process, "
        f"{result['calls']} calls of each variant, interleaved call by call"
    )
    rows = [
        ("requests.Session, static 'Authorization: Bearer' header", "static_session", ""),
        (
            "hook.get_session(), cached token",
            "hook_session",
            f"ratio {result['ratio_session']:.3f} (p25: {result['ratio_session_p25']:.3f}) vs static header "
            f"({verdict} the <= 1.05 target)",
        ),
        ("requests.get, static header (new connection a call)", "static_oneshot", ""),
        (
            "hook.run() (one Session per hook)",
            "hook_run",
            f"ratio {result['ratio_run_vs_oneshot']:.3f} vs requests.get, "
            f"{result['ratio_run_vs_session']:.3f} vs static Session",
        ),
    ]
    print(f"  {'variant'.ljust(56)} {'median µs':>10} {'p25 µs':>10}")
    for label, key, note in rows:
        print(f"  {label.ljust(56)} {us[key]:10.1f} {p25[key]:10.1f}   {note}".rstrip())
    print(f"  {'hook.get_token(), cache hit (best of 7 x 20000)'.ljust(56)} {result['get_token_us']:10.2f}")
    print(f"  {'hook.store.get(), cache hit, no masking (best of 7)'.ljust(56)} {result['store_get_us']:10.2f}")


# -- main ---------------------------------------------------------------------------------------


def _csv(kind: type) -> Any:
    return lambda text: [kind(part) for part in text.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,4 processes; sqlite,postgres; 6 s cells")
    parser.add_argument("--processes", type=_csv(int), help="process counts (default 1,4,16,32)")
    parser.add_argument("--dbs", type=_csv(str), help=f"lock databases among {','.join(DBS)} (default all)")
    parser.add_argument("--duration", type=float, help="seconds of load a store cell (default 12; quick 6)")
    parser.add_argument("--baseline-duration", type=float, help="seconds a baseline cell (default 6; quick 4)")
    parser.add_argument("--lifetime", type=int, default=3, help="access-token lifetime in s (default 3)")
    parser.add_argument("--leeway", type=float, default=1.0, help="refresh this long before expiry (default 1)")
    parser.add_argument("--overhead-calls", type=int, help="calls of each overhead variant (default 1500; quick 500)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    args.processes = args.processes or ([1, 4] if args.quick else [1, 4, 16, 32])
    args.dbs = args.dbs or (["sqlite", "postgres"] if args.quick else list(DBS))
    args.duration = args.duration or (6.0 if args.quick else 12.0)
    args.baseline_duration = args.baseline_duration or (4.0 if args.quick else 6.0)
    args.overhead_calls = args.overhead_calls or (500 if args.quick else 1500)
    unknown = set(args.dbs) - set(DBS)
    if unknown:
        parser.error(f"unknown --dbs {sorted(unknown)}; choose from {','.join(DBS)}")
    if min(args.processes) < 1:
        parser.error("--processes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; load average at start {os.getloadavg()[0]:.1f}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="oauth2-bench-"))
    home = airflow_home()
    sandbox = pool = None
    try:
        # Long-lived access tokens while measuring the cached path; short ones for contention.
        sandbox = Sandbox(workdir, lifetime=3600)
        _log("measuring per-call overhead")
        cost = overhead(sandbox, workdir, args.overhead_calls)
        sandbox.configure(access_token_lifetime=args.lifetime, rotate_refresh_tokens=True, reuse_detection=True)

        urls, skipped = lock_urls(args.dbs, workdir)
        for kind, reason in skipped.items():
            _log(f"{kind}: skipped: {reason}")
        cells = []
        if urls:
            _log(f"starting {max(args.processes)} worker processes")
            pool = WorkerPool(max(args.processes), workdir)
            for kind, url in urls.items():
                for processes in args.processes:
                    _log(f"store: {kind}, {processes} processes")
                    cells.append(
                        store_cell(pool, sandbox, kind, url, processes, args.duration, args.lifetime, args.leeway)
                    )
            pool.close()
            pool = None
        baseline = []
        for processes in args.processes:
            _log(f"baseline: {processes} processes")
            baseline.append(baseline_cell(sandbox, processes, args.baseline_duration, workdir))

        print_store_table(cells, skipped, args)
        print_baseline_table(baseline, args)
        print_overhead(cost)
        elapsed = time.monotonic() - started
        print()
        print(f"total runtime: {elapsed:.0f} s; load average at the end {os.getloadavg()[0]:.1f}")
        if args.json:
            args.json.write_text(
                json.dumps({"store": cells, "baseline": baseline, "overhead": cost, "runtime_s": elapsed}, indent=2)
            )
        return 0
    finally:
        if pool is not None:
            pool.close()
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
