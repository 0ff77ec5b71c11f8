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


@pytest.fixture
def personas(db) -> Personas:
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
