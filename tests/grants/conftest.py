from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.helpers import reset_stub
from tests.stub_server import StubServer


@pytest.fixture(scope="module")
def module_stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def stub(module_stub: StubServer) -> StubServer:
    """The conftest ``stub``, shared by the module's tests: one server start and stop per module."""
    return reset_stub(module_stub)
