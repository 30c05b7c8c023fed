"""``ddbproj filter-criteria``: the event source mapping's filter, generated from the
projectors; ``--template`` writes it into the SAM template's parameters (``make
deploy-config``) so the deployed filter cannot drift from the code."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ddbproj.core.filter_criteria import MAX_FILTERS, FilterCriteriaError, filter_criteria
from ddbproj.handlers.commands.common import CommandError, open_registry

__all__ = ["BLOCK_BEGIN", "BLOCK_END", "parameter_name", "render_parameters", "update_template"]

BLOCK_BEGIN = "# BEGIN generated filter patterns (make deploy-config); do not edit"
BLOCK_END = "# END generated filter patterns"
_BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BLOCK_BEGIN)}\n.*?^[ \t]*{re.escape(BLOCK_END)}[^\n]*\n",
    re.MULTILINE | re.DOTALL,
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "filter-criteria", help="print the FilterCriteria that admits what the projectors claim",
        description="Print the Lambda FilterCriteria JSON generated from the registered "
        "projectors: entity types on NewImage and OldImage (REMOVE), key-prefix routes. "
        "Records a filter drops are lost for good, so it admits every claimed record.",
    )
    parser.add_argument("--projections", default=None,
                        help="comma-separated modules or packages of projectors "
                        "(default: $PROJECTIONS, else 'projections')")
    parser.add_argument("--template", metavar="FILE", default=None,
                        help="write the patterns into the FilterPatternN parameters of this "
                        "SAM template instead of printing them")
    parser.add_argument("--check", action="store_true",
                        help="with --template: change nothing, exit 1 when the template differs")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    try:
        criteria = filter_criteria(registry, max_filters=MAX_FILTERS)
    except FilterCriteriaError as error:
        raise CommandError(str(error)) from error
    if args.template is None:
        if args.check:
            raise CommandError("--check needs --template FILE")
        json.dump(criteria, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    path = Path(args.template)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from error
    updated = update_template(text, criteria)
    if updated == text:
        print(f"{path}: filter patterns up to date ({len(criteria['Filters'])} filters)")
        return 0
    if args.check:
        print(f"{path}: filter patterns differ from the projectors; run 'make deploy-config'")
        return 1
    path.write_text(updated, encoding="utf-8")
    print(f"{path}: filter patterns written ({len(criteria['Filters'])} filters)")
    return 0


def parameter_name(index: int) -> str:
    return f"FilterPattern{index + 1}"


def render_parameters(criteria: Mapping[str, Any], *, indent: str = "  ") -> str:
    """The generated block: one String parameter per filter slot, unused slots empty."""
    filters = criteria["Filters"]
    lines = [f"{indent}{BLOCK_BEGIN}"]
    for index in range(MAX_FILTERS):
        pattern = filters[index]["Pattern"] if index < len(filters) else ""
        quoted = "'" + pattern.replace("'", "''") + "'"
        lines += [
            f"{indent}{parameter_name(index)}:",
            f"{indent}  Type: String",
            f"{indent}  Description: Lambda event filter pattern {index + 1} "
            "(empty = unused), from ddbproj filter-criteria",
            f"{indent}  Default: {quoted}",
        ]
    lines.append(f"{indent}{BLOCK_END}")
    return "\n".join(lines) + "\n"


def update_template(text: str, criteria: Mapping[str, Any]) -> str:
    """``text`` with its generated block replaced; everything else is left as written."""
    match = _BLOCK.search(text)
    if match is None:
        raise CommandError(f"the template has no '{BLOCK_BEGIN}' ... '{BLOCK_END}' block")
    block = render_parameters(criteria, indent=match.group("indent"))
    return text[: match.start()] + block + text[match.end():]
