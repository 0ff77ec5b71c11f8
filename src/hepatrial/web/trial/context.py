"""Template context every page gets: the protocol and the user's role."""

from __future__ import annotations

from hepatrial.services.access import Actor
from hepatrial.services.protocol import current_protocol
from hepatrial.services.two_factor import needs_two_factor


def trial_context(request):
    actor = Actor(request.user)
    user = request.user
    # signed in with the password only, the code still to give (trial.middleware.TwoFactorMiddleware)
    two_factor = needs_two_factor(user)
    pending = two_factor and hasattr(user, "is_verified") and not user.is_verified()
    return {"protocol": current_protocol(), "role": actor.role, "two_factor": two_factor, "second_factor_pending": pending}
