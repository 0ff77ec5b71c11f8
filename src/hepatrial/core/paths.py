"""How hepatrial names a place in an input: ``labs[2].unit``, ``criteria.inclusion[4].rule``."""

from __future__ import annotations

from collections.abc import Iterable


def dotted_path(parts: Iterable[str | int], empty: str = "(top)") -> str:
    """Keys joined with dots, list indexes in brackets; ``empty`` for the root."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or empty
