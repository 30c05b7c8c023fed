"""Reading saved Lambda events from disk, record by record.

A saved batch can be large (100k records is over 1 GiB as Python objects); a file whose
top-level object starts with ``"Records"`` is streamed one record at a time, so only one
chunk is alive at once. Any other JSON document is read whole. A UTF-8 byte order mark
at the start is skipped (editors on Windows write one).

Every record must be a JSON object: anything else is not a Lambda event, and the
``EventFileError`` says which record and what it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["EventFileError", "lambda_event_records", "read_event_records"]

_BLOCK = 1 << 20
_WHITESPACE = " \t\r\n"
_BOM = "\ufeff"


class EventFileError(ValueError):
    """The file is not the JSON it should be; the message says where."""


def read_event_records(handle: IO[str]) -> tuple[Iterator[Any] | None, Any]:
    """``(records, None)`` for a ``{"Records": [...]}`` file, streamed; otherwise
    ``(None, document)`` with the whole document parsed."""
    reader = _Reader(handle)
    if reader.starts_with_records():
        return reader.records(), None
    text = reader.buffer[reader.pos:] + handle.read()
    if not text.strip(_WHITESPACE):
        raise EventFileError("the file is empty")
    try:
        return None, json.loads(text)
    except json.JSONDecodeError as error:
        raise EventFileError(f"not JSON: {error}") from error


def lambda_event_records(document: Any) -> list[dict[str, Any]]:
    """The records of a Lambda event read whole: ``{"Records": [ {...}, ... ]}``."""
    if not isinstance(document, dict):
        raise EventFileError(f"the document is {_kind(document)}, not an object")
    if "Records" not in document:
        raise EventFileError("the object has no \"Records\"")
    records = document["Records"]
    if not isinstance(records, list):
        raise EventFileError(f"\"Records\" is {_kind(records)}, not a list")
    for number, record in enumerate(records, start=1):
        _check_record(number, record)
    return records


def _check_record(number: int, record: Any) -> None:
    if not isinstance(record, dict):
        raise EventFileError(f"record {number} is {_kind(record)}, not an object")


def _kind(value: Any) -> str:
    """The JSON name of a value's type, never the value (it may be anything)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _Reader:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.buffer = handle.read(_BLOCK)
        self.pos = 1 if self.buffer.startswith(_BOM) else 0
        self.anchor: int | None = None
        self.decoder = json.JSONDecoder()

    def _skip_space(self) -> None:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer) or not self._more():
                return

    def _more(self) -> bool:
        """Read the next block; text before ``pos`` is dropped, except from ``anchor`` on
        (a probe that may have to go back keeps what it read)."""
        block = self.handle.read(_BLOCK)
        if not block:
            return False
        cut = self.pos if self.anchor is None else self.anchor
        self.buffer = self.buffer[cut:] + block
        self.pos -= cut
        if self.anchor is not None:
            self.anchor -= cut
        return True

    def _expect(self, text: str) -> bool:
        self._skip_space()
        while len(self.buffer) - self.pos < len(text) and self._more():
            pass
        if self.buffer.startswith(text, self.pos):
            self.pos += len(text)
            return True
        return False

    def starts_with_records(self) -> bool:
        self.anchor = self.pos
        try:
            if self._expect("{") and self._expect('"Records"') and self._expect(":") and (
                    self._expect("[")):
                return True
            self.pos = self.anchor
            return False
        finally:
            self.anchor = None

    def records(self) -> Iterator[Any]:
        self._skip_space()
        if self._expect("]"):
            return
        number = 0
        while True:
            number += 1
            self._skip_space()
            while True:
                try:
                    record, end = self.decoder.raw_decode(self.buffer, self.pos)
                    break
                except json.JSONDecodeError as error:
                    if not self._more():
                        raise EventFileError(
                            f"record {number} is not valid JSON: {error.msg}") from error
            self.pos = end
            _check_record(number, record)
            yield record
            if self._expect(","):
                continue
            if self._expect("]"):
                return
            self._skip_space()
            if self.pos >= len(self.buffer):
                raise EventFileError(f"the file ends after record {number}, inside the "
                                     "\"Records\" list (is it cut short?)")
            raise EventFileError(f"expected ',' or ']' after record {number}")
