"""Reading saved Lambda events from disk, record by record.

A saved batch can be large (100k records is over 1 GiB as Python objects); a file whose
top-level object starts with ``"Records"`` is streamed one record at a time, so only one
chunk is alive at once. Any other JSON document is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["EventFileError", "read_event_records"]

_BLOCK = 1 << 20
_WHITESPACE = " \t\r\n"


class EventFileError(ValueError):
    """The file is not the JSON it should be; the message says where."""


def read_event_records(handle: IO[str]) -> tuple[Iterator[Any] | None, Any]:
    """``(records, None)`` for a ``{"Records": [...]}`` file, streamed; otherwise
    ``(None, document)`` with the whole document parsed."""
    reader = _Reader(handle)
    if reader.starts_with_records():
        return reader.records(), None
    text = reader.buffer[reader.pos:] + handle.read()
    try:
        return None, json.loads(text)
    except json.JSONDecodeError as error:
        raise EventFileError(str(error)) from error


class _Reader:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.buffer = handle.read(_BLOCK)
        self.pos = 0
        self.decoder = json.JSONDecoder()

    def _skip_space(self) -> None:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer) or not self._more():
                return

    def _more(self) -> bool:
        block = self.handle.read(_BLOCK)
        if not block:
            return False
        self.buffer = self.buffer[self.pos:] + block
        self.pos = 0
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
        start = self.pos
        if self._expect("{") and self._expect('"Records"') and self._expect(":") and (
                self._expect("[")):
            return True
        self.pos = start
        return False

    def records(self) -> Iterator[Any]:
        self._skip_space()
        if self._expect("]"):
            return
        while True:
            self._skip_space()
            while True:
                try:
                    record, end = self.decoder.raw_decode(self.buffer, self.pos)
                    break
                except json.JSONDecodeError as error:
                    if not self._more():
                        raise EventFileError(f"record is not valid JSON: {error}") from error
            self.pos = end
            yield record
            if self._expect(","):
                continue
            if self._expect("]"):
                return
            raise EventFileError(f"expected ',' or ']' after a record at offset {self.pos}")
