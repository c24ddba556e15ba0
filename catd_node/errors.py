"""The project's errors and the exit codes promised in docs/contracts.md."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_HQ_UNREACHABLE = 3
EXIT_CUT_HELD = 4
EXIT_DISK_FULL = 5


class CatdError(Exception):
    """An error a user can act on: `what` names the file, field or request, `why` the fault."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")
        self.what = what
        self.why = why


class BadInput(CatdError):
    """Bad usage or bad input (exit 2)."""


class BadConfig(BadInput):
    """The configuration (catd.toml or a file it names) is wrong (exit 2): restarting will not
    help until it changes, so the supervisor waits for that instead of looping."""


class CheckFailed(CatdError):
    """A verification or comparison found a difference (exit 1)."""

    exit_code = EXIT_CHECK_FAILED


class HQUnreachable(CatdError):
    """HQ stayed unreachable through the retry budget (exit 3)."""

    exit_code = EXIT_HQ_UNREACHABLE


class CutHeld(CatdError):
    """Another HQ receiver is writing this publication cut, or wrote it (exit 4): hq/cuts.py."""

    exit_code = EXIT_CUT_HELD
