"""The chaos run's own PostgreSQL (it restarts it, so it cannot share the session's) on 127.0.0.1."""

from __future__ import annotations

import pytest

from libs.localinfra import PostgresServer
from libs.localinfra._proc import InfraError
from libs.localinfra.postgres import find_bindir


@pytest.fixture
def restartable_postgres(tmp_path):
    """A PostgreSQL of this test alone, from the installed server binaries; stopped at the end, even on failure."""
    try:
        find_bindir()
    except InfraError as exc:
        pytest.skip(f"the chaos run restarts PostgreSQL, so it needs the local server binaries: {exc}")
    server = PostgresServer(tmp_path / "postgres", tied=True).start()
    yield server
    server.stop()
