"""Shared fixtures: real data dirs on real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from catd_node import datadir
from catd_node.datadir import DataDir
from tests import catalog_v2

ELECTION = Path(__file__).resolve().parents[1] / "catd_node" / "data" / "election.json"


@pytest.fixture
def election_file() -> Path:
    return ELECTION


@pytest.fixture
def node_dir(tmp_path: Path) -> DataDir:
    """A freshly initialised CATD data dir (genesis packet appended)."""
    return datadir.init(tmp_path / "catd", "CATD-14-01", ELECTION)


@pytest.fixture
def election_v2_file(tmp_path: Path) -> Path:
    """The second-form test catalog (tests/catalog_v2.py): 31 vote fields, two CATDs."""
    return catalog_v2.write(tmp_path / "election-v2.json")


@pytest.fixture
def node_v2_dir(tmp_path: Path, election_v2_file: Path) -> DataDir:
    """A data dir of CATD-09-01 on the second-form test catalog."""
    return datadir.init(tmp_path / "catd", catalog_v2.OWN, election_v2_file)

# HQ fixtures (hq_dir, hq_node, hq_server, hq_process) for tests/hq, tests/sync and tests/e2e.
pytest_plugins = ["tests.hqkit"]
