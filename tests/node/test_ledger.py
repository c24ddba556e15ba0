"""The ledger: append, atomic transactions, wire form, and detection of any changed byte."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catd_node import canonical, keys, ledger, packets, store, verify
from catd_node.blobs import BlobStore
from catd_node.datadir import DataDir
from catd_node.errors import BadInput
from tests import strategies as cs
from tests.node import tamper


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A populated node and its stored rows (read once; examples mutate copies)."""
    from catd_node import datadir
    from tests.conftest import ELECTION

    node = datadir.init(tmp_path_factory.mktemp("ledger") / "catd", "CATD-14-01", ELECTION)
    tamper.populate(node)
    conn = node.reader()
    try:
        rows = list(verify.stored_rows(conn))
    finally:
        conn.close()
    return node, rows


def test_stored_chain_verifies(stored):
    node, rows = stored
    report = verify.verify_chain(iter(rows), node.public_key(), "CATD-14-01", node.blobs())
    assert report.ok and report.packets == 10 and report.blobs == 3


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_detected(stored, data):
    node, rows = stored
    index = data.draw(st.integers(0, len(rows) - 1), label="row")
    part = data.draw(st.sampled_from(["canonical", "hash", "sig"]), label="part")
    row = rows[index]
    raw = bytearray(row.canonical if part == "canonical" else
                    row.hash.encode("ascii") if part == "hash" else row.sig)
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]), label="byte")
    changed = packets.Packet(
        seq=row.seq,
        canonical=bytes(raw) if part == "canonical" else row.canonical,
        hash=bytes(raw).decode("latin-1") if part == "hash" else row.hash,
        sig=bytes(raw) if part == "sig" else row.sig,
        envelope={},
    )
    tampered = [*rows[:index], changed, *rows[index + 1:]]
    report = verify.verify_chain(iter(tampered), node.public_key(), "CATD-14-01", None)
    assert not report.ok
    assert report.bad_seq == row.seq


@given(kind=cs.packet_kinds, body=cs.packet_bodies())
def test_seal_wire_round_trip_verifies(kind, body):
    key = keys.generate()
    p = packets.seal(key, node="CATD-14-01", seq=7, prev="ab" * 32, kind=kind, body=body)
    back = packets.from_wire(packets.to_wire(p), "line 1")
    assert back == p and back.body == body
    assert packets.problem(back, key.public_key(), "ab" * 32, "CATD-14-01") is None
    assert packets.problem(back, key.public_key(), "cd" * 32, "CATD-14-01") is not None
    assert packets.problem(back, key.public_key(), "ab" * 32, "CATD-14-02") is not None


@pytest.mark.parametrize("line, why", [
    ("not json", "not JSON"),
    ('{"seq":1,"canonical":"{}","hash":"00"}', "exactly the fields"),
    ('{"seq":0,"canonical":"{}","hash":"' + "0" * 64 + '","sig":""}', "seq must be"),
    ('{"seq":1,"canonical":"{}","hash":"' + "A" * 64 + '","sig":""}', "hash must be"),
    ('{"seq":1,"canonical":"{}","hash":"' + "0" * 64 + '","sig":"!!"}', "not base64"),
    ('{"seq":1,"canonical":"{}","hash":"' + "0" * 64 + '","sig":"AAAA"}', "64 bytes"),
])
def test_from_wire_names_the_line(line, why):
    with pytest.raises(packets.PacketError, match=why) as err:
        packets.from_wire(line, "line 3")
    assert err.value.what == "line 3"


def test_seal_refuses_float_and_bad_envelope():
    key = keys.generate()
    with pytest.raises(canonical.CanonicalError, match="float"):
        packets.seal(key, node="N", seq=1, prev=packets.ZERO_HASH, kind="acta.captured",
                     body={"x": 1.5})
    with pytest.raises(packets.PacketError, match="kind"):
        packets.seal(key, node="N", seq=1, prev=packets.ZERO_HASH, kind="Captured", body={})
    with pytest.raises(packets.PacketError, match="prev"):
        packets.seal(key, node="N", seq=2, prev="xyz", kind="acta.captured", body={})


def test_append_links_and_indexes(node_dir: DataDir):
    led = node_dir.ledger()
    try:
        first = led.head()
        p = led.append("acta.acopio", {"acta": "DIP-14-01-0123-B01", "by": "ana", "in_catalog": True})
        assert (p.seq, p.prev) == (first.seq + 1, first.hash)
        assert led.head() == ledger.Head(p.seq, p.hash)
        acta = led.conn.execute("SELECT acta, kind FROM packets WHERE seq = ?", (p.seq,)).fetchone()
        assert acta == ("DIP-14-01-0123-B01", "acta.acopio")
        assert [q.seq for q in led.packets(1)] == [1, 2]
        assert led.packets(2)[0].body["by"] == "ana"
    finally:
        led.close()


def test_transaction_is_atomic(node_dir: DataDir):
    led = node_dir.ledger()
    try:
        led.conn.execute("CREATE TABLE IF NOT EXISTS notes (seq INTEGER, text TEXT)")
        with pytest.raises(RuntimeError), led.transaction() as tx:
            p = tx.append("acta.acopio", {"acta": "A", "by": "ana", "in_catalog": True})
            tx.conn.execute("INSERT INTO notes VALUES (?, 'x')", (p.seq,))
            raise RuntimeError("crash before commit")
        assert led.head().seq == 1
        assert led.conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
        with led.transaction() as tx:
            a = tx.append("acta.acopio", {"acta": "A", "by": "ana", "in_catalog": True})
            b = tx.append("acta.acopio", {"acta": "B", "by": "ana", "in_catalog": True})
            tx.conn.execute("INSERT INTO notes VALUES (?, 'x')", (b.seq,))
        assert (a.seq, b.seq, b.prev) == (2, 3, a.hash)
        assert led.conn.execute("SELECT seq FROM notes").fetchall() == [(3,)]
    finally:
        led.close()


def test_blob_refs_recorded(node_dir: DataDir):
    names = tamper.populate(node_dir, actas=2)
    conn = node_dir.reader()
    try:
        refs = conn.execute("SELECT sha256, seq FROM blob_refs ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert refs == [(names[0], 3), (names[1], 6)]


def test_store_settings(node_dir: DataDir):
    conn = store.connect(node_dir.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        store.migrate(conn)  # idempotent
        versions = dict(conn.execute("SELECT component, version FROM schema_versions"))
        assert versions["catd_node.schema"] == 1
    finally:
        conn.close()


def test_immediate_rolls_back(tmp_path):
    conn = store.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ValueError), store.immediate(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    conn.close()


def test_blob_store(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    sha = blobs.put(b"acta")
    assert blobs.put(b"acta") == sha and blobs.read(sha) == b"acta" and blobs.problem(sha) is None
    assert blobs.path(sha).parent.name == sha[:2]
    other = BlobStore(tmp_path / "b2")
    with pytest.raises(BadInput, match="not to the name"):
        other.put_chunks(sha, [b"ac", b"tx"])
    assert not other.has(sha) and list((tmp_path / "b2").rglob("*.tmp*")) == []
    assert other.put_chunks(sha, [b"ac", b"ta"]) == 4 and other.problem(sha) is None
    with pytest.raises(BadInput):
        blobs.path("../../etc/passwd")


def test_ledger_refuses_concurrent_fork_at_same_seq(node_dir: DataDir):
    """Two writers that both read head 1 cannot both store seq 2 (primary key)."""
    key = node_dir.private_key()
    reader = node_dir.reader()
    top = ledger.head(reader)
    reader.close()
    a = packets.seal(key, node="CATD-14-01", seq=2, prev=top.hash, kind="acta.acopio", body={"a": 1})
    b = packets.seal(key, node="CATD-14-01", seq=2, prev=top.hash, kind="acta.acopio", body={"a": 2})
    conn = store.connect(node_dir.db_path)
    try:
        sql = "INSERT INTO packets (seq, hash, kind, at, canonical, sig) VALUES (?, ?, ?, ?, ?, ?)"
        conn.execute(sql, (a.seq, a.hash, a.kind, a.at, a.canonical, a.sig))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql, (b.seq, b.hash, b.kind, b.at, b.canonical, b.sig))
    finally:
        conn.close()
