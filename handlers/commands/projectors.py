"""``ddbproj projectors``: what is registered, from where, with its table and key."""

from __future__ import annotations

import argparse
from typing import Any

from ddbproj.core.errors import ProjectorError
from ddbproj.core.loading import discover_projectors
from ddbproj.core.registry import ProjectorRegistry
from ddbproj.handlers.commands.common import CommandError, add_json_option, json_document
from ddbproj.handlers.settings import Settings, SettingsError

HEADERS = ("entity type", "projector", "table", "key", "from")

JSON_KEYS = """\
--json prints one object:
  type_attribute  the item attribute that routes items to projectors
  projectors      sorted by entity type, one object each: entity_type, projector
                  (module.Class), table, key (column names), origin ("PROJECTIONS" or
                  the entry point), module"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "projectors", help="list the registered projectors, where they come from, table and key",
        description="Load the projectors as the Lambda handler does ($PROJECTIONS and the "
        "installed 'ddbproj.projections' entry points) and list them.",
        epilog=JSON_KEYS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--projections", default=None,
        help="comma-separated modules or packages of projectors (default: $PROJECTIONS, "
        "else 'projections')",
    )
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_environ()
    except SettingsError as error:
        raise CommandError(str(error)) from error
    names = settings.projections
    if args.projections:
        names = tuple(n.strip() for n in args.projections.split(",") if n.strip())
    try:
        sources = discover_projectors(names)
        registry = ProjectorRegistry(type_attribute=settings.entity_type_attribute)
        for source in sources:
            registry.register(source.projector)
    except ImportError as error:
        raise CommandError(f"cannot import projections: {error}") from error
    except ProjectorError as error:  # the message says the fix
        raise CommandError(str(error)) from error
    found = {s.projector: s for s in sources}
    ordered = sorted(registry, key=lambda c: c.entity_type)
    if args.json:
        print(json_document({
            "type_attribute": registry.type_attribute,
            "projectors": [
                {"entity_type": c.entity_type,
                 "projector": f"{c.projector.__module__}.{c.projector.__qualname__}",
                 "table": c.table,
                 "key": [c.columns[i].name for i in c.key_indexes],
                 "origin": found[c.projector].origin,
                 "module": found[c.projector].module}
                for c in ordered
            ],
        }))
        return 0
    origins = {s.projector: f"{s.origin}: {s.module}" for s in sources}
    rows = [
        (c.entity_type, f"{c.projector.__module__}.{c.projector.__qualname__}", c.table,
         ", ".join(c.columns[i].name for i in c.key_indexes), origins[c.projector])
        for c in ordered
    ]
    if not rows:
        print(f"no projectors in {', '.join(names) or '(nothing)'} "
              "or the 'ddbproj.projections' entry points")
        return 0
    print(f"items are routed by their {registry.type_attribute!r} attribute\n")
    widths = [max(len(r[i]) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    for row in [HEADERS, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    return 0
