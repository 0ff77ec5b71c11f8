"""Template context every page gets: the protocol and the user's role."""

from __future__ import annotations

from hepatrial.services.access import Actor
from hepatrial.services.protocol import current_protocol


def trial_context(request):
    actor = Actor(request.user)
    return {"protocol": current_protocol(), "role": actor.role}
