"""ddbproj core: pure logic from a stream event to a batch plan (stdlib, attrs, cattrs)."""

from ddbproj.core.columns import Column, ColumnKind, UnmappableField, column
from ddbproj.core.converter import StructureError, describe_error, make_converter
from ddbproj.core.dynamodb_json import (
    DecodeError,
    decode_image,
    decode_value,
    encode_image,
    encode_value,
)
from ddbproj.core.errors import ProjectorError
from ddbproj.core.loading import load_registry
from ddbproj.core.plan import BatchPlan, DeadLetter, TableChanges, plan_batch
from ddbproj.core.projector import CompiledProjector, Projector, pascal_case
from ddbproj.core.records import (
    BACKFILL_SEQUENCE,
    ChangeRecord,
    EventKind,
    ParsedBatch,
    parse_event,
    parse_record,
)
from ddbproj.core.registry import ProjectorRegistry, RegistryError, SkipReason

__all__ = [
    "BACKFILL_SEQUENCE",
    "BatchPlan",
    "ChangeRecord",
    "Column",
    "ColumnKind",
    "CompiledProjector",
    "DeadLetter",
    "DecodeError",
    "EventKind",
    "ParsedBatch",
    "Projector",
    "ProjectorError",
    "ProjectorRegistry",
    "RegistryError",
    "SkipReason",
    "StructureError",
    "TableChanges",
    "UnmappableField",
    "column",
    "decode_image",
    "decode_value",
    "describe_error",
    "encode_image",
    "encode_value",
    "load_registry",
    "make_converter",
    "parse_event",
    "parse_record",
    "pascal_case",
    "plan_batch",
]
