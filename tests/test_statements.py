"""The SQL text per dialect, rendered offline: MySQL 8 / Aurora MySQL 3 statements cannot
run here (only MariaDB does), so their text is checked against MySQL 8's syntax."""

from __future__ import annotations

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ddbproj.adapters.schema import dead_letters_table
from ddbproj.adapters.statements import TableStatements, bookkeeping_upsert, row_alias
from ddbproj.core import Projector, ProjectorRegistry, column


@attrs.frozen
class Thing:
    id: str = attrs.field(metadata=column(length=20))
    name: str


class ThingProjector(Projector[Thing]):
    entity_type = "Thing"
    model = Thing
    table = "things"
    key = ("id",)


def dialect(version: tuple[int, ...], *, mariadb: bool) -> sa.Dialect:
    d = mysql.pymysql.dialect()
    d.server_version_info = version
    d.is_mariadb = mariadb
    # what SQLAlchemy sets when it first connects to such a server
    d._requires_alias_for_on_duplicate_key = not mariadb and version >= (8, 0, 20)
    return d


def statements(d: sa.Dialect) -> TableStatements:
    registry = ProjectorRegistry()
    registry.register(ThingProjector)
    (compiled,) = registry.tables().values()
    return TableStatements(compiled, d)


def test_mysql_8_upserts_name_the_inserted_row_instead_of_the_deprecated_values():
    stmts = statements(dialect((8, 0, 36), mariadb=False))
    assert stmts.row_upsert.tail == (
        " AS new ON DUPLICATE KEY UPDATE name = IF(new.ddbproj_seq > ddbproj_seq, "
        "new.name, name), ddbproj_seq = IF(new.ddbproj_seq > ddbproj_seq, "
        "new.ddbproj_seq, ddbproj_seq)")
    assert "VALUES(" not in stmts.tombstone_upsert.sql


def test_mariadb_and_old_mysql_keep_values():
    for d in (dialect((10, 11, 9), mariadb=True), dialect((8, 0, 18), mariadb=False)):
        assert not row_alias(d)
        assert "VALUES(name)" in statements(d).row_upsert.tail


def test_tombstone_reads_lock_so_a_committing_delete_is_seen():
    stmts = statements(dialect((8, 0, 36), mariadb=False))
    assert stmts.probe(2) == ("SELECT id FROM ddbproj_tomb_things WHERE id IN (%s, %s) "
                              "LOCK IN SHARE MODE")
    assert stmts.any_tombstone.endswith("LIMIT 1 LOCK IN SHARE MODE")


def test_bookkeeping_upserts_on_mysql_8_use_the_row_alias():
    d = dialect((8, 0, 36), mariadb=False)
    table = dead_letters_table(sa.MetaData())
    text = str(bookkeeping_upsert(d, table, ["record_id"], updates=["error"],
                                  increment="attempts").compile(dialect=d))
    assert "AS new ON DUPLICATE KEY UPDATE error = new.error" in text
    assert "VALUES(" not in text.split("ON DUPLICATE KEY UPDATE")[1]
