"""The README documents every command and option the CLIs accept (a doc that drifts is a bug)."""

from __future__ import annotations

import argparse

from catd_node.cli import build_parser
from tests.e2e.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    # A suppressed option is accepted for compatibility but shown nowhere: nothing to document.
    return {opt for action in parser._actions for opt in action.option_strings
            if opt.startswith("--") and opt not in ("--help", "--version")
            and action.help != argparse.SUPPRESS}


def test_readme_leads_with_make_run_and_make_test():
    head = README[:800]
    assert "make run" in head and "make test" in head


def test_readme_names_every_catd_node_command_and_option():
    missing = []
    for name, sub in subcommands(build_parser()).items():
        if f"catd-node {name}" not in README:
            missing.append(f"catd-node {name}")
        nested = subcommands(sub)
        for nested_name, nested_sub in nested.items():
            if f"catd-node {name} {nested_name}" not in README:
                missing.append(f"catd-node {name} {nested_name}")
            missing += [f"{name} {nested_name} {o}" for o in options(nested_sub) if o not in README]
        missing += [f"{name} {o}" for o in options(sub) if o not in README]
    assert not missing, f"README.md does not document: {missing}"


def test_readme_names_every_catd_hq_command():
    from hq.cli import build_parser as hq_parser

    missing = []
    for name, sub in subcommands(hq_parser()).items():
        if f"catd-hq {name}" not in README:
            missing.append(f"catd-hq {name}")
        missing += [f"catd-hq {name} {o}" for o in options(sub) if o not in README]
    assert not missing, f"README.md does not document: {missing}"
