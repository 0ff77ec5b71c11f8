"""System checks run at start-up (``hepatrial serve`` runs the database ones)."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import DatabaseError


@register(Tags.database)
def allocation_list_intact(app_configs, databases=None, **kwargs):
    """The imported allocation list still matches the digest recorded at import."""
    if not databases or "default" not in databases:
        return []
    from hepatrial.services.protocol import current_protocol
    from hepatrial.services.randomization import verify_list
    from hepatrial.web.trial.models import AllocationList

    try:
        if not AllocationList.objects.filter(protocol_id=current_protocol().id).exists():
            return []  # nothing imported yet: nothing to verify
        problems = verify_list()
    except DatabaseError:  # not migrated yet: migrate runs the checks before it creates the tables
        return []
    return [Error(problem, hint="Compare with the list file: hepatrial randomization verify FILE", id="hepatrial.E001")
            for problem in problems]  # fmt: skip
