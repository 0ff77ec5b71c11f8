"""What an authenticator app does with the key it was given: the time-based code (TOTP).
Written from the RFCs, not with django-otp (the server's side), so the tests check one
against the other; tests/web/test_two_factor.py checks it against RFC 6238's test values."""

from __future__ import annotations

import hmac


def rfc6238(key: bytes, at: float, *, step: int = 30, digits: int = 6, digest: str = "sha1") -> str:
    """The TOTP value at Unix time ``at`` (RFC 6238 section 4; truncation from RFC 4226 5.3)."""
    counter = int(at // step).to_bytes(8, "big")
    mac = hmac.new(key, counter, digest).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def wrong_code(key: bytes, at: float) -> str:
    """A code a server cannot accept at ``at``: none of the three it allows (one step of drift either way)."""
    allowed = {rfc6238(key, at + drift) for drift in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in allowed)
