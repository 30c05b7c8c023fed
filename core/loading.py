"""Build a registry from module names (``PROJECTIONS``): a package means all its modules."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from core.projector import Projector
from core.registry import DEFAULT_TYPE_ATTRIBUTE, ProjectorRegistry

__all__ = ["load_registry", "projectors_in"]


def load_registry(
    module_names: Iterable[str], *, type_attribute: str = DEFAULT_TYPE_ATTRIBUTE
) -> ProjectorRegistry:
    """Import every named module (and every module of a named package) and register the
    ``Projector`` subclasses defined there. Duplicate entity types fail here, at start-up."""
    registry = ProjectorRegistry(type_attribute=type_attribute)
    for name in module_names:
        for module in _modules(name.strip()):
            for projector in projectors_in(module):
                registry.register(projector)
    return registry


def projectors_in(module: ModuleType) -> list[type[Projector[Any]]]:
    """Concrete projector classes defined (not merely imported) in ``module``."""
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Projector)
        and value is not Projector
        and value.__module__ == module.__name__
        and "entity_type" in _declared(value)
    ]


def _declared(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is Projector:
            break
        names.update(vars(klass))
    return names


def _modules(name: str) -> Iterator[ModuleType]:
    if not name:
        return
    module = importlib.import_module(name)
    yield module
    path = getattr(module, "__path__", None)
    if path is None:
        return
    for info in sorted(pkgutil.walk_packages(path, prefix=name + "."), key=lambda i: i.name):
        yield importlib.import_module(info.name)
