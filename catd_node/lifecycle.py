"""Child processes that never outlive their parent.

A service killed with SIGKILL (by an operator, the OOM killer, or our crash tests) must not
leave orphaned workers behind: they would hold the scanner folder, the port or memory, and
a process pool's workers would wait forever on a queue nobody writes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal

PR_SET_PDEATHSIG = 1
# Set by the supervisor for each child: the file where the child says why it exited (a bad
# configuration is held until catd.toml changes, not restarted in a loop).
EXIT_NOTE_ENV = "CATD_EXIT_NOTE"


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child: ask Linux to send `sig` when the parent dies (no-op where unsupported).

    A pool worker may reach this only after its parent is already gone (killed while the
    worker was still starting); the parent pid multiprocessing recorded at spawn time tells.
    """
    spawned_by = multiprocessing.parent_process()
    parent = spawned_by.pid if spawned_by is not None and spawned_by.pid else os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)
