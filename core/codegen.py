"""Small functions generated once from source text, as attrs and cattrs build theirs.

A generated function reads fixed attributes straight (``obj.name``): no per-value loop,
lookup or dispatch on the hot path. Its source is registered with ``linecache``, so a
traceback through it shows the generated lines.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compile_function"]

_counter = itertools.count()


def compile_function(
    name: str, source: str, namespace: Mapping[str, Any], *, about: str
) -> Callable[..., Any]:
    """The function ``name`` defined by ``source``, with ``namespace`` as its globals."""
    filename = f"<ddbproj generated {name} for {about} #{next(_counter)}>"
    globals_ = dict(namespace)
    exec(compile(source, filename, "exec"), globals_)  # the source is built here, never input
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    function: Callable[..., Any] = globals_[name]
    return function
