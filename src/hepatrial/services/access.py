"""Who may do what, where. One place for every role and site rule."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from hepatrial.services.errors import NotAllowed
from hepatrial.web.trial.models import ALL_SITE_ROLES, Role, Site, StaffProfile

#: action -> roles allowed (on a site they can see)
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(Role),
    "view_identity": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "screen": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "decide_eligibility": frozenset({Role.INVESTIGATOR}),
    "consent": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "enroll": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "randomize": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "view_allocation_list": frozenset({Role.STATISTICIAN, Role.ADMIN}),
    "manage_allocation": frozenset({Role.STATISTICIAN, Role.ADMIN}),
    "enter_data": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "report_deviation": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "report_sae": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    # a lab-proposed adverse event is a medical judgement: the investigator's
    "decide_ae_proposal": frozenset({Role.INVESTIGATOR}),
    "manage_reference_ranges": frozenset({Role.DATA_MANAGER, Role.ADMIN}),
    # the DSMB's decision: entered by a DSMB member, the trial statistician (the DSMB's liaison) or an administrator
    "record_dsmb_decision": frozenset({Role.DSMB, Role.STATISTICIAN, Role.ADMIN}),
    # comparative interim safety results by arm: the DSMB and its liaison only
    "view_comparative_safety": frozenset({Role.DSMB, Role.STATISTICIAN, Role.ADMIN}),
    # the analysis datasets and report: the trial statistician (and administrators)
    "export_analysis": frozenset({Role.STATISTICIAN, Role.ADMIN}),
    "raise_query": frozenset({Role.MONITOR, Role.DATA_MANAGER}),
    "answer_query": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "close_query": frozenset({Role.MONITOR, Role.DATA_MANAGER}),
    # locks of a record, a visit or the database (with a reason; unlocked with a reason)
    "lock": frozenset({Role.DATA_MANAGER}),
    # electronic signatures of a visit or a casebook (21 CFR 11.50): the investigator's
    "sign": frozenset({Role.INVESTIGATOR}),
    "view_audit": frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.ADMIN}),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which route (web, api, import, system)."""

    user: AbstractBaseUser
    route: str = "web"

    @property
    def profile(self) -> StaffProfile | None:
        return getattr(self.user, "staff", None) if self.user.is_authenticated else None

    @property
    def role(self) -> str | None:
        profile = self.profile
        return profile.role if profile else None


def visible_sites(actor: Actor) -> QuerySet[Site]:
    """The sites whose records the actor may read."""
    profile = actor.profile
    if profile is None:
        return Site.objects.none()
    if profile.role in ALL_SITE_ROLES:
        return Site.objects.all()
    return profile.sites.all()


def _own_site(profile: StaffProfile, site: Site) -> bool:
    """``site`` is one of the profile's own (the sites come with the request's user: see
    trial.auth.StaffBackend; otherwise one query)."""
    return any(s.pk == site.pk for s in profile.sites.all())


def can(actor: Actor, action: str, site: Site | None = None) -> bool:
    role = actor.role
    if role is None or role not in PERMISSIONS[action]:
        return False
    return site is None or role in ALL_SITE_ROLES or _own_site(actor.profile, site)


def require(actor: Actor, action: str, site: Site | None = None) -> None:
    if not can(actor, action, site):
        raise NotAllowed(_("Your role does not allow this here."))


def sees_identity(actor: Actor, site: Site) -> bool:
    """Identifying details: only the staff of the subject's own site (not monitors, not all-site roles)."""
    profile = actor.profile
    return bool(
        profile
        and profile.role in PERMISSIONS["view_identity"]
        and _own_site(profile, site)
    )
