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
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.ports import free_port as _free_port

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


class PGServer:
    """A running server; `url(db)` names a database on it; `create()` makes a fresh one."""

    def __init__(self, root: Path, port: int, proc: subprocess.Popen[bytes], args: list[str]) -> None:
        self.root = root
        self.port = port
        self.proc = proc
        self.args = args
        self.prefix: list[str] = []

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
        self.proc = subprocess.Popen(self.args, stdout=log_out, stderr=subprocess.STDOUT, cwd=self.root,
                                     start_new_session=True)
        log_out.close()
        _wait_ready(self)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once: the machine is gone."""
        os.killpg(self.proc.pid, 9)
        self.proc.wait(20)

    def promote(self) -> None:
        """`pg_ctl promote`: this standby becomes a primary (returns when it accepts writes).
        It then requires no synchronous standby until one is rebuilt (`require_standby`)."""
        code = subprocess.call([*self.prefix, str(_bindir() / "pg_ctl"), "promote", "-w", "-D",
                                str(self.root / "data")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if code != 0:
            raise RuntimeError(f"pg_ctl promote failed ({code})")

    def require_standby(self) -> None:
        """Commits wait for SYNC_NAME again (once a standby of this server streams)."""
        self._admin(f"ALTER SYSTEM SET synchronous_standby_names = '{SYNC_NAME}'")
        self._admin("SELECT pg_reload_conf()")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: smart shutdown; SIGINT below if it lingers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(2)
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _bindir() -> Path:
    found = bindir()
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: `make system-deps` installs"
                           " `postgresql`; or set CATD_TEST_STORES=sqlite)")
    return found


def _new_root(prefix_name: str = "catd-pg-") -> tuple[Path, list[str]]:
    """A temporary directory the server may own, and the command prefix that runs PostgreSQL's
    programs (as nobody when we are root)."""
    root = Path(tempfile.mkdtemp(prefix=prefix_name))
    prefix: list[str] = ["setpriv", "--pdeathsig", "SIGINT"] if shutil.which("setpriv") else []
    if os.geteuid() == 0:
        if not prefix:
            raise RuntimeError("running as root needs setpriv (util-linux) to start PostgreSQL as nobody")
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        prefix += [f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    return root, prefix


def _settings(root: Path, port: int, durable: bool) -> dict[str, str]:
    return {
        "listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(root),
        "max_connections": "300", "fsync": "on" if durable else "off",
        "synchronous_commit": "on" if durable else "off", "full_page_writes": "on" if durable else "off",
        "logging_collector": "off", "log_min_messages": "warning",
    }


def _launch(root: Path, prefix: list[str], settings: dict[str, str]) -> PGServer:
    """`postgres` on root/data with these settings, in its own process group (so a test can
    SIGKILL the whole server at once, as a machine that loses power)."""
    args = [*prefix, str(_bindir() / "postgres"), "-D", str(root / "data")]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    log_out = (root / "server.log").open("ab")
    proc = subprocess.Popen(args, stdout=log_out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    log_out.close()
    server = PGServer(root, int(settings["port"]), proc, args)
    server.prefix = prefix
    _wait_ready(server)
    return server


def start(*, durable: bool = False, extra: dict[str, str] | None = None) -> PGServer:
    """Start a server in a new temporary directory. `durable=False` (tests) turns fsync off;
    benchmarks pass True so commits cost what they cost in production. `extra`: more settings."""
    found = _bindir()
    root, prefix = _new_root()
    data = root / "data"
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
    server = _launch(root, prefix, {**_settings(root, _free_port(), durable), **(extra or {})})
    server._admin("CREATE DATABASE hq")
    return server


class Pair:
    """A primary and its synchronous streaming standby on this machine (deploy/postgresql.md,
    "A standby"): every commit returns only once the standby has it. `url(schema)` is the
    receivers' multi-host URL (target_session_attrs=read-write: whichever is the primary)."""

    def __init__(self, primary: PGServer, standby: PGServer) -> None:
        self.primary = primary
        self.standby = standby

    def create(self) -> str:
        """A new schema on the primary (replicated); the multi-host URL that uses it."""
        single = self.primary.create()
        return self.url(single.rsplit("%3D", 1)[1])

    def url(self, schema: str) -> str:
        a, b = self.primary, self.standby
        return (f"postgresql://{SUPERUSER}@/hq?host={a.root},{b.root}&port={a.port},{b.port}"
                f"&target_session_attrs=read-write&options=-csearch_path%3D{schema}")

    def stop(self) -> None:
        for server in (self.primary, self.standby):
            server.stop()


SYNC_NAME = "catd_standby"  # the standby's application_name, named in synchronous_standby_names


def start_pair() -> Pair:
    """A primary requiring one synchronous standby, and that standby, streaming."""
    primary = start(extra={"synchronous_commit": "on", "wal_level": "replica", "max_wal_senders": "5"})
    try:
        primary.require_standby()  # (after CREATE DATABASE: with no standby yet it would wait)
        standby = standby_of(primary)
    except BaseException:
        primary.stop()
        raise
    return Pair(primary, standby)


def standby_of(primary: PGServer) -> PGServer:
    """Clone `primary` with pg_basebackup into a new directory and start it as its streaming
    standby under SYNC_NAME; returns once the primary sees it streaming synchronously.
    (Rebuilding a lost primary as the new standby is this same step against the promoted one.)"""
    root, prefix = _new_root("catd-pg-standby-")
    data = root / "data"
    with (root / "basebackup.log").open("wb") as out:
        code = subprocess.call(
            [*prefix, str(_bindir() / "pg_basebackup"), "-D", str(data), "-h", str(primary.root),
             "-p", str(primary.port), "-U", SUPERUSER, "-X", "stream", "--no-sync", "-c", "fast"],
            stdout=out, stderr=subprocess.STDOUT, cwd=root)
    if code != 0:
        text = (root / "basebackup.log").read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed ({code}): {text[-2000:]}")
    (data / "standby.signal").touch()
    # the clone carries the primary's ALTER SYSTEM synchronous_standby_names: once promoted,
    # its commits would wait for a standby that does not exist yet; it starts without one
    auto = data / "postgresql.auto.conf"
    auto.write_text("".join(line for line in auto.read_text().splitlines(keepends=True)
                            if not line.startswith("synchronous_standby_names")))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(data / "standby.signal", nobody.pw_uid, nobody.pw_gid)
    conninfo = (f"host={primary.root} port={primary.port} user={SUPERUSER} application_name={SYNC_NAME}")
    settings = {**_settings(root, _free_port(), False), "primary_conninfo": conninfo, "hot_standby": "on",
                "synchronous_commit": "on", "wal_level": "replica", "max_wal_senders": "5"}
    standby = _launch(root, prefix, settings)
    deadline = time.monotonic() + READY_S
    while _sync_state(primary) != "sync":
        if time.monotonic() > deadline:
            standby.stop()
            raise RuntimeError(f"the standby never streamed synchronously; see {root / 'server.log'}")
        time.sleep(0.05)  # polling replication state, with a deadline
    return standby


def _sync_state(primary: PGServer) -> str | None:
    import psycopg

    with psycopg.connect(primary.url(), autocommit=True) as conn:
        row = conn.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                           (SYNC_NAME,)).fetchone()
    return None if row is None else str(row[0])


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
