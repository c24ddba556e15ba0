"""Helpers for end-to-end tests: real child processes, free ports, polling with deadlines."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catd_node import config
from catd_node.datadir import DataDir
from tests import polling
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll with a deadline; errors count as "not yet" (the service may not be up)."""
    return polling.wait_for(condition, timeout, what, every=every, tolerate=(Exception,))


def node_cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catd_node.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kw,
    )


def hq_cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    code = "import sys; from hq.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, **kw
    )


def hq_status(hq_dir: Path) -> dict[str, Any]:
    done = hq_cli("status", "-d", str(hq_dir), "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


NODE = "CATD-14-01"


def start_hq(tmp_path: Path, election_file: Path) -> tuple[Path, int, subprocess.Popen[bytes]]:
    """A real `catd-hq serve` on a free port, with a fresh HQ data dir."""
    hq_dir, port = tmp_path / "hq", free_port()
    assert hq_cli("init", "-d", str(hq_dir), "--election", str(election_file)).returncode == 0
    code = "import sys; from hq.cli import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "-d", str(hq_dir), "--port", str(port)])
    return hq_dir, port, proc


def make_node(tmp_path: Path, election_file: Path, hq_dir: Path, hq_port: int) -> tuple[DataDir, int]:
    """A node registered at that HQ (keys exchanged), its web app on a free loopback port."""
    data, web_port = tmp_path / "catd", free_port()
    done = node_cli("init", "-d", str(data), "--node-id", NODE, "--election", str(election_file),
                    "--hq-url", f"http://127.0.0.1:{hq_port}", "--hq-pubkey", str(hq_dir / "hq.pub"))
    assert done.returncode == 0, done.stderr
    added = hq_cli("add-node", "-d", str(hq_dir), "--node-id", NODE, "--pubkey", str(data / "node.pub"))
    assert added.returncode == 0, added.stderr
    node = DataDir(data)
    cfg = config.load(node.config_path)
    cfg = dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, host="127.0.0.1", port=web_port),
                              scan=dataclasses.replace(cfg.scan, settle_ms=200))
    node.config_path.write_text(config.render(cfg))
    return node, web_port
