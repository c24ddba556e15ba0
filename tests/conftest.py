"""Shared fixtures: real data dirs on real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from catd_node import datadir
from catd_node.datadir import DataDir

ELECTION = Path(__file__).resolve().parents[1] / "catd_node" / "data" / "election.json"


@pytest.fixture
def election_file() -> Path:
    return ELECTION


@pytest.fixture
def node_dir(tmp_path: Path) -> DataDir:
    """A freshly initialised CATD data dir (genesis packet appended)."""
    return datadir.init(tmp_path / "catd", "CATD-14-01", ELECTION)

# HQ fixtures (hq_dir, hq_node, hq_server, hq_process) for tests/hq, tests/sync and tests/e2e.
pytest_plugins = ["tests.hqkit"]
