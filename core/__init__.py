"""ddbproj core: pure logic from a stream event to a batch plan (stdlib, attrs, cattrs)."""

from core.columns import Column, ColumnKind, UnmappableField, column
from core.converter import StructureError, describe_error, make_converter
from core.dynamodb_json import DecodeError, decode_image, decode_value, encode_image, encode_value
from core.errors import ProjectorError
from core.loading import load_registry
from core.plan import BatchPlan, DeadLetter, TableChanges, plan_batch
from core.projector import CompiledProjector, Projector, pascal_case
from core.records import (
    BACKFILL_SEQUENCE,
    ChangeRecord,
    EventKind,
    ParsedBatch,
    parse_event,
    parse_record,
)
from core.registry import ProjectorRegistry, RegistryError, SkipReason

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
