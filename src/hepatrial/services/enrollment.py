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


def _too_early(when: datetime) -> bool:
    """Before 1900: not a real date here (and date arithmetic near year 1 overflows)."""
    return when.year < 1900


def current_consent_version() -> str:
    return current_protocol().current_consent_version


def _latest_consent(screening: Screening) -> Consent | None:
    """The latest consent obtained (``consents.all()``: the ones a page prefetched once for
    all its questions about consent, or one query; a person has one or two)."""
    return max(screening.consents.all(), key=lambda c: (c.obtained_at, c.pk), default=None)


def active_consent(screening: Screening) -> Consent | None:
    """The latest consent, unless it was withdrawn. A re-consent supersedes the
    earlier ones: withdrawing after it leaves no consent, never an older one."""
    latest = _latest_consent(screening)
    return latest if latest is not None and latest.withdrawn_at is None else None


def no_further_data_since(screening: Screening) -> datetime | None:
    """When consent was withdrawn with the scope 'no further data', if it was."""
    withdrawn = (
        screening.consents.filter(withdrawal_scope=Consent.Scope.NO_FURTHER_DATA, withdrawn_at__isnull=False)
        .order_by("withdrawn_at")
        .first()
    )
    return withdrawn.withdrawn_at if withdrawn else None


def treatment_stopped_since(screening: Screening) -> datetime | None:
    """When the person withdrew consent (either scope ends the study treatment),
    if the latest consent is withdrawn."""
    latest = _latest_consent(screening)
    return latest.withdrawn_at if latest is not None else None


def needs_reconsent(screening: Screening) -> bool:
    """Consented, but to a version that is no longer current."""
    consent = active_consent(screening)
    return consent is not None and consent.version != current_consent_version()


@transaction.atomic
def do_record_consent(actor: Actor, screening: Screening, version: str, obtained_at: datetime) -> Consent:
    require(actor, "consent", screening.site)
    documents = {d.version: d for d in current_protocol().consent_documents}
    if version not in documents:
        raise Invalid(_("Unknown consent document version %(v)s.") % {"v": version}, field="version")
    if _too_early(obtained_at) or obtained_at.date() < documents[version].effective:
        raise Invalid(_("Consent to version %(v)s cannot predate the document (effective %(d)s).")
                      % {"v": version, "d": documents[version].effective.isoformat()}, field="obtained_at")  # fmt: skip
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
    """Withdraw consent: it covers the person, so every consent still open
    (the one named and any earlier version) is withdrawn, each audited."""
    consent = Consent.objects.select_for_update(no_key=True).get(pk=consent.pk)
    screening = consent.screening
    require(actor, "consent", screening.site)
    if consent.withdrawn_at is not None:
        raise ActionError(_("This consent is already withdrawn."))
    if _too_early(withdrawn_at):
        raise Invalid(_("The withdrawal time is not a real date."), field="withdrawn_at")
    if scope not in Consent.Scope.values:
        raise Invalid(_("Choose what the withdrawal covers."), field="scope")
    if withdrawn_at > timezone.now() or withdrawn_at < consent.obtained_at:
        raise Invalid(_("The withdrawal time must be after the consent and not in the future."), field="withdrawn_at")
    if not reason.strip():
        raise Invalid(_("A withdrawal needs a reason (the subject's words or 'declined to say')."), field="reason")
    subject_id = getattr(getattr(screening, "subject", None), "subject_id", "")
    for open_consent in screening.consents.select_for_update(no_key=True).filter(withdrawn_at__isnull=True):
        open_consent.withdrawn_at, open_consent.withdrawal_scope = withdrawn_at, scope
        open_consent.save()
        record(actor, "withdraw_consent", open_consent, old=None, new={"withdrawn_at": withdrawn_at, "scope": scope},
               reason=reason.strip(), site=screening.site, subject_id=subject_id)  # fmt: skip
    consent.refresh_from_db()
    return consent


def consent_state(screening: Screening) -> str:
    """none | consented | reconsent_needed | withdrawn"""
    if active_consent(screening) is None:
        return "withdrawn" if screening.consents.exists() else "none"
    return "reconsent_needed" if needs_reconsent(screening) else "consented"


def enrollment_blockers(screening: Screening) -> list[str]:
    """What stands between this screening and enrollment (empty: it can be enrolled)."""
    subject = Subject.objects.filter(screening=screening).first()
    if subject is not None:
        return [_("Already enrolled as %(id)s.") % {"id": subject.subject_id}]
    blockers = []
    decision = getattr(screening, "decision", None)
    if decision is None or not decision.eligible:
        blockers.append(_("An investigator must confirm eligibility first."))
    consent = active_consent(screening)
    if consent is None:
        blockers.append(_("No consent is recorded (or it was withdrawn)."))
    elif consent.version != current_consent_version():
        blockers.append(_("Consent is to version %(old)s; the current version is %(new)s: re-consent first.")
                        % {"old": consent.version, "new": current_consent_version()})  # fmt: skip
    record_number = getattr(getattr(screening, "identity", None), "hospital_record_number", "")
    if record_number:
        twin = Subject.objects.filter(site=screening.site, screening__identity__hospital_record_number=record_number).first()
        if twin is not None:
            blockers.append(_("This hospital record number is already enrolled as %(id)s.") % {"id": twin.subject_id})
    return blockers


@transaction.atomic
def do_enroll(actor: Actor, screening: Screening) -> Subject:
    """Enroll a confirmed-eligible, consented candidate: the next subject id of the site."""
    screening = Screening.objects.select_for_update(no_key=True).get(pk=screening.pk)
    site = screening.site
    require(actor, "enroll", site)
    blockers = enrollment_blockers(screening)
    if blockers:
        raise ActionError(blockers[0])
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
