"""Ports for the servers tests start as child processes."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range (32768–60999 here): a port the
    kernel hands out for bind(0) is also the source port of the next outgoing connection, so
    between choosing it and a child process binding it, any client (a node's sync dialing
    HQ) may take it. Chosen at random so parallel workers rarely try the same one."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:   # every try taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
