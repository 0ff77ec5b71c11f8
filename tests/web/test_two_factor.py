"""Two-factor sign-in (issue #8, item 7): investigators and administrators give a code
from an authenticator app after the password (services.two_factor, django-otp's TOTP).

The codes here are made the way an authenticator app makes them, by tests/authenticator.py
(written from RFC 6238 and RFC 4226, checked below against RFC 6238's own test values),
from the key the enrolment page shows: not with the server's code."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
import time_machine
from authenticator import rfc6238, wrong_code
from click.testing import CliRunner
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from personas import PASSWORD, SignedInClient

from hepatrial.services.accounts import (
    LOCKOUT_FAILURES,
    SYSTEM,
    do_change_role,
    do_create_staff,
    locked_out_until,
)
from hepatrial.services.errors import Invalid, NotAllowed
from hepatrial.services.two_factor import do_reset_two_factor, needs_two_factor
from hepatrial.web.trial.models import AuditEvent, Role

#: RFC 6238 Appendix B, the SHA-1 column: (Unix time, 8-digit TOTP) for the ASCII key
#: "12345678901234567890".
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("at", "expected"), RFC6238_SHA1)
def test_the_codes_are_rfc_6238s(at, expected):
    """Source: RFC 6238 (TOTP), Appendix B, test vectors for HMAC-SHA1. Both our
    authenticator stand-in and django-otp's TOTP, which the server checks codes with."""
    key = b"12345678901234567890"
    assert rfc6238(key, at, digits=8) == expected
    server = TOTP(key, step=30, t0=0, digits=8)
    server.time = at
    assert f"{server.token():08d}" == expected


def _log_in(client: Client, username: str, next_path: str = ""):
    return client.post("/login/" + (f"?next={next_path}" if next_path else ""), {"username": username, "password": PASSWORD})


def _key_on_page(html: str) -> bytes:
    """The key as the enrolment page prints it (base32 in groups of four), as a person types it into an app."""
    text = re.search(r'<code class="totp-key">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


@pytest.fixture
def newcomer(personas):
    """An investigator at site A who has never signed in (no authenticator yet)."""
    return do_create_staff(SYSTEM, "investigator_new", Role.INVESTIGATOR, [personas.site_a], PASSWORD)[0]


def test_an_investigator_sets_up_an_authenticator_at_the_first_sign_in(newcomer):
    client = Client()
    after_password = _log_in(client, "investigator_new", "/queries/")
    assert after_password.status_code == 302
    to_setup = client.get(after_password["Location"])  # /queries/ -> set up first
    assert to_setup.status_code == 302 and to_setup["Location"].startswith("/two-factor/?next=%2Fqueries%2F")
    page = client.get(to_setup["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'src="data:image/svg+xml;base64,' in html
    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html).group(1))
    assert svg.startswith(b"<?xml") and b"<svg" in svg and b"<path" in svg  # the QR code's modules, one path
    key = _key_on_page(html)
    assert len(key) == 20  # 160 bits (RFC 4226 section 4 asks for at least 128)
    assert _key_on_page(client.get("/two-factor/").content.decode()) == key  # opened again: the same key (one scan is enough)

    wrong = client.post("/two-factor/", {"code": _wrong_code(key), "next": "/queries/"})
    assert wrong.status_code == 403 and b"not right" in wrong.content
    assert not TOTPDevice.objects.get(user=newcomer).confirmed
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):  # after the one-second wait a wrong code brings
        done = client.post("/two-factor/", {"code": rfc6238(key, _now()), "next": "/queries/"})
    assert done.status_code == 302 and done["Location"] == "/queries/"
    assert client.get("/queries/").status_code == 200
    assert TOTPDevice.objects.get(user=newcomer).confirmed
    actions = list(AuditEvent.objects.filter(username="investigator_new").order_by("pk").values_list("action", flat=True))
    assert actions == ["login", "start_two_factor_setup", "second_factor_failed", "enrol_two_factor"]
    assert client.get("/two-factor/")["Cache-Control"].startswith("max-age=0, no-cache, no-store")  # never kept by a browser
    assert "key" not in str(AuditEvent.objects.get(action="enrol_two_factor").new)  # the key is never in the audit trail
    setup_now = client.get("/two-factor/")
    assert b"Two-factor sign-in is on" in setup_now.content and b"totp-key" not in setup_now.content


def _now() -> float:
    return timezone.now().timestamp()


def _wrong_code(key: bytes) -> str:
    return wrong_code(key, _now())


def _enrolled(client: Client, username: str) -> bytes:
    """Set up ``username``'s authenticator through the page; its key."""
    page = client.get("/two-factor/")
    key = _key_on_page(page.content.decode())
    assert client.post("/two-factor/", {"code": rfc6238(key, _now())}).status_code == 302
    client.post("/logout/")
    return key


def test_signing_in_takes_the_password_then_a_code_used_once(newcomer):
    first = Client()
    _log_in(first, "investigator_new")
    key = _enrolled(first, "investigator_new")
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):  # the app's next code
        client = Client()
        after_password = _log_in(client, "investigator_new", "/safety/")
        half = client.get(after_password["Location"])
        assert half.status_code == 302 and half["Location"] == "/login/code/?next=%2Fsafety%2F"
        page = client.get(half["Location"])
        assert b'autocomplete="one-time-code"' in page.content and b"<nav>" not in page.content  # no menu yet
        assert client.get("/api/me").status_code == 401  # nor the API
        before = client.session.session_key
        code = rfc6238(key, _now())
        signed = client.post("/login/code/", {"code": code, "next": "/safety/"})
        assert signed.status_code == 302 and signed["Location"] == "/safety/"
        assert client.session.session_key != before  # a new session key once both factors are given
        assert client.get("/safety/").status_code == 200 and client.get("/api/me").status_code == 200
        # the same code again, from another browser (someone who saw it): refused
        other = Client()
        _log_in(other, "investigator_new")
        replay = other.post("/login/code/", {"code": code})
        assert replay.status_code == 403 and b"already used" in replay.content
    events = AuditEvent.objects.filter(username="investigator_new").order_by("pk").values_list("action", flat=True)
    assert list(events)[-4:] == ["login", "login_second_factor", "login", "second_factor_failed"]


def test_a_code_is_checked_for_the_right_shape_and_next_never_leaves_the_site(personas):
    client = Client()
    _log_in(client, "investigator_a")
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        page = client.post("/login/code/", {"code": bad})
        assert page.status_code == 422 and b"six digits" in page.content, bad
    assert not AuditEvent.objects.filter(action="second_factor_failed").exists()  # not a guess: not counted
    from personas import authenticator_code

    signed = client.post("/login/code/", {"code": authenticator_code(personas.users["investigator_a"]), "next": "https://evil.example/"})
    assert signed.status_code == 302 and signed["Location"] == "/"


def test_wrong_codes_count_towards_the_lockout_and_a_password_does_not_start_the_count_again(personas):
    investigator = personas.users["investigator_a"]
    device = TOTPDevice.objects.get(user=investigator)
    key = device.bin_key
    start = timezone.now()
    wrong = _wrong_code(key)
    client = Client()
    _log_in(client, "investigator_a")
    # django-otp's own throttle: after a wrong code the next is not even checked for a while
    assert client.post("/login/code/", {"code": wrong}).status_code == 403
    throttled = client.post("/login/code/", {"code": rfc6238(key, _now())})
    assert throttled.status_code == 403 and b"wait until" in throttled.content
    assert AuditEvent.objects.filter(action="second_factor_failed").count() == 1  # a throttled try is not a guess
    for i in range(1, LOCKOUT_FAILURES):
        with time_machine.travel(start + timedelta(seconds=20 * i)):  # past each wait (1, 2, 4, 8 s)
            if i == 3:  # logging in again with the right password does not wipe the wrong codes
                client.post("/logout/")
                assert _log_in(client, "investigator_a").status_code == 302
            answer = client.post("/login/code/", {"code": wrong})
    with time_machine.travel(start + timedelta(seconds=20 * LOCKOUT_FAILURES)):
        assert answer.status_code == 302 and answer["Location"] == "/login/"  # the fifth: locked out, signed out
        assert "_auth_user_id" not in client.session
        assert locked_out_until("investigator_a") is not None
        refused = _log_in(Client(), "investigator_a")
        assert refused.status_code == 200 and b"Too many failed attempts" in refused.content
    assert AuditEvent.objects.filter(action="second_factor_failed").count() == LOCKOUT_FAILURES


def test_an_administrator_resets_a_lost_authenticator(personas):
    from hepatrial.cli import main

    runner = CliRunner()
    refused = runner.invoke(main, ["staff", "reset-two-factor", "investigator_a", "--reason", "lost phone", "--as", "coordinator_a"])
    assert refused.exit_code != 0 and "not an administrator" in refused.output
    done = runner.invoke(main, ["staff", "reset-two-factor", "investigator_a", "--reason", "lost phone, identity checked in person",
                                "--as", "admin"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert not TOTPDevice.objects.filter(user=personas.users["investigator_a"]).exists()
    event = AuditEvent.objects.get(action="reset_two_factor")
    assert event.username == "admin" and event.old == {"devices": ["authenticator app"]} and "lost phone" in event.reason
    again = runner.invoke(main, ["staff", "reset-two-factor", "investigator_a", "--reason", "x", "--as", "admin"])
    assert again.exit_code != 0 and "no authenticator" in again.output
    with pytest.raises(Invalid):
        do_reset_two_factor(personas.actor("admin"), "investigator_a", " ")
    with pytest.raises(NotAllowed):
        do_reset_two_factor(personas.actor("data_manager"), "admin", "because")
    client = Client()  # the next sign-in sets up a new one
    assert client.get(_log_in(client, "investigator_a")["Location"])["Location"].startswith("/two-factor/")


def test_who_gives_a_second_factor_follows_the_role(personas):
    """Coordinators sign in with the password; a coordinator made an investigator sets up
    an authenticator at the next page they open."""
    client = Client()
    assert _log_in(client, "coordinator_a")["Location"] == "/"
    assert client.get("/").status_code == 200
    assert b"signs in with the password alone" in client.get("/two-factor/").content
    assert [name for name, user in personas.users.items() if needs_two_factor(user)] == ["investigator_a", "admin"]
    do_change_role(personas.actor("admin"), "coordinator_a", Role.INVESTIGATOR, [personas.site_a], "became sub-investigator")
    moved = client.get("/")
    assert moved.status_code == 302 and moved["Location"].startswith("/two-factor/")


def test_the_roles_setting_is_checked(monkeypatch):
    from hepatrial.web import settings

    monkeypatch.setenv("HEPATRIAL_TWO_FACTOR_ROLES", "investigator, admin,data_manager")
    assert settings._two_factor_roles() == ("investigator", "admin", "data_manager")
    monkeypatch.setenv("HEPATRIAL_TWO_FACTOR_ROLES", "investigator,principal")
    with pytest.raises(ValueError, match="HEPATRIAL_TWO_FACTOR_ROLES: principal is not a role"):
        settings._two_factor_roles()


def test_the_test_client_gives_the_second_factor_only_where_a_code_exists(personas):
    """tests/personas.SignedInClient: its logins are those of a user who gave the code."""
    for name in ("admin", "coordinator_a"):
        signed = SignedInClient()
        signed.force_login(personas.users[name])
        assert signed.get("/").status_code == 200
        plain = Client()
        plain.force_login(personas.users[name])
        assert plain.get("/").status_code == (302 if name == "admin" else 200)
    TOTPDevice.objects.filter(user=personas.users["admin"]).delete()
    with pytest.raises(TOTPDevice.DoesNotExist):  # no authenticator: no way round the second factor
        SignedInClient().force_login(personas.users["admin"])


def test_a_key_shown_to_one_session_is_never_the_one_another_confirms(newcomer):
    """Whoever has the password and opens the set-up page (before the owner's first sign-in,
    or after a reset) must not hold the key the owner then confirms."""
    intruder = Client()
    _log_in(intruder, "investigator_new")
    page = intruder.get("/two-factor/")
    assert page["Cache-Control"].startswith("max-age=0, no-cache, no-store")
    seen = _key_on_page(page.content.decode())
    intruder.post("/logout/")
    owner = Client()
    _log_in(owner, "investigator_new")
    key = _key_on_page(owner.get("/two-factor/").content.decode())
    assert key != seen
    assert _key_on_page(owner.get("/two-factor/").content.decode()) == key  # the owner's own page again: the same key
    assert owner.post("/two-factor/", {"code": rfc6238(key, _now())}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=newcomer).values_list("confirmed", flat=True)) == [True]  # the other key is gone
    assert TOTPDevice.objects.get(user=newcomer).bin_key == key
    assert AuditEvent.objects.filter(username="investigator_new", action="start_two_factor_setup").count() == 2


def test_a_stale_set_up_form_is_refused_without_counting_a_guess(newcomer):
    client = Client()
    _log_in(client, "investigator_new")
    stale = client.post("/two-factor/", {"code": "123456"})  # no page was opened in this session
    assert stale.status_code == 409 and b"expired" in stale.content
    assert not AuditEvent.objects.filter(action="second_factor_failed").exists()
    key = _key_on_page(stale.content.decode())  # the new code is on the page
    assert client.post("/two-factor/", {"code": rfc6238(key, _now())}).status_code == 302


def test_setting_up_and_resetting_work_while_the_database_is_locked(personas, newcomer):
    from hepatrial.services.locks import do_lock

    do_lock(personas.actor("data_manager"), "database", reason="interim analysis freeze")
    client = Client()
    _log_in(client, "investigator_new")
    key = _key_on_page(client.get("/two-factor/").content.decode())
    assert client.post("/two-factor/", {"code": rfc6238(key, _now())}).status_code == 302
    assert client.get("/").status_code == 200
    assert do_reset_two_factor(personas.actor("admin"), "investigator_new", "new phone") == 1


def test_an_unconfirmed_device_signs_nobody_in_and_a_reset_ends_the_second_factor_of_open_sessions(personas, newcomer):
    client = Client()
    _log_in(client, "investigator_new")
    key = _key_on_page(client.get("/two-factor/").content.decode())
    code_page = client.post("/login/code/", {"code": rfc6238(key, _now())})  # not set up yet: no code to check
    assert code_page.status_code == 302 and code_page["Location"] == "/two-factor/"
    assert not TOTPDevice.objects.get(user=newcomer).confirmed
    signed = SignedInClient()  # the investigator, both factors given
    signed.force_login(personas.users["investigator_a"])
    assert signed.get("/").status_code == 200 and signed.get("/api/me").status_code == 200
    do_reset_two_factor(personas.actor("admin"), "investigator_a", "lost phone")
    after = signed.get("/")
    assert after.status_code == 302 and after["Location"].startswith("/two-factor/")
    assert signed.get("/api/me").status_code == 401


def test_a_right_password_restarts_the_count_of_wrong_passwords_but_not_of_wrong_codes(personas):
    """Wrong passwords long ago do not lock a coordinator who became an investigator at the
    first wrong code; wrong codes are counted since the last code accepted."""
    coordinator = Client()
    for _ in range(LOCKOUT_FAILURES - 1):
        Client().post("/login/", {"username": "coordinator_a", "password": "wrong"})
    assert _log_in(coordinator, "coordinator_a").status_code == 302  # the right password: the count starts again
    do_change_role(personas.actor("admin"), "coordinator_a", Role.INVESTIGATOR, [personas.site_a], "became sub-investigator")
    Client().post("/login/", {"username": "coordinator_a", "password": "wrong"})
    assert locked_out_until("coordinator_a") is None


def test_lifting_a_lockout_also_ends_the_wait_after_wrong_codes(personas):
    from hepatrial.services.accounts import do_lift_lockout

    device = TOTPDevice.objects.get(user=personas.users["investigator_a"])
    device.throttling_failure_count, device.throttling_failure_timestamp = 30, timezone.now()  # a long run of wrong codes
    device.save()
    client = Client()
    _log_in(client, "investigator_a")
    from personas import authenticator_code

    waiting = client.post("/login/code/", {"code": authenticator_code(personas.users["investigator_a"])})
    assert waiting.status_code == 403 and b"wait until" in waiting.content
    assert AuditEvent.objects.filter(action="second_factor_throttled").count() == 1  # audited, not counted as a guess
    assert not AuditEvent.objects.filter(action="second_factor_failed").exists()
    # the wait stops growing at 16 s (services.two_factor.THROTTLE_CAP), whatever the run
    with time_machine.travel(timezone.now() + timedelta(seconds=17)):
        checked = client.post("/login/code/", {"code": _wrong_code(device.bin_key)})
        assert checked.status_code == 403 and b"not right" in checked.content
    device.refresh_from_db()
    device.throttling_failure_count, device.throttling_failure_timestamp = 30, timezone.now()
    device.save()
    do_lift_lockout(personas.actor("admin"), "investigator_a", "called the help desk")
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    signed = client.post("/login/code/", {"code": authenticator_code(personas.users["investigator_a"])})
    assert signed.status_code == 302 and signed["Location"] == "/"


def test_codes_refused_during_a_lockout_are_audited(personas):
    client = Client()  # a session from before the lockout, half signed in
    client.force_login(personas.users["investigator_a"])
    for _ in range(LOCKOUT_FAILURES):
        Client().post("/login/", {"username": "investigator_a", "password": "wrong"})
    assert locked_out_until("investigator_a") is not None
    from personas import authenticator_code

    refused = client.post("/login/code/", {"code": authenticator_code(personas.users["investigator_a"])})
    assert refused.status_code == 302 and refused["Location"] == "/login/"
    assert AuditEvent.objects.filter(action="second_factor_locked_out", username="investigator_a").count() == 1
