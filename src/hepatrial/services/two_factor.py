"""Two-factor sign-in: a password, then a six-digit code from an authenticator app
(TOTP, RFC 6238), for the roles that sign and administer (investigators and
administrators by default; settings.HEPATRIAL_TWO_FACTOR_ROLES).

The device and its checks are django-otp's TOTPDevice: a 160-bit key, 30-second
steps, one step of clock drift either way, a code used once only, and a growing
wait after each wrong code. What is ours: who needs it, enrolment (the key shown
once as a QR code, confirmed by a first code), the audit trail of every attempt,
wrong codes counted towards the account lockout with wrong passwords
(services.accounts.locked_out_until), and an administrator's audited reset.

A session that passed the password but not the code is signed in by half: the
web layer (trial.middleware.TwoFactorMiddleware) lets it reach only the two-factor
pages and logging out, and the API refuses it (web.api.SessionWithCsrf).
"""

from __future__ import annotations

import base64
import io
from binascii import unhexlify

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from hepatrial.services.access import Actor
from hepatrial.services.accounts import administered_user, locked_out_until, record_access
from hepatrial.services.audit import record
from hepatrial.services.errors import AccountLockedOut, Invalid, NotAllowed

#: the name of each user's one authenticator device
DEVICE_NAME = "authenticator app"


def roles() -> frozenset[str]:
    return frozenset(getattr(settings, "HEPATRIAL_TWO_FACTOR_ROLES", ()))


def needs_two_factor(user) -> bool:
    """Whether ``user``'s role signs in with a second factor."""
    if not user.is_authenticated:
        return False
    profile = getattr(user, "staff", None)
    return profile is not None and profile.role in roles()


def device_of(user, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def is_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def start_enrolment(actor: Actor, pending_id: int | None = None) -> TOTPDevice:
    """A new device (a new key) waiting for its first code, for this sign-in only: the
    web layer keeps its id in the session and passes it back as ``pending_id``. Never a
    key another session was shown: one who had the password and opened this page must
    not hold the key its owner confirms later. Audited (the key never is)."""
    user = actor.user
    if is_enrolled(user):
        raise Invalid(_("Two-factor sign-in is already set up for %(user)s.") % {"user": user.get_username()})
    if pending_id is not None:
        pending = TOTPDevice.objects.filter(pk=pending_id, user=user, confirmed=False).first()
        if pending is not None:
            return pending
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    record(actor, "start_two_factor_setup", user, new={"device": device.name})
    return device


def key_text(device: TOTPDevice) -> str:
    """The key as an authenticator app takes it typed in: base32, in groups of four."""
    key = base64.b32encode(unhexlify(device.key)).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// address as a QR code: an SVG image in a data: URI (the
    content security policy allows images from data:, never inline markup)."""
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, border=2).save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _clean(code: str) -> str:
    code = "".join((code or "").split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        raise Invalid(_("Enter the six digits your authenticator app shows."), field="code")
    return code


def _locked_out(until) -> AccountLockedOut:
    return AccountLockedOut(
        _("Too many failed attempts: this account is locked until %(until)s UTC. Ask an administrator if it was not you.")
        % {"until": f"{until:%H:%M}"}, field="code")  # fmt: skip


def _refuse_if_locked_out(user) -> None:
    if (until := locked_out_until(user.get_username())) is not None:
        raise _locked_out(until)


#: django-otp doubles the wait after each wrong code in a row (1, 2, 4 ... seconds) without
#: a useful end (a hundred years): whoever has the password could keep the owner out for
#: days. The lockout already allows one guess per LOCKOUT_MINUTES after the fifth, so the
#: wait stops growing at 2 ** (THROTTLE_CAP - 1) seconds.
THROTTLE_CAP = 5


def _wait_message(device: TOTPDevice) -> str | None:
    allowed, why = device.verify_is_allowed()
    if allowed:
        return None
    if why and why.get("locked_until"):
        return _("Too many wrong codes in a row: wait until %(at)s UTC, then enter the next code.") % {
            "at": f"{why['locked_until']:%Y-%m-%d %H:%M:%S}"}  # fmt: skip
    return _("Codes are not accepted for this device now.")


def _refused(actor: Actor, action: str, detail: str) -> None:
    record_access(action, username=actor.user.get_username(), user=actor.user, route=actor.route, detail=detail)


def _verified(actor: Actor, device: TOTPDevice, code: str, doing: str, then=None) -> TOTPDevice:
    """Check ``code`` against ``device`` under its row lock and, if right, run ``then(device)``
    in the same transaction (a refusal there takes back the code's use too). A wrong code
    is audited in a transaction of its own, kept whatever follows, and refused."""
    username = actor.user.get_username()
    code = _clean(code)
    if (until := locked_out_until(username)) is not None:
        _refused(actor, "second_factor_locked_out", f"code refused ({doing}): locked until {until:%Y-%m-%d %H:%M} UTC")
        raise _locked_out(until)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update(no_key=True).get(pk=device.pk)
        if device.throttling_failure_count > THROTTLE_CAP:
            device.throttling_failure_count = THROTTLE_CAP
        wait = _wait_message(device)
        verified = wait is None and device.verify_token(code)  # saves last_t (a code is used once), drift, the wait
        if verified and then is not None:
            then(device)
    if wait is not None:
        _refused(actor, "second_factor_throttled", f"code not checked ({doing}): {wait}")
        raise NotAllowed(wait, field="code")
    if not verified:
        _refused(actor, "second_factor_failed", f"wrong authenticator code ({doing})")
        _refuse_if_locked_out(actor.user)
        raise NotAllowed(_("The code is not right (or was already used): enter the next one your app shows."), field="code")
    return device


def do_enrol(actor: Actor, device: TOTPDevice, code: str) -> TOTPDevice:
    """Confirm the user's new device with its first code, in the transaction that checks
    the code; the user's other devices waiting for a first code (other sessions') go.
    Audited. Completes the sign-in."""
    if device.user_id != actor.user.pk or device.confirmed:
        raise NotAllowed(_("This is not your device waiting for its first code."))

    def confirm(device: TOTPDevice) -> None:
        if is_enrolled(actor.user):  # another session of this user confirmed one first
            raise Invalid(_("Two-factor sign-in is already set up for %(user)s.") % {"user": actor.user.get_username()})
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor.user, confirmed=False).exclude(pk=device.pk).delete()
        record(actor, "enrol_two_factor", actor.user, new={"device": device.name})

    return _verified(actor, device, code, "setting up", then=confirm)


def do_verify(actor: Actor, code: str) -> TOTPDevice:
    """The second step of signing in: ``code`` checked against the user's device."""
    device = device_of(actor.user)
    if device is None:
        raise Invalid(_("Two-factor sign-in is not set up for %(user)s.") % {"user": actor.user.get_username()})
    device = _verified(actor, device, code, "signing in")
    record_access("login_second_factor", username=actor.user.get_username(), user=actor.user, route=actor.route)
    return device


@transaction.atomic
def do_reset_two_factor(actor: Actor, username: str, reason: str) -> int:
    """Remove ``username``'s authenticator (a lost phone): an administrator's, with the
    reason; audited. The user sets up a new one at the next sign-in. Returns how many
    devices were removed."""
    user = administered_user(actor, username, reason, _("Only an administrator resets two-factor sign-in."))
    devices = list(TOTPDevice.objects.select_for_update(no_key=True).filter(user=user))
    if not devices:
        raise Invalid(_("%(u)s has no authenticator to reset.") % {"u": username}, field="username")
    record(actor, "reset_two_factor", user, old={"devices": [d.name + ("" if d.confirmed else " (not confirmed)") for d in devices]},
           reason=reason.strip())  # fmt: skip
    TOTPDevice.objects.filter(pk__in=[d.pk for d in devices]).delete()
    return len(devices)
