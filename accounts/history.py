"""What "Delete my viewing history" on the account page deletes.

The history lives in apps above accounts (progress keeps positions and viewing sessions), which
accounts may not import; each registers a function here in its ``AppConfig.ready()`` instead,
as other apps register their token resolvers.
"""

from __future__ import annotations

from collections.abc import Callable

# Called with the viewer's id; deletes what its app keeps and returns how many items went.
Eraser = Callable[..., int]

_erasers: dict[str, Eraser] = {}


def register_eraser(name: str, eraser: Eraser) -> None:
    """``eraser(user_id=...)`` deletes the viewing history ``name`` keeps for that viewer."""
    _erasers[name] = eraser


def can_erase() -> bool:
    return bool(_erasers)


def erase_viewing_history(*, user_id: int) -> int:
    """Run every registered eraser for the viewer; returns the items deleted."""
    return sum(eraser(user_id=user_id) for eraser in _erasers.values())
