"""The ``ddbproj`` command line: one module per command in ``handlers/commands``.

Exit status: 0 success; 1 a difference found (``verify``, ``schema --check``,
``filter-criteria --check``) or dead letters that still fail (``dlq replay``);
2 an expected failure (usage, configuration, credentials, a database or AWS that refuses,
a file that is not what it should be, a projector definition), printed as one line that
says what to do; 3 an unexpected error, one line too. ``--debug`` prints the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from ddbproj import __version__
from ddbproj.adapters.credentials import NO_CREDENTIALS_FIX, CredentialsError
from ddbproj.adapters.engine import DatabaseUrlError, UnsafeConnectionSetting
from ddbproj.adapters.event_file import EventFileError
from ddbproj.core.errors import ProjectorError
from ddbproj.handlers.commands.common import NO_REGION_FIX, CommandError
from ddbproj.handlers.settings import SettingsError

__all__ = ["EXIT_EXPECTED", "EXIT_UNEXPECTED", "build_parser", "expected_failure", "main"]

EXIT_EXPECTED = 2
EXIT_UNEXPECTED = 3
#: what a shell reports for a tool stopped by SIGPIPE (128 + 13)
EXIT_BROKEN_PIPE = 141

#: Modules of ``handlers.commands`` that are helpers, not commands.
_NOT_COMMANDS = {"common"}

#: Failures whose message already says what is wrong and what to do.
_SELF_EXPLAINING: tuple[type[Exception], ...] = (
    CommandError, ProjectorError, SettingsError, DatabaseUrlError, UnsafeConnectionSetting,
    CredentialsError, EventFileError,
)


def _command_modules() -> list[str]:
    """Every module in ``handlers/commands`` is a command (sorted, as ``--help`` lists them)."""
    import ddbproj.handlers.commands

    names = (info.name for info in pkgutil.iter_modules(ddbproj.handlers.commands.__path__))
    return sorted(name for name in names if name not in _NOT_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddbproj",
        description="Keep SQL tables equal to a DynamoDB table by projecting its stream.",
        epilog="Exit status: 0 success; 1 a difference found (verify, --check) or dead "
        "letters still failing (dlq replay); 2 an expected failure (usage, configuration, "
        "connection, a file, a projector definition), one line on stderr saying what to "
        "do; 3 an unexpected error. -v and --debug work before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"ddbproj {__version__}")
    _add_global_options(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"ddbproj.handlers.commands.{name}")
        module.register(commands)
    _add_to_subcommands(parser, seen=set())
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """``-v`` and ``--debug``; on a subcommand their default is SUPPRESS, so a flag given
    before the command is not undone by the subcommand's own default."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log every batch")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="print the traceback of a failure instead of one line")


def _add_to_subcommands(parser: argparse.ArgumentParser, *, seen: set[int]) -> None:
    for action in parser._actions:  # argparse lists its subparsers nowhere else
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) in seen:  # an alias of a parser already done
                    continue
                seen.add(id(sub))
                _add_global_options(sub, default=argparse.SUPPRESS)
                _add_to_subcommands(sub, seen=seen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the application's projector modules (PROJECTIONS) are found from the working directory,
    # as `python -m` finds them
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print(f"ddbproj {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`ddbproj status --json | head`): stop quietly, as
        # the shell's own tools do, and keep the interpreter's last flush from failing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:
        message = expected_failure(error)
        if args.debug:
            traceback.print_exc()
        if message is not None:
            print(f"ddbproj {command}: error: {message}", file=sys.stderr)
            return EXIT_EXPECTED
        if not args.debug:
            print(f"ddbproj {command}: unexpected error: {type(error).__name__}: "
                  f"{_one_line(str(error))} (run again with --debug for the traceback)",
                  file=sys.stderr)
        return EXIT_UNEXPECTED


def expected_failure(error: BaseException) -> str | None:
    """The one line for a failure a user can fix (None: a bug, or something not foreseen)."""
    if isinstance(error, _SELF_EXPLAINING):
        return _one_line(str(error))
    module = type(error).__module__
    if module.startswith("sqlalchemy"):
        return _database_failure(error)
    if module.startswith("botocore"):
        return _aws_failure(error)
    if isinstance(error, OSError) and error.filename is not None:
        return _one_line(f"cannot open {error.filename}: {error.strerror or error}")
    return None


def _database_failure(error: BaseException) -> str | None:
    """A connection the server refused, or a statement it refused: the server's words."""
    import sqlalchemy as sa

    if not isinstance(error, sa.exc.OperationalError):
        return None
    orig: Any = error.orig if error.orig is not None else error
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
        text = f"{args[1]} (error {args[0]})"
    else:
        text = str(orig)
    if error.statement is None and type(orig).__module__ == "sqlite3":
        return _one_line(f"cannot open the SQLite database: {text}: check that the file's "
                         "directory exists and is writable")
    if error.statement is None:
        return _one_line(f"cannot connect to the database: {text}: check that the server is "
                         "running and the URL's host, port, user, password and database")
    return _one_line(f"the database refused a statement: {text}: run the command again "
                     "when the cause is fixed")


def _aws_failure(error: BaseException) -> str | None:
    from botocore import exceptions

    if isinstance(error, exceptions.NoRegionError):
        return NO_REGION_FIX
    if isinstance(error, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return NO_CREDENTIALS_FIX
    if isinstance(error, exceptions.ProfileNotFound):
        return _one_line(f"{error}: set AWS_PROFILE to a profile of ~/.aws/config")
    if isinstance(error, exceptions.EndpointConnectionError | exceptions.ConnectTimeoutError):
        return _one_line(f"{error}: check --endpoint-url (AWS_ENDPOINT_URL), the region "
                         "and the network")
    if isinstance(error, exceptions.ClientError):
        return _one_line(f"AWS refused: {error}")
    return None


def _one_line(text: str) -> str:
    """Messages from drivers and AWS may run over several lines; stderr gets one."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
