"""
Run ``airflow dags test`` for several DAGs in one interpreter: ``python -m tests.dags.run_dags URL DAG_ID...``.

Each run is the CLI command itself (parsed by Airflow's own argument parser), so it parses the DAG
file from the dags folder, runs every task through the Task SDK's in-process supervisor and runs
triggers inline, as ``airflow dags test`` does. One interpreter pays Airflow's start-up (imports,
the in-process Execution API) once instead of once per DAG. Between DAGs the process token cache
is cleared, the sandbox's counters at ``URL`` are printed as ``=== STATS <dag_id> <json>`` and reset.
"""

from __future__ import annotations

import json
import sys
import traceback

import requests


def main(url: str, dag_ids: list[str]) -> int:
    from airflow.cli.cli_parser import get_parser

    from airflow_oauth_provider.tokens.store import clear_process_cache

    failed = 0
    for dag_id in dag_ids:
        clear_process_cache()
        print(f"=== BEGIN {dag_id}", flush=True)
        try:
            args = get_parser().parse_args(["dags", "test", dag_id])
            args.func(args)
        except BaseException:
            failed += 1
            print(f"=== FAILED {dag_id}\n{traceback.format_exc()}", flush=True)
        stats = requests.get(f"{url}/stats", timeout=10).json()
        requests.post(f"{url}/stats/reset", timeout=10)
        print(f"=== STATS {dag_id} {json.dumps(stats)}", flush=True)
        print(f"=== END {dag_id}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
