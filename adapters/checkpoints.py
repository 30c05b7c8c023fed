"""Stream consumer checkpoints: per stream and shard, the last sequence number applied,
written in the transaction of the rows it produced, so a restart resumes after them."""

from __future__ import annotations

import attrs
import sqlalchemy as sa

from ddbproj.adapters.schema import CHECKPOINTS, checkpoints_table, table_missing
from ddbproj.adapters.statements import bookkeeping_upsert, rank_value, utc_wall_time

__all__ = ["Checkpoint", "CheckpointStore"]


@attrs.frozen
class Checkpoint:
    """Where a stream consumer is on one shard, written with the rows it produced."""

    stream_arn: str
    shard_id: str
    sequence_number: str | None
    finished: bool = False


class CheckpointStore:
    """The checkpoints of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.table = checkpoints_table(sa.MetaData())

    def store(self, conn: sa.Connection, checkpoint: Checkpoint) -> None:
        """Inside the batch's transaction."""
        number = checkpoint.sequence_number
        row = {
            "stream_arn": checkpoint.stream_arn,
            "shard_id": checkpoint.shard_id,
            "sequence_number": rank_value(conn.dialect, int(number) if number else None),
            "finished": checkpoint.finished,
            "updated_at": utc_wall_time(),
        }
        conn.execute(
            bookkeeping_upsert(conn.dialect, self.table, ["stream_arn", "shard_id"],
                               updates=["sequence_number", "finished", "updated_at"]),
            [row],
        )

    def load(self, stream_arn: str | None = None) -> list[Checkpoint]:
        """Checkpoints as committed (of one stream, or all); none when the table is
        missing."""
        if table_missing(self.engine, CHECKPOINTS):
            return []
        t = self.table
        query = sa.select(t).order_by(t.c.stream_arn, t.c.shard_id)
        if stream_arn is not None:
            query = query.where(t.c.stream_arn == stream_arn)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Checkpoint(row.stream_arn, row.shard_id,
                       str(int(row.sequence_number)) if row.sequence_number is not None
                       else None, bool(row.finished))
            for row in rows
        ]

    def of_stream(self, stream_arn: str) -> dict[str, Checkpoint]:
        """Shard id -> checkpoint, as committed."""
        return {c.shard_id: c for c in self.load(stream_arn)}
