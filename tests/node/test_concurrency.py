"""Several real processes append to one data dir at once: one contiguous, valid chain."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from catd_node import cli
from catd_node.datadir import DataDir

REPO = Path(__file__).resolve().parents[2]
WRITERS = 3
EACH = 200


def test_processes_append_at_once_without_gaps_or_forks(node_dir: DataDir, capsys):
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.node.appender", str(node_dir.root), f"w{n}", str(EACH)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for n in range(WRITERS)
    ]
    try:
        for child in children:  # barrier: every writer has its ledger open
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        given = {}
        for n, child in enumerate(children):
            out, _ = child.communicate(timeout=60)
            assert child.returncode == 0
            given[f"w{n}"] = json.loads(out)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    conn = node_dir.reader()
    try:
        rows = conn.execute(
            "SELECT seq, json_extract(CAST(canonical AS TEXT), '$.body.by'),"
            " json_extract(CAST(canonical AS TEXT), '$.body.values.i') FROM packets ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    total = 1 + WRITERS * EACH
    assert [seq for seq, _, _ in rows] == list(range(1, total + 1))
    for writer, seqs in given.items():
        stored = [(seq, i) for seq, w, i in rows if w == writer]
        # every append a writer was told about is stored, in its own order, nothing else
        assert [seq for seq, _ in stored] == seqs
        assert [i for _, i in stored] == list(range(EACH))
    switches = sum(1 for a, b in itertools.pairwise(rows[1:]) if a[1] != b[1])
    assert switches >= 20  # the writers really contended for the lock (not one after another)

    assert cli.main(["verify", "-d", str(node_dir.root)]) == 0
    assert f"ok: {total} packets" in capsys.readouterr().out
