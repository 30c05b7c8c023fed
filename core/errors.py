"""The error family of projector definitions: a projector class that cannot be registered.

Every check of a definition (missing class attributes, unknown field names, a field no
column can hold, table names, duplicate claims) raises a subclass of ``ProjectorError``
whose message says the fix, so callers catch one class. It stays a ``TypeError``: a
definition error is a programming error of the projector's author.
"""

from __future__ import annotations

__all__ = ["ProjectorError"]


class ProjectorError(TypeError):
    """A projector class is defined in a way ddbproj cannot register."""
