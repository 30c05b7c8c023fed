"""Names ddbproj gives its own columns and tables, defined once for every layer."""

from __future__ import annotations

__all__ = ["SEQ_COLUMN", "SEQ_DIGITS", "TOMBSTONE_PREFIX", "tombstone_table_name"]

#: The column of every projected row and tombstone that holds the rank that wrote it.
SEQ_COLUMN = "ddbproj_seq"
#: Digits of a rank (sequence numbers are decimal strings of up to 40 digits): the width
#: of ``DECIMAL(40, 0)``; a larger rank cannot be stored and is refused when planned.
SEQ_DIGITS = 40
#: Tombstone tables are the projected table's name behind this prefix.
TOMBSTONE_PREFIX = "ddbproj_tomb_"
#: The longest table name MySQL accepts.
MAX_NAME = 64


def tombstone_table_name(table: str) -> str:
    return f"{TOMBSTONE_PREFIX}{table}"[:MAX_NAME]
