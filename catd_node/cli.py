"""`catd-node`: parse arguments and dispatch; every command returns its exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from catd_node import __version__
from catd_node.errors import EXIT_OK, BadConfig, CatdError

if TYPE_CHECKING:
    from catd_node.datadir import DataDir

log = logging.getLogger("catd.cli")


def setup_logging(verbose: bool = False) -> None:
    """key=value lines on stderr: what happened, to which acta, which file."""
    from catd_node.safetext import OneLineFormatter

    handler = logging.StreamHandler(sys.stderr)
    # A file name with a newline must not forge a log line (issue 14).
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv`; a flag the chosen (sub)command does not take is answered with that
    subcommand's own usage (exit 2), not the top-level one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        chosen = parser
        for dest in ("command", "user_command"):
            name = getattr(args, dest, None)
            choices = next((a.choices for a in chosen._actions
                            if isinstance(a, argparse._SubParsersAction)), None)
            if not name or not choices or name not in choices:
                break
            chosen = choices[name]
        chosen.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catd-node", description="CATD edge node for PREP.")
    parser.add_argument("--version", action="version", version=f"catd-node {__version__}")
    where = "data directory (default $CATD_DATA_DIR or ./catd-data)"
    parser.add_argument("-d", "--data-dir", help=where)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # Accepted before or after the command (and after `user`, before or after `add`): SUPPRESS
    # keeps a sub-command's parser from resetting what an earlier position set.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-d", "--data-dir", help=where, default=argparse.SUPPRESS)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging",
                        default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="create a data dir, node key and genesis packet")
    p.add_argument("--node-id", required=True, help="this CATD's id, as HQ registers it (CATD-09-07)")
    p.add_argument("--election", required=True, type=Path, help="election catalog JSON")
    p.add_argument("--hq-url", action="append", default=[], help="HQ base URL (repeat for failover)")
    p.add_argument("--hq-pubkey", type=Path, help="HQ public key PEM (verifies receipts)")

    sub.add_parser("run", parents=[common], help="supervise scan, web and sync as child processes")
    p = sub.add_parser("scan", parents=[common], help="watch the scanner drop folders")
    p.add_argument("--once", action="store_true", help="ingest every finished file now, then exit")
    p = sub.add_parser("web", parents=[common], help="serve the clerks' web app")
    p.add_argument("--host", help="address to listen on (default: catd.toml [web] host)")
    p.add_argument("--port", type=int, help="port to listen on (default: catd.toml [web] port)")
    p = sub.add_parser("sync", parents=[common], help="replay packets and images to HQ")
    p.add_argument("--once", action="store_true", help="drain until HQ holds everything, then exit")
    p = sub.add_parser("verify", parents=[common], help="check every packet and referenced blob")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout: ok, packets, head, blobs, receipts, reason, problems")
    p = sub.add_parser("status", parents=[common], help="where this CATD stands")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("user", parents=[common], help="manage clerk accounts")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    asked = ("; the password is asked twice without echo on a terminal, else read from the first "
              "line of stdin")
    u = user_sub.add_parser("add", parents=[common], help="add an account" + asked)
    u.add_argument("name", help="the account's name (1–64 characters)")
    u.add_argument("--role", required=True, choices=["capturista", "verificador", "coordinador"],
                   help="what the account may do")
    u = user_sub.add_parser("list", parents=[common], help="every account: name, role, active")
    u.add_argument("--json", action="store_true", help="one JSON document on stdout")
    u = user_sub.add_parser("disable", parents=[common],
                              help="stop an account signing in (ends its sessions)")
    u.add_argument("name", help="the account's name")
    u = user_sub.add_parser("passwd", parents=[common], help="set an account's password" + asked)
    u.add_argument("name", help="the account's name")
    p = sub.add_parser("export", parents=[common], help="export packets for auditors")
    p.add_argument("--packets", required=True, type=Path, help="NDJSON output file ('-' = stdout)")
    p = sub.add_parser("attest", parents=[common], help="signed manifest of code and store")
    p.add_argument("--out", type=Path, help="write the signed manifest here")
    p.add_argument("--compare", type=Path, help="compare with an earlier manifest")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    setup_logging(args.verbose)
    from catd_node.datadir import DataDir, resolve

    datadir = DataDir(resolve(args.data_dir))
    try:
        return dispatch(args, datadir)
    except CatdError as exc:
        print(f"error: {exc.what}: {exc.why}", file=sys.stderr)
        _note_exit(exc)
        return exc.exit_code
    except (OSError, sqlite3.Error) as exc:
        from catd_node import diskfull
        from catd_node.errors import EXIT_DISK_FULL

        line = diskfull.cli_message(exc, datadir.root)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_DISK_FULL
    except KeyboardInterrupt:
        return EXIT_OK


def _note_exit(exc: CatdError) -> None:
    """Under `catd-node run`, tell the supervisor why this child exits: one stopped by a bad
    configuration is held until catd.toml changes rather than restarted in a loop."""
    from catd_node.lifecycle import EXIT_NOTE_ENV

    path = os.environ.get(EXIT_NOTE_ENV)
    if not path:
        return
    note = {"code": exc.exit_code, "what": exc.what, "why": exc.why, "config": isinstance(exc, BadConfig)}
    try:
        Path(path).write_text(json.dumps(note, ensure_ascii=False), encoding="utf-8")
    except OSError as err:
        log.warning("exit note not written path=%s error=%s", path, err)


def dispatch(args: argparse.Namespace, datadir: DataDir) -> int:
    from catd_node import commands

    handlers = {
        "init": commands.init,
        "verify": commands.verify,
        "status": commands.status,
        "export": commands.export,
        "user": commands.user,
        "scan": commands.scan,
        "web": commands.web,
        "sync": commands.sync,
        "attest": commands.attest,
        "run": commands.run,
    }
    return handlers[args.command](args, datadir)


def print_json(doc: object) -> None:
    """One JSON document on stdout (for scripts)."""
    print(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))



if __name__ == "__main__":
    sys.exit(main())
