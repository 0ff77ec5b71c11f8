"""Sites and staff accounts; the demo site a new database starts with."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor
from hepatrial.services.audit import record, record_unattached
from hepatrial.services.errors import Invalid, NotAllowed
from hepatrial.web.trial.models import ApiToken, Role, Site, StaffProfile

SYSTEM = Actor(AnonymousUser(), route="system")

DEMO_SITE = {"code": "SYSU3", "name": "Third Affiliated Hospital of Sun Yat-sen University", "time_zone": "Asia/Shanghai"}
DEMO_USERS = [
    ("coordinator", Role.COORDINATOR),
    ("investigator", Role.INVESTIGATOR),
    ("datamanager", Role.DATA_MANAGER),
    ("monitor", Role.MONITOR),
    ("statistician", Role.STATISTICIAN),
    ("admin", Role.ADMIN),
    ("dsmb", Role.DSMB),
]


def _may_administer(actor: Actor) -> bool:
    return actor.route == "system" or actor.role == Role.ADMIN


@transaction.atomic
def do_create_site(actor: Actor, code: str, name: str, time_zone: str) -> Site:
    if not _may_administer(actor):
        raise NotAllowed(_("Only an administrator creates sites."))
    site = Site(code=code, name=name, time_zone=time_zone)
    try:
        site.full_clean()
    except ValidationError as err:
        raise Invalid(_("The site has errors."), errors=err.message_dict) from None
    site.save()
    record(actor, "create_site", site, new={"code": code, "name": name, "time_zone": time_zone}, site=site)
    return site


@transaction.atomic
def do_create_staff(
    actor: Actor, username: str, role: str, sites: list[Site], password: str | None = None
) -> tuple[object, str]:
    """Create a user with a role and sites; returns (user, password). A generated
    password is returned once and never stored in clear."""
    if not _may_administer(actor):
        raise NotAllowed(_("Only an administrator creates accounts."))
    if role not in Role.values:
        raise Invalid(_("Unknown role."), field="role")
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        raise Invalid(_("That user name is taken."), field="username")
    password = password or secrets.token_urlsafe(12)
    user = users(username=username)
    try:
        validate_password(password, user)
    except ValidationError as err:
        raise Invalid(_("The password is too weak."), errors={"password": list(err.messages)}) from None
    user.set_password(password)
    user.save()
    profile = StaffProfile.objects.create(user=user, role=role)
    profile.sites.set(sites)
    record(actor, "create_user", profile, new={"username": username, "role": role, "sites": [s.code for s in sites]})
    return user, password



@transaction.atomic
def do_change_role(actor: Actor, username: str, role: str, sites: list[Site], reason: str) -> StaffProfile:
    """Give ``username`` another role and set of sites (an administrator's, with the reason;
    the old and new role and sites are audited)."""
    if not _may_administer(actor):
        raise NotAllowed(_("Only an administrator changes roles."))
    if role not in Role.values:
        raise Invalid(_("Unknown role."), field="role")
    if not reason.strip():
        raise Invalid(_("Give the reason."), field="reason")
    profile = StaffProfile.objects.select_for_update(no_key=True).filter(user__username=username).select_related("user").first()
    if profile is None:
        raise Invalid(_("No staff user %(u)s.") % {"u": username}, field="username")
    old = {"role": profile.role, "sites": sorted(s.code for s in profile.sites.all())}
    profile.role = role
    profile.save(update_fields=["role"])
    profile.sites.set(sites)
    record(actor, "change_role", profile, old=old, new={"role": role, "sites": sorted(s.code for s in sites)},
           reason=reason.strip())  # fmt: skip
    return profile

def ensure_demo() -> list[tuple[str, str, str]] | None:
    """On a database with no site: the demo site and one user per role.

    Returns [(username, role, password)] when it created them (print once),
    None when the database already had a site.
    """
    if Site.objects.exists():
        return None
    with transaction.atomic():
        site = do_create_site(SYSTEM, **DEMO_SITE)
        created = []
        for username, role in DEMO_USERS:
            sites = [site] if role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR) else []
            _user, password = do_create_staff(SYSTEM, username, role, sites)
            created.append((username, role, password))
        from hepatrial.services.lab_safety import ensure_default_ranges

        ensure_default_ranges(site)  # CTCAE grades need the laboratory's ULN/LLN
    return created


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def do_create_token(actor: Actor, name: str) -> tuple[ApiToken, str]:
    """A personal API token for the acting user; the token text is returned once."""
    if not actor.user.is_authenticated or actor.profile is None:
        raise NotAllowed(_("Only staff accounts have API tokens."))
    if not name.strip():
        raise Invalid(_("Name the token (what it is for)."), field="name")
    token = "hpt_" + secrets.token_urlsafe(32)
    made = ApiToken.objects.create(
        user=actor.user, name=name.strip(), key_hash=_hash_token(token), prefix=token[:8], created_at=timezone.now()
    )
    record(actor, "create_token", made, new={"name": made.name, "prefix": made.prefix})
    return made, token


@transaction.atomic
def do_revoke_token(actor: Actor, token: ApiToken) -> ApiToken:
    if token.user_id != actor.user.pk and actor.role != Role.ADMIN:
        raise NotAllowed(_("Not your token."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save()
        record(actor, "revoke_token", token, new={"prefix": token.prefix})
    return token


#: ``last_used_at`` is written at most this often per token (not on every request:
#: a write per API call would double the writes of a read and queue behind
#: SQLite's single writer).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_for_token(token: str):
    """The user a token belongs to, or None (unknown or revoked), with its staff
    profile loaded (one query). Records its last use, to the minute."""
    found = (
        ApiToken.objects.select_related("user", "user__staff")
        .filter(key_hash=_hash_token(token), revoked_at__isnull=True)
        .first()
    )
    if found is None or not found.user.is_active:
        return None
    now = timezone.now()
    if found.last_used_at is None or found.last_used_at <= now - LAST_USED_RESOLUTION:
        # conditional: of concurrent requests with a stale value, one writes
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ApiToken.objects.filter(stale, pk=found.pk).update(last_used_at=now)
    return found.user


def record_access(action: str, *, username: str, user=None, route: str = "web", detail: str = "") -> None:
    """A login, logout, failed login or password change (21 CFR 11.10(d), 11.300(d)).

    Written in its own transaction: a failed login has no other write to join."""
    record_unattached(
        user=user if user is not None and user.is_authenticated else None,
        username=username[:150], route=route, action=action, model="User",
        object_id=str(user.pk) if user is not None and user.is_authenticated else "", reason=detail,
    )  # fmt: skip


#: Failed logins (and failed signature passwords) in a row after which a user is locked
#: out, and for how long after the last of them (21 CFR 11.300(d); NIST SP 800-63B 5.2.2
#: asks for a limit on failed attempts).
LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15
FAILED_ATTEMPTS = ("login_failed", "signature_failed")
#: wrong authenticator codes (services.two_factor)
FAILED_CODES = ("second_factor_failed",)


def locked_out_until(username: str):
    """When ``username``'s lockout ends (None if not locked out): LOCKOUT_FAILURES failed
    attempts in a row, the last of them less than LOCKOUT_MINUTES ago. Read from the audit
    trail, where every attempt already is.

    In a row: wrong passwords (at sign-in or signing) since the last right password, and
    wrong authenticator codes since the last code accepted (or authenticator set up). A
    right password alone does not wipe the wrong codes, or it would give unlimited guesses
    at the code. An administrator's lifting of the lockout starts both counts again."""
    from hepatrial.web.trial.models import AuditEvent

    name = username[:150]
    now = timezone.now()
    window = now - timedelta(minutes=LOCKOUT_MINUTES)

    def last(actions) -> int:
        return AuditEvent.objects.filter(username=name, action__in=actions).order_by("-pk").values_list("pk", flat=True).first() or 0

    lifted = 0
    user = get_user_model().objects.filter(username=username).first()
    if user is not None:  # an administrator lifted a lockout: the counts start again there
        lifted = (AuditEvent.objects.filter(action="lift_lockout", model="User", object_id=str(user.pk))
                  .order_by("-pk").values_list("pk", flat=True).first() or 0)  # fmt: skip
    since_password = max(lifted, last(("login",)))
    since_code = max(lifted, last(("login_second_factor", "enrol_two_factor")))
    def failed(actions, since: int) -> list:
        return list(AuditEvent.objects.filter(username=name, action__in=actions, pk__gt=since)
                    .order_by("-pk").values_list("at", flat=True)[:LOCKOUT_FAILURES])  # fmt: skip

    failures = sorted(failed(FAILED_ATTEMPTS, since_password) + failed(FAILED_CODES, since_code), reverse=True)
    if len(failures) < LOCKOUT_FAILURES or failures[0] < window:
        return None
    return failures[0] + timedelta(minutes=LOCKOUT_MINUTES)


def administered_user(actor: Actor, username: str, reason: str, refusal: str):
    """The user an administrator's account action (with its reason) is about; refused
    with ``refusal`` for anyone else, and for a blank reason or an unknown user."""
    if not _may_administer(actor):
        raise NotAllowed(refusal)
    if not reason.strip():
        raise Invalid(_("Give the reason."), field="reason")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise Invalid(_("No user %(u)s.") % {"u": username}, field="username")
    return user


@transaction.atomic
def do_lift_lockout(actor: Actor, username: str, reason: str) -> None:
    """End ``username``'s lockout now (an administrator's, with the reason; audited): the
    failed attempts before it no longer count."""
    user = administered_user(actor, username, reason, _("Only an administrator lifts a lockout."))
    record(actor, "lift_lockout", user, old={"locked_until": until.isoformat() if (until := locked_out_until(username)) else None},
           reason=reason.strip())  # fmt: skip
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for device in TOTPDevice.objects.select_for_update(no_key=True).filter(user=user, throttling_failure_count__gt=0):
        device.throttle_reset()  # and the wait a run of wrong codes brings (services.two_factor)
