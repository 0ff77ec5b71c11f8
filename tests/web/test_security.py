"""Authentication and the browser's protections (issue #8): security headers and a
Content-Security-Policy on every page, HttpOnly cookies, CSRF on forms, lockout after
repeated failed attempts (logins and signature passwords), idle-session expiry as a
setting, role changes audited, and Django's deployment check clean in production mode."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from click.testing import CliRunner
from django.test import Client
from django.utils import timezone
from personas import PASSWORD, SignedInClient

from hepatrial.services.accounts import (
    LOCKOUT_FAILURES,
    LOCKOUT_MINUTES,
    do_change_role,
    locked_out_until,
)
from hepatrial.services.errors import Invalid, NotAllowed
from hepatrial.services.signatures import do_sign
from hepatrial.web.trial.models import AuditEvent, Role


def test_every_page_has_the_security_headers(personas):
    client = Client()
    for path in ("/login/", "/api/openapi.json"):
        response = client.get(path)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin" and "camera=()" in response["Permissions-Policy"]
    # the API's documentation page (Swagger UI) also gets the styles its script writes
    assert "style-src 'self' 'unsafe-inline'" in client.get("/api/docs")["Content-Security-Policy"]


def test_cookies_are_httponly_and_forms_need_the_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    assert page.cookies["csrftoken"]["httponly"]
    refused = client.post("/login/", {"username": "coordinator_a", "password": PASSWORD})
    assert refused.status_code == 403  # no CSRF token
    token = page.cookies["csrftoken"].value
    logged_in = client.post("/login/", {"username": "coordinator_a", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["httponly"] and logged_in.cookies["sessionid"]["max-age"] == 30 * 60


def test_an_idle_session_ends_and_reading_does_not_write_the_session(personas):
    from django.contrib.sessions.models import Session

    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert client.post("/login/", {"username": "coordinator_a", "password": PASSWORD}).status_code == 302
        expires = Session.objects.get().expire_date
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert client.get("/").status_code == 200
        assert Session.objects.get().expire_date == expires  # a page read within the minute: no write
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        assert client.get("/").status_code == 200  # active: the session goes on
        assert Session.objects.get().expire_date > expires
    with time_machine.travel(start + timedelta(minutes=20 + 31), tick=False):
        assert client.get("/").status_code == 302  # idle for 31 minutes: logged out


def test_repeated_failed_logins_lock_the_account_for_a_while(personas):
    client = Client()
    for _ in range(LOCKOUT_FAILURES):
        assert client.post("/login/", {"username": "coordinator_a", "password": "wrong"}).status_code == 200
    refused = client.post("/login/", {"username": "coordinator_a", "password": PASSWORD})  # the right password, too late
    assert refused.status_code == 200 and b"Too many failed attempts" in refused.content
    assert AuditEvent.objects.filter(action="login_locked_out", username="coordinator_a").exists()
    assert locked_out_until("investigator_a") is None  # others are not affected
    with time_machine.travel(timezone.now() + timedelta(minutes=LOCKOUT_MINUTES, seconds=1)):
        assert Client().post("/login/", {"username": "coordinator_a", "password": PASSWORD}).status_code == 302
    # a successful login starts the count again
    client.post("/login/", {"username": "coordinator_a", "password": "wrong"})
    assert locked_out_until("coordinator_a") is None


def test_wrong_signature_passwords_count_and_lock_signing_too(personas, subject):
    from hepatrial.services.forms import do_save_form

    do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel",
                 {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": "250", "inr": "1.9"},
                 expected_version=None, visit_date=subject.anchor_date)  # fmt: skip
    investigator = personas.actor("investigator_a")
    for _ in range(LOCKOUT_FAILURES):
        with pytest.raises(NotAllowed, match="password is not right"):
            do_sign(investigator, subject, visit_id="day_0", meaning="approval", password="guess")
    with pytest.raises(NotAllowed, match="Too many failed attempts"):
        do_sign(investigator, subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    assert b"Too many failed attempts" in Client().post("/login/", {"username": "investigator_a", "password": PASSWORD}).content


def test_idle_expiry_is_a_setting_with_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env.update({"HEPATRIAL_HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "hepatrial.web.settings"})
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"
    run = lambda minutes: subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code],  # noqa: E731
                                         env={**env, "HEPATRIAL_SESSION_IDLE_MINUTES": minutes}, capture_output=True, text=True)  # fmt: skip
    assert run("15").stdout.strip() == "900"
    bad = run("0")
    assert bad.returncode != 0 and "HEPATRIAL_SESSION_IDLE_MINUTES: a whole number of minutes from 1 to 1440" in bad.stderr


def test_role_changes_are_audited_with_the_reason(personas):
    admin = personas.actor("admin")
    with pytest.raises(NotAllowed):
        do_change_role(personas.actor("data_manager"), "monitor_a", Role.DATA_MANAGER, [], "promotion")
    with pytest.raises(Invalid):
        do_change_role(admin, "monitor_a", Role.DATA_MANAGER, [], " ")
    do_change_role(admin, "monitor_a", Role.COORDINATOR, [personas.site_b], "moved to GZ2")
    event = AuditEvent.objects.get(action="change_role")
    assert event.old == {"role": "monitor", "sites": ["SYSU3"]} and event.new == {"role": "coordinator", "sites": ["GZ2"]}
    assert (event.username, event.reason) == ("admin", "moved to GZ2")


def test_the_staff_commands(personas):
    from hepatrial.cli import main

    added = CliRunner().invoke(main, ["staff", "add", "nurse_li", "coordinator", "--site", "SYSU3", "--as", "admin"])
    assert added.exit_code == 0, added.output
    assert AuditEvent.objects.filter(action="create_user", username="admin").exists()
    changed = CliRunner().invoke(main, ["staff", "role", "nurse_li", "investigator", "--site", "SYSU3", "--as", "admin",
                                        "--reason", "sub-investigator delegation log 2026-11"])  # fmt: skip
    assert changed.exit_code == 0 and "now investigator" in changed.output
    refused = CliRunner().invoke(main, ["staff", "role", "nurse_li", "monitor", "--site", "NOPE", "--as", "admin", "--reason", "x"])
    assert refused.exit_code == 2 and "no site 'NOPE'" in refused.output
    not_admin = CliRunner().invoke(main, ["staff", "add", "x_user", "monitor", "--as", "coordinator_a"])
    assert not_admin.exit_code == 2 and "only an administrator manages accounts" in not_admin.output


def test_the_deployment_check_is_clean_in_production_mode(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env.update({"HEPATRIAL_HOME": str(tmp_path), "HEPATRIAL_ALLOWED_HOSTS": "trial.example.org",
                "HEPATRIAL_SECRET_KEY": secrets.token_urlsafe(50)})  # fmt: skip
    check = [sys.executable, "-m", "hepatrial.cli", "manage", "check", "--deploy", "--fail-level", "WARNING"]
    production = subprocess.run(check, env={**env, "HEPATRIAL_HTTPS": "1"}, capture_output=True, text=True)
    assert production.returncode == 0, production.stdout + production.stderr
    assert "no issues" in production.stdout
    plain = subprocess.run(check, env=env, capture_output=True, text=True)  # plain HTTP (the demo): warned
    assert plain.returncode != 0 and "SESSION_COOKIE_SECURE" in plain.stdout + plain.stderr


def test_an_administrator_lifts_a_lockout_and_the_password_change_form_counts_guesses(personas):
    from hepatrial.cli import main

    signed_in = SignedInClient()
    signed_in.force_login(personas.users["investigator_a"])
    for _ in range(LOCKOUT_FAILURES):  # guessing the old password on the password-change form
        page = signed_in.post("/password/", {"old_password": "guess", "new_password1": "x" * 20, "new_password2": "x" * 20})
        assert page.status_code == 200
    refused = signed_in.post("/password/", {"old_password": PASSWORD, "new_password1": "n" * 20, "new_password2": "n" * 20})
    assert refused.status_code == 403 and b"Too many failed attempts" in refused.content
    assert locked_out_until("investigator_a") is not None
    lifted = CliRunner().invoke(main, ["staff", "unlock", "investigator_a", "--reason", "called the help desk, identity checked",
                                       "--as", "admin"])  # fmt: skip
    assert lifted.exit_code == 0, lifted.output
    assert locked_out_until("investigator_a") is None
    event = AuditEvent.objects.get(action="lift_lockout")
    assert event.username == "admin" and event.old["locked_until"] and "help desk" in event.reason
    assert Client().post("/login/", {"username": "investigator_a", "password": PASSWORD}).status_code == 302
