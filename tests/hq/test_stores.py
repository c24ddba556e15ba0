"""The two HQ stores agree: the same tables and columns, packets append-only in both, and
`catd-hq init --db` refuses what it cannot use, naming it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from hq import cli, receive
from hq import store as hq_store
from hq.store import HQDir, postgres
from sync import protocol
from tests.hqkit import ELECTION
from tests.pgserver import PGServer

# PostgreSQL only: the HQ key the database belongs to (postgres.claim_key)
PG_ONLY = {"hq_meta"}


def _sqlite_columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                              " AND name NOT LIKE 'sqlite_%' AND name != 'schema_versions'")]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def _pg_columns(url: str) -> dict[str, list[str]]:
    conn = postgres.connect(url)
    try:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name != 'schema_versions'"
                            " ORDER BY table_name, ordinal_position").fetchall()
    finally:
        conn.close()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def test_both_stores_have_the_same_tables_and_columns(tmp_path: Path, pg_server: PGServer) -> None:
    """A migration added to one store's schema and not the other's fails here."""
    lite = hq_store.init(tmp_path / "lite", ELECTION)
    url = pg_server.create()
    try:
        hq_store.init(tmp_path / "pg", ELECTION, url)
        pg = {t: c for t, c in _pg_columns(url).items() if t not in PG_ONLY}
        assert pg == _sqlite_columns(lite.db_path)
    finally:
        pg_server.drop(url)


def test_stored_packets_refuse_update_delete_and_truncate(hq_dir: HQDir, hq_node: DataDir) -> None:
    conn = hq_dir.connect()
    try:
        lines = protocol.unframe(protocol.frame(hq_node.ledger().packets()))
        receive.store_batch(conn, receive.check_batch(lines, hq_store.node_pems(conn)), hq_dir.private_key())
        for statement in ("UPDATE packets SET kind = 'x'", "DELETE FROM packets"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(statement)
        if hq_dir.db_url() is not None:
            with pytest.raises(Exception, match="append-only"):
                conn.execute("TRUNCATE packets")
        assert conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0] == 1
    finally:
        conn.close()


def test_init_db_names_a_bad_or_unreachable_url(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                pg_server: PGServer) -> None:
    code = cli.main(["-d", str(tmp_path / "a"), "init", "--db", "mysql://x/y"])
    assert code == 2 and "--db" in capsys.readouterr().err and not (tmp_path / "a").exists()
    dead = f"postgresql://catd:secret@127.0.0.1:{pg_server.port}/no_such_db"
    code = cli.main(["-d", str(tmp_path / "b"), "init", "--db", dead])
    err = capsys.readouterr().err
    assert code == 2 and "no_such_db" in err and "secret" not in err and not (tmp_path / "b").exists()


def test_a_database_serves_one_hq_key(tmp_path: Path, pg_server: PGServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A second `init --db` on a database in use would make another key, whose receipts the
    nodes could not check: refused. Receivers share the first data dir instead."""
    url = pg_server.create()
    try:
        first = hq_store.init(tmp_path / "first", ELECTION, url)
        assert (first.db_url_path.stat().st_mode & 0o777) == 0o600
        code = cli.main(["-d", str(tmp_path / "second"), "init", "--db", url])
        assert code == 2 and "another key" in capsys.readouterr().err
        assert not (tmp_path / "second").exists()
        assert cli.main(["-d", str(first.root), "status"]) == 0
    finally:
        pg_server.drop(url)


def test_sqlite_placeholders_run_on_postgresql(pg_server: PGServer) -> None:
    """Queries are written once, in SQLite's style: plain and numbered `?`, `%` and `?` inside
    quotes, and LIKE patterns reach PostgreSQL with the same meaning."""
    url = pg_server.create()
    conn = postgres.connect(url)
    try:
        conn.execute("CREATE TABLE t (a TEXT, b INTEGER)")
        conn.executemany("INSERT INTO t (a, b) VALUES (?, ?)", [("x%?", 1), ("y", 2)])
        rows = conn.execute("SELECT b FROM t WHERE a LIKE 'x%' AND a <> '?' AND b = ?", (1,)).fetchall()
        assert rows == [(1,)]
        assert sorted(conn.execute("SELECT b FROM t WHERE b = ?1 OR b = ?2 OR b = ?1",
                                   (2, 1)).fetchall()) == [(1,), (2,)]
    finally:
        conn.close()
        pg_server.drop(url)
