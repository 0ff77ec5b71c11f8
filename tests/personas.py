"""Personas for the web and service tests: two sites and one user per role.

Imported by tests/web/conftest.py and tests/services/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hepatrial.services.access import Actor
from hepatrial.services.accounts import SYSTEM, do_create_site, do_create_staff
from hepatrial.web.trial.models import Role

PASSWORD = "correct-horse-battery-staple-42"


@dataclass
class Personas:
    site_a: object
    site_b: object
    users: dict

    def actor(self, name: str, route: str = "web") -> Actor:
        return Actor(self.users[name], route=route)


def make_personas() -> Personas:
    """Two sites and one user per role, created through the audited actions."""
    a = do_create_site(SYSTEM, "SYSU3", "Third Affiliated Hospital of Sun Yat-sen University", "Asia/Shanghai")
    b = do_create_site(SYSTEM, "GZ2", "Another hospital", "Asia/Shanghai")
    spec = {
        "coordinator_a": (Role.COORDINATOR, [a]),
        "coordinator_b": (Role.COORDINATOR, [b]),
        "investigator_a": (Role.INVESTIGATOR, [a]),
        "monitor_a": (Role.MONITOR, [a]),
        "data_manager": (Role.DATA_MANAGER, []),
        "statistician": (Role.STATISTICIAN, []),
        "admin": (Role.ADMIN, []),
    }
    users = {name: do_create_staff(SYSTEM, name, role, sites, PASSWORD)[0] for name, (role, sites) in spec.items()}
    return Personas(a, b, users)


@pytest.fixture
def personas(db) -> Personas:
    return make_personas()


@pytest.fixture
def subject(personas):
    """SYSU3-001: the eligible ACLF example screened, confirmed, consented and enrolled at site A."""
    from datetime import timedelta

    from builders import example
    from django.utils import timezone

    from hepatrial.services.enrollment import do_enroll, do_record_consent
    from hepatrial.services.screening import do_decide_eligibility, do_screen

    screening = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
    do_decide_eligibility(personas.actor("investigator_a"), screening, "confirmed")
    do_record_consent(personas.actor("coordinator_a"), screening, "1.0", timezone.now() - timedelta(minutes=5))
    return do_enroll(personas.actor("coordinator_a"), screening)
