"""Per-process sharing of loaded models (Beam's `shared.Shared` needs a weak-referenceable holder)."""
from __future__ import annotations


class SharedHolder:
    """shared.Shared needs a weak-referenceable object."""

    def __init__(self, value):
        self.value = value
