"""Building and running command-line parsers: one shape for `binaural ...` (flows.cli)
and for `python -m flows.<module> ...` (each flow module runs its own subcommand
through here, so no flow module imports the CLI that imports it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from flows.environment import prepare_environment

AddParser = Callable[[argparse._SubParsersAction], None]


def command_parser(adders: Sequence[AddParser], description: str | None = None,
                   prog: str | None = None) -> argparse.ArgumentParser:
    """A parser with the global --params option and one subcommand per adder."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=None, help="params.yaml to use")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in adders:
        add(sub)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, set up the tools' environment, run the subcommand; a bad input (missing
    file, bad value) is one error line and exit status 2."""
    args = parser.parse_args(argv)
    prepare_environment()
    try:
        return args.func(args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


def module_main(add: AddParser, name: str, argv: Sequence[str] | None = None) -> int:
    """`python -m flows.<module> ARGS` = `binaural <name> ARGS`."""
    parser = command_parser([add], prog="binaural")
    return run_command(parser, [name, *(sys.argv[1:] if argv is None else argv)])
