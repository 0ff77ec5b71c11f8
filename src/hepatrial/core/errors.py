"""The error every core input check raises: which argument or field, and what is wrong with it."""

from __future__ import annotations


class FieldInputError(ValueError):
    """``field`` names the argument or field; ``reason`` is a short sentence a user can act on."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
