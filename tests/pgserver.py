"""A throw-away PostgreSQL server for the tests and benchmarks: `initdb` in a temporary
directory, `postgres` on 127.0.0.1 and a free port, stopped and removed afterwards. Each test
gets its own schema in database `hq` (its URL sets search_path): creating a schema costs
milliseconds, a database a checkpoint.

Run as root (CI is), PostgreSQL refuses to start: the cluster then belongs to `nobody` and
its programs run through `setpriv`. The server gets the parent-death signal, so a test run
that is killed does not leave it behind.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SUPERUSER = "catd"
READY_S = 30.0


def bindir() -> Path | None:
    """Where initdb and postgres are (Debian: /usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PGServer:
    """A running server; `url(db)` names a database on it; `create()` makes a fresh one."""

    def __init__(self, root: Path, port: int, proc: subprocess.Popen[bytes], args: list[str]) -> None:
        self.root = root
        self.port = port
        self.proc = proc
        self.args = args

    def url(self, dbname: str = "postgres") -> str:
        """Through the Unix socket in the server's directory: it reaches the server from any
        network namespace too (tests/sync/test_shaped_link runs HQ inside one)."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.root}&port={self.port}"

    def _admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        """A new empty schema in database `hq`; a URL whose connections use it."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE SCHEMA {name}", "hq")
        return f"{self.url('hq')}&options=-csearch_path%3D{name}"

    def drop(self, url: str) -> None:
        """Drop the schema of `url` and everything in it."""
        self._admin(f"DROP SCHEMA IF EXISTS {url.rsplit('%3D', 1)[1]} CASCADE", "hq")

    def restart(self) -> None:
        """Stop the server (fast shutdown: every connection is cut) and start it again on the
        same port and data: what receivers see when the primary restarts or is replaced."""
        self.proc.send_signal(2)
        self.proc.wait(20)
        log_out = (self.root / "server.log").open("ab")
        self.proc = subprocess.Popen(self.args, stdout=log_out, stderr=subprocess.STDOUT, cwd=self.root)
        log_out.close()
        _wait_ready(self)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: smart shutdown; SIGINT below if it lingers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(2)
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def start(*, durable: bool = False) -> PGServer:
    """Start a server in a new temporary directory. `durable=False` (tests) turns fsync off;
    benchmarks pass True so commits cost what they cost in production."""
    found = bindir()
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: `make system-deps` installs"
                           " `postgresql`; or set CATD_TEST_STORES=sqlite)")
    root = Path(tempfile.mkdtemp(prefix="catd-pg-"))
    data = root / "data"
    prefix: list[str] = ["setpriv", "--pdeathsig", "SIGINT"] if shutil.which("setpriv") else []
    if os.geteuid() == 0:
        if not prefix:
            raise RuntimeError("running as root needs setpriv (util-linux) to start PostgreSQL as nobody")
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        prefix += [f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    log = root / "initdb.log"
    with log.open("wb") as out:
        code = subprocess.call(
            [*prefix, str(found / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            stdout=out, stderr=subprocess.STDOUT, cwd=root)
    if code != 0:
        text = log.read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({code}): {text[-2000:]}")
    port = _free_port()
    settings = {
        "listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(root),
        "max_connections": "300", "fsync": "on" if durable else "off",
        "synchronous_commit": "on" if durable else "off", "full_page_writes": "on" if durable else "off",
        "logging_collector": "off", "log_min_messages": "warning",
    }
    args = [*prefix, str(found / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    log_out = (root / "server.log").open("wb")
    proc = subprocess.Popen(args, stdout=log_out, stderr=subprocess.STDOUT, cwd=root)
    log_out.close()
    server = PGServer(root, port, proc, args)
    _wait_ready(server)
    server._admin("CREATE DATABASE hq")
    return server


def _wait_ready(server: PGServer) -> None:
    import psycopg

    deadline = time.monotonic() + READY_S
    while True:
        if server.proc.poll() is not None:
            text = (server.root / "server.log").read_text(errors="replace")
            shutil.rmtree(server.root, ignore_errors=True)
            raise RuntimeError(f"postgres exited ({server.proc.returncode}): {text[-2000:]}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.05)  # polling the server's readiness, with a deadline
