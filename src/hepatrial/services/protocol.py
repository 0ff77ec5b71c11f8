"""The protocol the running app serves (loaded once, from settings)."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from hepatrial.core.protocol import Protocol, load_protocol


@cache
def current_protocol() -> Protocol:
    return load_protocol(getattr(settings, "HEPATRIAL_PROTOCOL", None))
