"""Personas for the web and service tests: two sites and one user per role.

Imported by tests/web/conftest.py and tests/services/conftest.py."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from hepatrial.services.access import Actor
from hepatrial.services.accounts import SYSTEM, do_create_site, do_create_staff
from hepatrial.services.two_factor import DEVICE_NAME, needs_two_factor
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
        "dsmb": (Role.DSMB, []),
    }
    users = {name: do_create_staff(SYSTEM, name, role, sites, PASSWORD)[0] for name, (role, sites) in spec.items()}
    for user in users.values():
        if needs_two_factor(user):  # the investigator and the administrator
            give_authenticator(user)
    return Personas(a, b, users)


def give_authenticator(user) -> TOTPDevice:
    """A confirmed authenticator for ``user``, as if set up on the two-factor page. Made
    directly, not with a first code: a code is accepted once, and tests sign in again
    and again within one 30-second step (tests/web/test_two_factor.py tests enrolment)."""
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)


def authenticator_code(user) -> str:
    """The code ``user``'s authenticator app would show, at the earliest step the server
    still accepts (a step after the last one used: one step ahead of the clock at most)."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    clock = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    clock.time = time.time()
    step = max(clock.t(), device.last_t + 1)
    clock.time = device.t0 + step * device.step
    return f"{clock.token():06d}"


def pass_second_factor(client, user) -> None:
    """Mark ``client``'s session as having given ``user``'s code (django-otp's session key),
    the second factor's counterpart of ``force_login``."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
    session.save()


class SignedInClient(Client):
    """Django's test client whose ``login`` and ``force_login`` also give the second
    factor for a user whose role needs one: pages then answer as they do for a user who
    entered the code. The two-factor tests use django.test.Client, which does not."""

    def _login(self, user, backend=None):
        super()._login(user, backend)
        if needs_two_factor(user):
            pass_second_factor(self, user)


@pytest.fixture
def client():
    """pytest-django's ``client``, signing in with both factors (SignedInClient)."""
    return SignedInClient()


@pytest.fixture
def personas(db) -> Personas:
    return make_personas()


def enroll(personas):
    """The eligible ACLF example screened, confirmed, consented and enrolled at site A."""
    from datetime import timedelta

    from builders import example
    from django.utils import timezone

    from hepatrial.services.enrollment import do_enroll, do_record_consent
    from hepatrial.services.screening import do_decide_eligibility, do_screen

    screening = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
    do_decide_eligibility(personas.actor("investigator_a"), screening, "confirmed")
    do_record_consent(personas.actor("coordinator_a"), screening, "1.0", timezone.now() - timedelta(minutes=5))
    return do_enroll(personas.actor("coordinator_a"), screening)


@pytest.fixture
def subject(personas):
    """SYSU3-001: the eligible ACLF example screened, confirmed, consented and enrolled at site A."""
    return enroll(personas)


#: How many days ago a randomized test subject's day 0 is (so its four doses are in the past).
DAY0_DAYS_AGO = 30


def import_allocation_list(personas, tmp_path, seed: int = 20261126):
    """The packaged protocol's allocation list for both sites, imported by the statistician."""
    from hepatrial.core.randomization import make_list, write_list
    from hepatrial.services.protocol import current_protocol
    from hepatrial.services.randomization import do_import_list

    protocol = current_protocol()
    path = tmp_path / "allocation.csv"
    write_list(make_list(protocol.randomization, sites=["SYSU3", "GZ2"], seed=seed, protocol_id=protocol.id), path)
    return do_import_list(personas.actor("statistician"), path)


def move_back(subject, days: int) -> None:
    """Move a randomized subject's day 0 and consents ``days`` back, randomized at
    00:01 site time that day: a test-only shortcut standing for that much of the
    trial going by."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from hepatrial.web.trial.models import AllocationSlot, Consent, Subject

    back = timedelta(days=days)
    day0 = Subject.objects.get(pk=subject.pk).anchor_date - back
    # randomized at 00:01 site time on the new day 0, so that doses that day (say 09:00) come after it
    # whatever the time of day the test runs
    randomized_at = datetime.combine(day0, time(0, 1), ZoneInfo(subject.site.time_zone))
    AllocationSlot.objects.filter(subject=subject).update(allocated_at=randomized_at)
    Subject.objects.filter(pk=subject.pk).update(anchor_date=day0)
    for consent in subject.screening.consents.all():  # consent came before randomization
        Consent.objects.filter(pk=consent.pk).update(obtained_at=min(consent.obtained_at - back, randomized_at - timedelta(minutes=5)))
    subject.refresh_from_db()


@pytest.fixture
def randomized(personas, subject, tmp_path):
    """SYSU3-001 randomized, then moved DAY0_DAYS_AGO days back (:func:`move_back`:
    the dosing visits must be in the past to be entered)."""
    from hepatrial.services.randomization import do_randomize

    import_allocation_list(personas, tmp_path)
    do_randomize(personas.actor("coordinator_a"), subject)
    move_back(subject, DAY0_DAYS_AGO)
    return subject


def dose_and_sample(personas, subject, days=(0, 7), bilirubin_rise_per_week: int = 100) -> None:
    """The arm's infusion (09:00) and a lab panel (07:00, bilirubin 250 umol/L rising by
    ``bilirubin_rise_per_week``) on each of ``days``, entered by the site's coordinator."""
    from datetime import timedelta

    from hepatrial.services.dosing import subject_arm
    from hepatrial.services.forms import do_save_form

    coordinator = personas.actor("coordinator_a")
    product, particles = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}[subject_arm(subject)]
    for d in days:
        on = subject.anchor_date + timedelta(days=d)
        visit_id = f"day_{d}"
        do_save_form(coordinator, subject, visit_id, "dosing", {"administered": "yes", "product": product, "lot_number": "L",
                     "particle_count": particles, "volume_ml": "100", "start_datetime": f"{on.isoformat()}T09:00+08:00"},
                     expected_version=None, visit_date=on)  # fmt: skip
        do_save_form(coordinator, subject, visit_id, "lab_panel", {"sample_datetime": f"{on.isoformat()}T07:00+08:00",
                     "total_bilirubin": str(250 + bilirubin_rise_per_week * d // 7), "inr": "2.0", "creatinine": "90"},
                     expected_version=None, visit_date=on)  # fmt: skip
