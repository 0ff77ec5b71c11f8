"""Consent, its withdrawal, and enrollment (the subject identifier)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import Consent, Screening, Subject


def current_consent_version() -> str:
    return current_protocol().current_consent_version


def active_consent(screening: Screening) -> Consent | None:
    """The latest consent not withdrawn, if any."""
    return screening.consents.filter(withdrawn_at__isnull=True).order_by("-obtained_at").first()


def needs_reconsent(screening: Screening) -> bool:
    """Consented, but to a version that is no longer current."""
    consent = active_consent(screening)
    return consent is not None and consent.version != current_consent_version()


@transaction.atomic
def do_record_consent(actor: Actor, screening: Screening, version: str, obtained_at: datetime) -> Consent:
    require(actor, "consent", screening.site)
    versions = [d.version for d in current_protocol().consent_documents]
    if version not in versions:
        raise Invalid(_("Unknown consent document version %(v)s.") % {"v": version}, field="version")
    if obtained_at > timezone.now():
        raise Invalid(_("The consent time is in the future."), field="obtained_at")
    consent = Consent.objects.create(
        screening=screening, version=version, obtained_at=obtained_at, obtained_by=actor.user, recorded_at=timezone.now()
    )
    subject_id = getattr(getattr(screening, "subject", None), "subject_id", "")
    record(actor, "consent", consent, new={"version": version, "obtained_at": obtained_at}, site=screening.site, subject_id=subject_id)
    return consent


@transaction.atomic
def do_withdraw_consent(actor: Actor, consent: Consent, withdrawn_at: datetime, scope: str, reason: str) -> Consent:
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    screening = consent.screening
    require(actor, "consent", screening.site)
    if consent.withdrawn_at is not None:
        raise ActionError(_("This consent is already withdrawn."))
    if scope not in Consent.Scope.values:
        raise Invalid(_("Choose what the withdrawal covers."), field="scope")
    if withdrawn_at > timezone.now() or withdrawn_at < consent.obtained_at:
        raise Invalid(_("The withdrawal time must be after the consent and not in the future."), field="withdrawn_at")
    if not reason.strip():
        raise Invalid(_("A withdrawal needs a reason (the subject's words or 'declined to say')."), field="reason")
    consent.withdrawn_at, consent.withdrawal_scope = withdrawn_at, scope
    consent.save()
    subject_id = getattr(getattr(screening, "subject", None), "subject_id", "")
    record(actor, "withdraw_consent", consent, old=None, new={"withdrawn_at": withdrawn_at, "scope": scope},
           reason=reason.strip(), site=screening.site, subject_id=subject_id)  # fmt: skip
    return consent


@transaction.atomic
def do_enroll(actor: Actor, screening: Screening) -> Subject:
    """Enroll a confirmed-eligible, consented candidate: the next subject id of the site."""
    screening = Screening.objects.select_for_update().get(pk=screening.pk)
    site = screening.site
    require(actor, "enroll", site)
    if Subject.objects.filter(screening=screening).exists():
        raise ActionError(_("Already enrolled as %(id)s.") % {"id": screening.subject.subject_id})
    decision = getattr(screening, "decision", None)
    if decision is None or not decision.eligible:
        raise ActionError(_("An investigator must confirm eligibility first."))
    consent = active_consent(screening)
    if consent is None:
        raise ActionError(_("No consent is recorded (or it was withdrawn)."))
    if consent.version != current_consent_version():
        raise ActionError(_("Consent is to version %(old)s; the current version is %(new)s: re-consent first.")
                          % {"old": consent.version, "new": current_consent_version()})  # fmt: skip
    now = timezone.now()
    # Day 0 of the visit schedule. Until randomization exists (issue #4, which
    # makes the randomization date day 0) it is the enrollment date at the site.
    day0 = timezone.localdate(now, ZoneInfo(site.time_zone))
    for _attempt in range(5):
        number = (Subject.objects.filter(site=site).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                subject = Subject.objects.create(
                    site=site, screening=screening, number=number, subject_id=f"{site.code}-{number:03d}",
                    enrolled_at=now, enrolled_by=actor.user, anchor_date=day0,
                )  # fmt: skip
        except IntegrityError:
            continue  # another enrollment took this number at the same moment: take the next
        record(actor, "enroll", subject, new={"subject_id": subject.subject_id, "anchor_date": day0},
               site=site, subject_id=subject.subject_id)  # fmt: skip
        return subject
    raise ActionError(_("Could not allocate a subject number; try again."))
