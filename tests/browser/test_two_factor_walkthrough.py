"""Two-factor sign-in in Debian's Chromium (issue #8): a new investigator signs in with
the password and sets up an authenticator app from the page. The QR code on the screen
is read back as a phone's camera would read it; the key is typed in as text. They land
where they were going, sign out, and sign in again with the password and the app's
next code. Screenshots go to a temporary folder (printed), or to HEPATRIAL_SCREENSHOTS."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
import time_machine
import zxingcpp
from authenticator import rfc6238, wrong_code
from django.utils import timezone
from PIL import Image
from test_walkthrough import Walk

from hepatrial.services.accounts import SYSTEM, do_create_staff
from hepatrial.web.trial.models import AuditEvent, Role


@pytest.mark.django_db(transaction=True)
def test_an_investigator_sets_up_two_factor_sign_in(chromium_page, live_server, personas, audit_rows_removable):
    from personas import PASSWORD

    do_create_staff(SYSTEM, "investigator_new", Role.INVESTIGATOR, [personas.site_a], PASSWORD)
    walk = Walk(chromium_page, live_server.url)
    page = walk.page
    print(f"\nscreenshots: {walk.shots}")
    walk.go("/queries/")  # a bookmarked page: first the login form
    page.fill("#id_username", "investigator_new")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("img.qr")
    assert "/two-factor/" in page.url and page.locator("header nav").count() == 0  # no menu before the code
    assert page.eval_on_selector("img.qr", "img => img.complete && img.naturalWidth > 0")  # the QR code is drawn
    walk.shot("two-factor-setup")
    typed = page.inner_text("code.totp-key").replace(" ", "")
    # what a phone's camera reads from the code on the screen: the same key, for this user
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator("img.qr").screenshot())))
    assert [r.text for r in scanned] == [f"otpauth://totp/hepatrial%3Ainvestigator_new?secret={typed}"
                                         "&algorithm=SHA1&digits=6&period=30&issuer=hepatrial"]  # fmt: skip
    key = base64.b32decode(typed + "=" * (-len(typed) % 8))
    page.fill("#id_code", rfc6238(key, timezone.now().timestamp()))
    page.click("main button[type=submit]")
    page.wait_for_selector("header nav")
    assert page.url.endswith("/queries/") and "Two-factor sign-in is set up" in page.inner_text("main")
    page.click("header form button")  # log out

    with time_machine.travel(timezone.now() + timedelta(seconds=30)):  # the server's clock: the app's next code
        walk.go("/login/")
        page.fill("#id_username", "investigator_new")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_selector("#id_code")
        assert "/login/code/" in page.url
        walk.shot("two-factor-code")
        page.fill("#id_code", wrong_code(key, timezone.now().timestamp()))
        page.click("main button[type=submit]")
        assert "not right" in page.inner_text("main")
    with time_machine.travel(timezone.now() + timedelta(seconds=32)):  # past the wait a wrong code brings
        page.fill("#id_code", rfc6238(key, timezone.now().timestamp()))
        page.click("main button[type=submit]")
        page.wait_for_selector("header nav")
    walk.shot("two-factor-home")
    actions = list(AuditEvent.objects.filter(username="investigator_new").order_by("pk").values_list("action", flat=True))
    assert actions == ["login", "start_two_factor_setup", "enrol_two_factor", "logout", "login", "second_factor_failed",
                       "login_second_factor"]  # fmt: skip
