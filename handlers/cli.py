"""The ``ddbproj`` command line: one module per command in ``handlers/commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from ddbproj.handlers.commands.common import CommandError

__all__ = ["main"]

#: Modules of ``handlers.commands`` that are helpers, not commands.
_NOT_COMMANDS = {"common"}


def _command_modules() -> list[str]:
    """Every module in ``handlers/commands`` is a command (sorted, as ``--help`` lists them)."""
    import ddbproj.handlers.commands

    names = (info.name for info in pkgutil.iter_modules(ddbproj.handlers.commands.__path__))
    return sorted(name for name in names if name not in _NOT_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddbproj",
        description="Keep SQL tables equal to a DynamoDB table by projecting its stream.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"ddbproj.handlers.commands.{name}")
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the application's projector modules (PROJECTIONS) are found from the working directory,
    # as `python -m` finds them
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    try:
        return int(args.run(args))
    except CommandError as error:
        print(f"ddbproj {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ddbproj {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
