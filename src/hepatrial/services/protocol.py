"""The protocol the running app serves (loaded once, from settings)."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from hepatrial.core.protocol import Protocol, load_protocol


@cache
def current_protocol() -> Protocol:
    return load_protocol(getattr(settings, "HEPATRIAL_PROTOCOL", None))


def arm_label(arm_id: str) -> str:
    """An arm's label from the protocol (its id if the protocol has no such arm)."""
    return next((arm.label for arm in current_protocol().arms if arm.id == arm_id), arm_id)
