"""`catd-node user add|list|disable|passwd` as an operator runs them: real child processes, a
real pseudo-terminal for the password prompt (no echo, asked twice), stdin otherwise."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from catd_node.datadir import DataDir
from catd_node.web import passwords, users

CLI = [sys.executable, "-m", "catd_node.cli"]
SECRET = "rosa-captura-2027"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=60)


def on_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (its controlling tty); answer each prompt in turn."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout, stderr and /dev/tty are the terminal
        os.execv(sys.executable, [*CLI, *args])
    seen = b""
    answered_at = 0  # where the screen stood when the last answer was typed
    pending = list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            # answer a prompt only once it is new since the last answer (typing ahead of the
            # next prompt would race getpass turning echo back on between the two)
            if pending and seen[answered_at:].rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered_at = len(seen)
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        grace = time.monotonic() + 10
        while done == 0 and time.monotonic() < grace:  # closed the terminal, still exiting
            time.sleep(0.05)
            done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still waiting for an answer: the test fails instead of hanging
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")


def account(root, name: str) -> users.User | None:
    conn = DataDir(Path(root)).reader()
    try:
        return users.get(conn, name)
    finally:
        conn.close()


def kinds(root) -> list[str]:
    conn = DataDir(Path(root)).reader()
    try:
        return [k for (k,) in conn.execute("SELECT kind FROM packets ORDER BY seq")]
    finally:
        conn.close()


def test_user_add_on_a_terminal_asks_twice_without_echo(node_dir):
    root = str(node_dir.root)
    code, screen = on_a_terminal(["user", "add", "rosa", "--role", "capturista", "-d", root], [SECRET, SECRET])  # noqa: E501
    assert code == 0, screen
    assert "Contraseña:" in screen and "Repita la contraseña:" in screen
    assert SECRET not in screen  # never echoed
    rosa = account(root, "rosa")
    assert rosa is not None and rosa.role == "capturista" and passwords.verify_password(SECRET, rosa.password_hash)  # noqa: E501


def test_two_different_passwords_on_a_terminal_add_nothing(node_dir):
    root = str(node_dir.root)
    code, screen = on_a_terminal(["user", "add", "rosa", "--role", "capturista", "-d", root],
                                 [SECRET, SECRET + "x"])
    assert code == 2, screen
    assert "no coinciden" in screen
    assert account(root, "rosa") is None and "user.added" not in kinds(root)


def test_list_disable_and_passwd_are_recorded_as_packets(node_dir):
    root = str(node_dir.root)
    assert run("user", "add", "rosa", "--role", "verificador", "-d", root, stdin=SECRET + "\n").returncode == 0  # noqa: E501
    listed = run("user", "list", "--json", "-d", root)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{"name": "rosa", "role": "verificador", "active": True}]
    new = "otra-clave-de-rosa-99"
    changed = run("user", "passwd", "rosa", "-d", root, stdin=new + "\n")
    assert changed.returncode == 0, changed.stderr
    rosa = account(root, "rosa")
    assert rosa is not None and passwords.verify_password(new, rosa.password_hash)
    assert not passwords.verify_password(SECRET, rosa.password_hash)
    assert run("user", "disable", "rosa", "-d", root).returncode == 0
    again = run("user", "disable", "rosa", "-d", root)
    assert again.returncode == 0 and "already disabled" in again.stdout
    assert "rosa\tverificador\tdesactivada" in run("user", "list", "-d", root).stdout
    assert kinds(root)[-3:] == ["user.added", "user.password_changed", "user.disabled"]
    verified = run("verify", "-d", root)
    assert verified.returncode == 0, verified.stderr


def test_bad_user_commands_name_what_is_wrong(node_dir):
    root = str(node_dir.root)
    missing = run("user", "passwd", "nadie", "-d", root, stdin=SECRET + "\n")
    assert missing.returncode == 2 and "'nadie'" in missing.stderr and "no existe" in missing.stderr
    weak = run("user", "add", "rosa", "--role", "capturista", "-d", root, stdin="corta\n")
    assert weak.returncode == 2 and "contraseña" in weak.stderr
    empty = run("user", "add", "rosa", "--role", "capturista", "-d", root, stdin="")
    assert empty.returncode == 2 and "no password given" in empty.stderr
    flag = run("user", "disable", "rosa", "--role", "x", "-d", root)
    assert flag.returncode == 2 and "usage: catd-node user disable" in flag.stderr
