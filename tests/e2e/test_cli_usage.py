"""Both commands as a newcomer meets them (issue 22): every option says what it does, a wrong
flag is answered with the usage of the subcommand it was given to, `catd-hq --version`, and
`catd-hq verify --json` in the shape of `catd-node verify --json`."""

from __future__ import annotations

import argparse
import json

import pytest

from catd_node import __version__
from catd_node import cli as node_cli_mod
from hq import cli as hq_cli_mod
from tests.e2e.conftest import hq_cli, node_cli
from tests.hqkit import ELECTION

PARSERS = {"catd-node": node_cli_mod.build_parser, "catd-hq": hq_cli_mod.build_parser}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of the parser and every subcommand under it, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            for name, child in action.choices.items():
                assert name in helped, f"{' '.join((*path, name))}: no help line in the command list"
                yield from commands(child, (*path, name))


def test_every_option_and_command_of_both_clis_has_help():
    missing = []
    seen = 0
    for prog, build in PARSERS.items():
        for path, parser in commands(build()):
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                    continue
                seen += 1
                if not (action.help or "").strip():
                    flag = "/".join(action.option_strings) or action.dest
                    missing.append(f"{prog} {' '.join(path)} {flag}")
    assert not missing, "options without help:\n" + "\n".join(missing)
    assert seen > 100   # the walk did reach the subcommands


def _required(parser: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for what the subcommand cannot parse without."""
    out: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        value = str(next(iter(action.choices))) if action.choices else "1"
        if not action.option_strings:
            out.append(value)
        elif action.required:
            out += [action.option_strings[-1], value]
    return out


def _leaves():
    for prog, build in PARSERS.items():
        for path, parser in commands(build()):
            if path and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
                yield pytest.param(prog, path, parser, id=f"{prog} {' '.join(path)}")


@pytest.mark.parametrize(("prog", "path", "parser"), list(_leaves()))
def test_a_wrong_flag_is_answered_with_that_subcommands_usage(prog, path, parser, capsys):
    main = node_cli_mod.main if prog == "catd-node" else hq_cli_mod.main
    with pytest.raises(SystemExit) as exit_info:
        main([*path, *_required(parser), "--no-such-flag"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"usage: {prog} {' '.join(path)} "), err
    assert f"{prog} {' '.join(path)}: error: unrecognized arguments: --no-such-flag" in err


def test_catd_hq_version_and_verify_json_as_child_processes(tmp_path):
    done = hq_cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"catd-hq {__version__}")
    assert node_cli("--version").stdout.strip() == f"catd-node {__version__}"

    done = hq_cli("verify", "--frobnicate")
    assert done.returncode == 2 and done.stderr.startswith("usage: catd-hq verify "), done.stderr

    hq_dir = tmp_path / "hq"
    assert hq_cli("init", "-d", str(hq_dir), "--election", str(ELECTION)).returncode == 0
    done = hq_cli("verify", "-d", str(hq_dir), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "packets": 0, "blobs": 0, "nodes": {}, "reason": None,
                                       "problems": []}


def test_an_option_a_subcommand_ignores_is_absent_from_its_help_yet_still_parses():
    """`catalog`, `verify-release` and `rehearse` work on the files they are given: their help
    and usage do not offer -d/--data-dir, which scripts may still pass (tests/e2e/test_publish_e2e.py)."""
    subs = next(a.choices for a in hq_cli_mod.build_parser()._actions
                if isinstance(a, argparse._SubParsersAction))
    assert set(hq_cli_mod.ON_FILES) <= set(subs)
    for name, parser in subs.items():
        text = parser.format_help()
        shown = "--data-dir" in text or "-d DATA_DIR" in text
        assert shown == (name not in hq_cli_mod.ON_FILES), f"catd-hq {name} --help:\n{text}"
        assert "--verbose" in text, name
    for name in hq_cli_mod.ON_FILES:
        args = hq_cli_mod.build_parser().parse_args(
            [name, "-d", "x", *_required(subs[name])])
        assert args.data_dir == "x"
