"""Build a registry from module names (``PROJECTIONS``: a package means all its modules)
and from installed packages that declare projectors in the ``ddbproj.projections``
entry-point group, so a shared library of projectors can serve several services::

    # the library's pyproject.toml
    [project.entry-points."ddbproj.projections"]
    catalog = "catalog_projectors"            # a module or package of projectors
    # invoices = "billing.invoices:InvoiceProjector"   # or one projector class
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import traceback
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import attrs

from ddbproj.core.errors import ProjectorError
from ddbproj.core.projector import Projector
from ddbproj.core.registry import DEFAULT_TYPE_ATTRIBUTE, ProjectorRegistry, RegistryError

__all__ = [
    "DEFAULT_PROJECTIONS",
    "ENTRY_POINT_GROUP",
    "ProjectorModuleFailed",
    "ProjectorSource",
    "discover_projectors",
    "load_registry",
    "projectors_in",
]

ENTRY_POINT_GROUP = "ddbproj.projections"

#: The package ``PROJECTIONS`` names by default. A project whose projectors all come from
#: installed packages' entry points need not have it.
DEFAULT_PROJECTIONS = "projections"


class ProjectorModuleFailed(ProjectorError):
    """A projector module raised while it was imported: a fault of the application's code,
    reported with where it happened instead of as a fault of ddbproj."""


@attrs.frozen
class ProjectorSource:
    """Where a projector came from: ``origin`` is ``"PROJECTIONS"`` or
    ``"entry point <name> (<distribution> <version>)"``; ``module`` is its module."""

    projector: type[Projector[Any]]
    origin: str
    module: str


def load_registry(
    module_names: Iterable[str],
    *,
    type_attribute: str = DEFAULT_TYPE_ATTRIBUTE,
    entry_points: bool = True,
) -> ProjectorRegistry:
    """Import every named module (and every module of a named package), and with
    ``entry_points`` those of the ``ddbproj.projections`` group, and register the
    ``Projector`` subclasses defined there. Conflicts fail here, at start-up, and so does
    finding no projector at all: a handler with none would skip every record."""
    names = [name.strip() for name in module_names]
    registry = ProjectorRegistry(type_attribute=type_attribute)
    for source in discover_projectors(names, entry_points=entry_points):
        registry.register(source.projector)
    if len(registry) == 0:
        where = (f"nor in the {ENTRY_POINT_GROUP!r} entry points" if entry_points
                 else "(the entry points were not read)")
        named = ",".join(name for name in names if name) or "(nothing)"
        raise RegistryError(
            f"no projectors found in PROJECTIONS={named} {where}: add a module with a "
            f"Projector subclass to {DEFAULT_PROJECTIONS}/ or set PROJECTIONS"
        )
    return registry


def discover_projectors(
    module_names: Iterable[str], *, entry_points: bool = True
) -> list[ProjectorSource]:
    """The projector classes of the named modules, then of the entry points, each once.

    The default package, ``projections``, may be absent (its projectors may all come from
    entry points); any other module named, or a module it imports, must be importable."""
    found: dict[type[Projector[Any]], ProjectorSource] = {}
    for name in module_names:
        try:
            modules = list(_modules(name.strip()))
        except ModuleNotFoundError as error:
            if name.strip() == DEFAULT_PROJECTIONS and error.name == DEFAULT_PROJECTIONS:
                continue
            raise
        for module in modules:
            for projector in projectors_in(module):
                found.setdefault(projector, ProjectorSource(projector, "PROJECTIONS",
                                                            module.__name__))
    if entry_points:
        for source in _entry_point_projectors():
            found.setdefault(source.projector, source)
    return list(found.values())


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


def _entry_point_projectors() -> Iterator[ProjectorSource]:
    points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                    key=lambda p: (p.name, p.value))
    for point in points:
        dist = point.dist
        origin = f"entry point {point.name}" + (f" ({dist.name} {dist.version})" if dist else "")
        try:
            loaded = point.load()
        except ImportError as error:
            raise ImportError(
                f"{origin} names {point.value!r}, which cannot be imported: {error}"
            ) from error
        except ProjectorError:
            raise
        except Exception as error:
            raise _import_failed(f"{origin} ({point.value})", error) from error
        if inspect.isclass(loaded) and issubclass(loaded, Projector):
            yield ProjectorSource(loaded, origin, loaded.__module__)
        elif isinstance(loaded, ModuleType):
            for module in _modules(loaded.__name__):
                for projector in projectors_in(module):
                    yield ProjectorSource(projector, origin, module.__name__)
        else:
            raise TypeError(
                f"{origin} names {point.value!r}, a {type(loaded).__name__}; it must name a "
                "module or package of projectors, or a Projector subclass ('module:Class')"
            )


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
    module = _import(name)
    yield module
    path = getattr(module, "__path__", None)
    if path is None:
        return
    for info in sorted(pkgutil.walk_packages(path, prefix=name + "."), key=lambda i: i.name):
        yield _import(info.name)


def _import(name: str) -> ModuleType:
    """Import a projector module; what its own code raises (other than a missing module or
    a projector definition error) becomes a ``ProjectorModuleFailed`` naming the place."""
    try:
        return importlib.import_module(name)
    except (ImportError, ProjectorError):
        raise
    except Exception as error:
        raise _import_failed(name, error) from error


def _import_failed(name: str, error: Exception) -> ProjectorModuleFailed:
    if isinstance(error, SyntaxError):
        where = f"{error.filename}:{error.lineno}"
    else:
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return ProjectorModuleFailed(
        f"importing the projector module {name} raised {type(error).__name__}: {error} "
        f"(at {where}); fix that module"
    )
