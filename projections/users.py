"""Users: the entity of the classic hand-written stream-to-Aurora job."""

from __future__ import annotations

import attrs

from ddbproj.core import Projector, pascal_case


@attrs.frozen
class User:
    id: int
    name: str
    age: int
    height: int
    weight: int


class UserProjector(Projector[User]):
    """``{"entity_type": "User", "Id": 1, "Name": ..., "Age": ...}`` -> table ``users``."""

    entity_type = "User"
    model = User
    table = "users"
    key = ("id",)
    attribute_names = pascal_case
