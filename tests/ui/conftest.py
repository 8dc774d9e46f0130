"""One real API server + sandbox for the UI tests of this session (see :mod:`tests.ui.deployment`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.deployment import Deployment, start


@pytest.fixture(scope="session")
def ui_deployment(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # Two API-server workers: Connect and its callback may be served by different processes.
    deployment = start(airflow_home, tmp_path_factory.mktemp("ui-deployment"), workers=2)
    try:
        yield deployment
    finally:
        deployment.stop()
