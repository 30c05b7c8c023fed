"""The error family of projector definitions: a projector class that cannot be registered.

Every check of a definition (missing class attributes, unknown field names, a field no
column can hold, table names, duplicate claims) raises a subclass of ``ProjectorError``
whose message says the fix, so callers catch one class. It stays a ``TypeError``: a
definition error is a programming error of the projector's author.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ProjectorError", "closest"]


class ProjectorError(TypeError):
    """A projector class is defined in a way ddbproj cannot register."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest ``name``, for a "did you mean ...?"; None when none is near.

    Shared by every check that names a field or an option, so the suggestions agree."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return close[0] if close else None
