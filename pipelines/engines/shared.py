"""Per-process sharing of loaded models (Beam's `shared.Shared` needs a weak-referenceable holder)."""
from __future__ import annotations

from typing import Any, Callable

# The holder each `shared.Shared` handed out last (see acquire_kept), by the handle's id.
_KEPT: dict[int, "SharedHolder"] = {}


class SharedHolder:
    """shared.Shared needs a weak-referenceable object."""

    def __init__(self, value):
        self.value = value


def acquire_kept(handle: Any, load: Callable[[], Any], tag: str) -> Any:
    """`handle.acquire` (a `shared.Shared`) of `load()` under `tag`, the model kept loaded
    while the process lives or until the same handle is asked for another tag.

    Why: Beam's Shared keeps only the object the process acquired last alive (one for all
    handles), and a DoFn keeps the model, not its holder; so the embedder was loaded again by
    every stage that used it after another model was acquired (twice a table a night) and
    the tokenizer once per table. A model kept per handle is one model of each kind."""
    holder = handle.acquire(lambda: SharedHolder(load()), tag=tag)
    _KEPT[id(handle)] = holder
    return holder.value
