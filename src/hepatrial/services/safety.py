"""Safety: the SAE reporting clock, safety alerts, and the DSMB's stopping rules.

- An adverse event form saved as serious starts the SAE clock: the initial
  report is due within the protocol's ``sae_report_hours`` (24) of the time the
  site became aware. A new SAE raises an alert, e-mailed once; an overdue one
  another (``hepatrial safety check``, run by cron, and every dashboard view).
- After every save of an adverse event, dose or outcome form, the stopping
  rules are evaluated over the trial's records. A rule that is true and has
  not tripped on these same metrics trips: an alert, and dosing is blocked for
  every subject until the DSMB's decision is recorded (continue or modify
  lifts the block; stop keeps it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.forms import stored_date, stored_datetime
from hepatrial.core.safety.death import Death, resolve_death
from hepatrial.core.safety.stopping import (
    AeRecord,
    RuleVerdict,
    SubjectRecord,
    compute_evidence,
    compute_metrics,
    evaluate_rules,
)
from hepatrial.services.access import Actor, require
from hepatrial.services.accounts import SYSTEM
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.lab_safety import LAB_FORM, propose_from_labs
from hepatrial.services.locks import ensure_writable
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import (
    AllocationSlot,
    DsmbDecision,
    FormEntry,
    SaeReport,
    SafetyAlert,
    StoppingRuleTrip,
    Subject,
)

logger = logging.getLogger(__name__)
MAX_TEXT = 8000
#: pg_advisory_xact_lock key of the trial-wide safety lock ("hepatrial safety")
SAFETY_LOCK_KEY = 0x4E50_5341_4645
#: The outcome form and its fields that record a death (NCT05940610: outcome_status).
OUTCOME_FORM, OUTCOME_STATUS, OUTCOME_DIED, OUTCOME_DEATH_DATE = "outcome_status", "status", "died", "death_date"
OUTCOME_DEATH_CAUSE = "death_cause"


def _spec():
    return current_protocol().safety


def is_ae_form(form_id: str) -> bool:
    spec = _spec()
    return spec is not None and form_id == spec.ae_form


# --- the records the metrics see ---------------------------------------------------------

def arms_by_subject() -> dict[int, str]:
    """Subject pk -> the arm allocated, for every randomized subject."""
    return dict(AllocationSlot.objects.filter(subject__isnull=False).values_list("subject_id", "arm"))


def _ae_entries() -> list[FormEntry]:
    spec = _spec()
    return list(FormEntry.objects.filter(form_id=spec.ae_form).select_related("subject")) if spec is not None else []


def ae_records(arms: dict[int, str] | None = None, entries: list[FormEntry] | None = None) -> list[AeRecord]:
    """Every graded adverse event; ``arms`` and ``entries`` (the AE forms) when the caller has them."""
    spec = _spec()
    if spec is None:
        return []
    arms = arms_by_subject() if arms is None else arms
    out = []
    # every AE form with a grade counts, complete or not: a severe event saved as incomplete is still an event
    for entry in _ae_entries() if entries is None else entries:
        d = entry.data
        grade = d.get(spec.grade_field)
        if not grade:
            continue
        out.append(AeRecord(
            subject_id=entry.subject.subject_id, arm=arms.get(entry.subject_id), term=d.get(spec.term_field),
            grade=int(grade) if grade else None, serious=d.get(spec.serious_field),
            relationship=d.get(spec.relationship_field), onset=stored_date(d.get(spec.onset_field)),
            fatal=d.get(spec.outcome_field) == spec.fatal_outcome, key=f"ae:{entry.pk}",
        ))  # fmt: skip
    return out


def death_records(ae_entries: list[FormEntry] | None = None) -> dict[int, Death]:
    """Subject pk -> the death the outcome forms and fatal adverse events record (core.safety.death)."""
    spec = _spec()
    outcome: dict[int, list[tuple[date, str]]] = {}
    fatal: dict[int, list[tuple[date, str]]] = {}
    for entry in FormEntry.objects.filter(form_id=OUTCOME_FORM):
        if entry.data.get(OUTCOME_STATUS) == OUTCOME_DIED and (when := stored_date(entry.data.get(OUTCOME_DEATH_DATE))):
            outcome.setdefault(entry.subject_id, []).append((when, entry.data.get(OUTCOME_DEATH_CAUSE) or ""))
    if spec is not None:
        for entry in _ae_entries() if ae_entries is None else ae_entries:
            if entry.data.get(spec.outcome_field) == spec.fatal_outcome:
                if when := stored_date(entry.data.get(spec.onset_field)):
                    fatal.setdefault(entry.subject_id, []).append((when, entry.data.get(spec.term_field) or ""))
    deaths = {pk: resolve_death(outcome.get(pk, []), fatal.get(pk, [])) for pk in {*outcome, *fatal}}
    return {pk: d for pk, d in deaths.items() if d is not None}


def subject_records(arms: dict[int, str] | None = None, deaths: dict[int, Death] | None = None) -> list[SubjectRecord]:
    """Randomized subjects, with the death :func:`death_records` finds."""
    arms = arms_by_subject() if arms is None else arms
    deaths = death_records() if deaths is None else deaths
    subjects = Subject.objects.filter(pk__in=arms, anchor_date__isnull=False)
    return [SubjectRecord(s.subject_id, arms[s.pk], s.anchor_date, deaths[s.pk].on if s.pk in deaths else None)
            for s in subjects]  # fmt: skip


def safety_records() -> tuple[list[AeRecord], list[SubjectRecord]]:
    """The AE and subject records the metrics see, reading the allocations and the AE forms once."""
    arms, entries = arms_by_subject(), _ae_entries()
    return ae_records(arms, entries), subject_records(arms, death_records(entries))


def current_metrics() -> dict[str, float]:
    return compute_metrics(current_protocol(), *safety_records())


def comparative_safety() -> tuple[dict[str, float], dict[str, RuleVerdict], list[AeRecord]]:
    """What the DSMB sees: the metrics, each stopping rule's verdict now, and the AE records."""
    protocol = current_protocol()
    aes, subjects = safety_records()
    metrics = compute_metrics(protocol, aes, subjects)
    return metrics, {v.rule_id: v for v in evaluate_rules(protocol, metrics)}, aes


# --- alerts --------------------------------------------------------------------------------

def raise_alert(kind: str, key: str, text: str, subject: Subject | None = None, actor: Actor | None = None) -> SafetyAlert | None:
    """A new alert (once per key, audited), e-mailed to the safety contacts when the transaction commits."""
    if SafetyAlert.objects.filter(key=key).exists():
        return None
    try:
        with transaction.atomic():
            alert = SafetyAlert.objects.create(kind=kind, key=key, text=text, subject=subject, created_at=timezone.now())
    except IntegrityError:  # raised by a concurrent save a moment ago
        return None
    record(actor or SYSTEM, "safety_alert", alert, new={"kind": kind, "text": text},
           site=subject.site if subject else None, subject_id=subject.subject_id if subject else "")  # fmt: skip
    transaction.on_commit(lambda: email_alert(alert.pk), robust=True)
    return alert


def email_alert(alert_pk: int) -> bool:
    """E-mail one alert; a failure is logged and left for ``hepatrial safety check`` to retry."""
    alert = SafetyAlert.objects.get(pk=alert_pk)
    try:
        send_mail(f"[hepatrial {current_protocol().id}] {alert.get_kind_display()}", alert.text,
                  settings.DEFAULT_FROM_EMAIL, settings.SAFETY_EMAILS)  # fmt: skip
    except Exception:  # noqa: BLE001 - any mail failure: the alert stays unsent and is retried
        logger.exception("safety alert %s could not be e-mailed; hepatrial safety check will retry", alert_pk)
        return False
    SafetyAlert.objects.filter(pk=alert_pk).update(emailed_at=timezone.now())
    return True


def resend_unsent_alerts() -> int:
    """Retry every alert not e-mailed yet; returns how many went out."""
    return sum(email_alert(pk) for pk in SafetyAlert.objects.filter(emailed_at__isnull=True).values_list("pk", flat=True))


# --- the SAE clock -------------------------------------------------------------------------

@dataclass(frozen=True)
class SaeClock:
    entry: FormEntry
    aware_at: datetime
    due_at: datetime
    reported_at: datetime | None

    @property
    def state(self) -> str:
        """pending | overdue | reported | reported_late (as of now)."""
        if self.reported_at is not None:
            return "reported" if self.reported_at <= self.due_at else "reported_late"
        return "overdue" if timezone.now() > self.due_at else "pending"

    @property
    def remaining(self) -> timedelta:
        return self.due_at - timezone.now()


def sae_clock(entry: FormEntry) -> SaeClock | None:
    """The reporting clock of a serious adverse event form (None if not serious)."""
    spec = _spec()
    if spec is None or entry.form_id != spec.ae_form or entry.data.get(spec.serious_field) is not True:
        return None
    initial = next((r for r in entry.sae_reports.all() if r.kind == SaeReport.Kind.INITIAL), None)  # (prefetched or not)
    if initial is not None and initial.aware_at is not None:  # frozen as reported: a later edit cannot move it
        return SaeClock(entry, initial.aware_at, initial.due_at, initial.submitted_at)
    aware = stored_datetime(entry.data.get(spec.awareness_field))
    if aware is None:
        return None
    return SaeClock(entry, aware, aware + timedelta(hours=spec.sae_report_hours), initial.submitted_at if initial else None)


def sae_clocks_of(entries) -> dict[int, SaeClock]:
    """The reporting clocks of those of ``entries`` (forms already loaded) that are serious
    adverse events, by form id: one query for all their SAE reports."""
    spec = _spec()
    if spec is None:
        return {}
    serious = [e for e in entries if e.form_id == spec.ae_form and e.data.get(spec.serious_field) is True]
    prefetch_related_objects(serious, "sae_reports")
    return {e.pk: clock for e in serious if (clock := sae_clock(e)) is not None}


@dataclass(frozen=True)
class AdverseEvent:
    """One adverse event form of a subject, as their page lists it."""

    entry: FormEntry
    term: str | None
    grade: str | None
    serious: bool | None
    onset: str | None
    outcome: str | None
    clock: SaeClock | None  # a serious one's reporting clock


def subject_adverse_events(entries: list[FormEntry]) -> list[AdverseEvent]:
    """A subject's adverse events by number, from all the subject's forms (``entries``);
    one query for the serious ones' SAE reports."""
    spec = _spec()
    if spec is None:
        return []
    events = sorted((e for e in entries if e.form_id == spec.ae_form), key=lambda e: e.sequence)
    clocks = sae_clocks_of(events)
    return [AdverseEvent(e, e.data.get(spec.term_field), e.data.get(spec.grade_field), e.data.get(spec.serious_field),
                         e.data.get(spec.onset_field), e.data.get(spec.outcome_field), clocks.get(e.pk))
            for e in events]  # fmt: skip


def next_adverse_event(entries: list[FormEntry]) -> tuple[str, int] | None:
    """(the AE log's visit, the number) where a subject's next adverse event is entered, from
    all the subject's forms (``entries``); None without an AE log or when it is full."""
    from hepatrial.services.forms import max_sequence_of  # (forms imports this module)

    spec = _spec()
    log = next((v for v in current_protocol().visits if spec.ae_form in v.forms), None) if spec else None
    if log is None:
        return None
    last = max((e.sequence for e in entries if e.visit_id == log.id and e.form_id == spec.ae_form), default=0)
    return (log.id, last + 1) if last < max_sequence_of(log) else None


def sae_clocks(subjects=None) -> list[SaeClock]:
    spec = _spec()
    if spec is None:
        return []
    entries = FormEntry.objects.filter(form_id=spec.ae_form).select_related("subject", "subject__site")
    if subjects is not None:
        entries = entries.filter(subject__in=subjects)
    return sorted(sae_clocks_of(list(entries)).values(), key=lambda c: c.due_at)


def raise_overdue_alerts() -> list[SafetyAlert]:
    """An alert (e-mailed once) for every SAE whose initial report is overdue."""
    made = []
    for clock in sae_clocks():
        if clock.state == "overdue":
            hours = _spec().sae_report_hours
            alert = raise_alert(SafetyAlert.Kind.SAE_OVERDUE, f"sae_overdue:{clock.entry.pk}",
                                _("The initial report of the serious adverse event of %(s)s (%(w)s) was due within %(h)s hours "
                                  "of awareness, by %(due)s UTC, and is not submitted.")
                                % {"s": clock.entry.subject.subject_id, "w": _ae_label(clock.entry), "h": hours,
                                   "due": clock.due_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M")},
                                subject=clock.entry.subject)  # fmt: skip
            if alert is not None:
                made.append(alert)
    return made


def _ae_label(entry: FormEntry) -> str:
    spec = _spec()
    return f"{entry.data.get(spec.term_field)}, grade {entry.data.get(spec.grade_field)}"


@transaction.atomic
def do_submit_sae_report(actor: Actor, entry: FormEntry, kind: str, narrative: str) -> SaeReport:
    """Submit an SAE report of a serious adverse event: the initial one once, then
    follow-ups (linked to it) and, for a fatal event, the death report."""
    require(actor, "report_sae", entry.subject.site)
    ensure_writable(entry.subject, entry.visit_id, entry)
    spec = _spec()
    entry = FormEntry.objects.select_for_update(no_key=True).get(pk=entry.pk)
    if spec is None or entry.form_id != spec.ae_form or entry.data.get(spec.serious_field) is not True:
        raise ActionError(_("Only a serious adverse event is reported as an SAE."))
    if kind not in SaeReport.Kind.values:
        raise Invalid(_("Unknown report kind %(k)r.") % {"k": kind}, field="kind")
    narrative = (narrative or "").strip()
    if not narrative or len(narrative) > MAX_TEXT or "\x00" in narrative:
        raise Invalid(_("Write the narrative (at most %(n)s characters).") % {"n": MAX_TEXT}, field="narrative")
    initial = entry.sae_reports.filter(kind=SaeReport.Kind.INITIAL).first()
    if kind == SaeReport.Kind.INITIAL and initial is not None:
        raise ActionError(_("The initial report was submitted on %(d)s; submit a follow-up.")
                          % {"d": initial.submitted_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")})  # fmt: skip
    if kind != SaeReport.Kind.INITIAL and initial is None:
        raise ActionError(_("Submit the initial report first."))
    if kind == SaeReport.Kind.DEATH and entry.data.get(spec.outcome_field) != spec.fatal_outcome:
        raise ActionError(_("A death report is for an event whose outcome is fatal."))
    clock = sae_clock(entry)
    if clock is None:
        raise ActionError(_("Give the time the site became aware of the event first."))
    report = SaeReport.objects.create(
        form_entry=entry, kind=kind, follows=initial, narrative=narrative, form_version=entry.version,
        form_data=entry.data, aware_at=clock.aware_at, due_at=clock.due_at, submitted_at=timezone.now(), submitted_by=actor.user,
    )  # fmt: skip
    record(actor, "submit_sae_report", report, new={"kind": kind, "form_version": entry.version, "narrative": narrative},
           site=entry.subject.site, subject_id=entry.subject.subject_id)  # fmt: skip
    return report


# --- stopping rules ------------------------------------------------------------------------

def safety_lock() -> None:
    """One safety evaluation or dose check at a time, trial-wide (inside the caller's
    transaction): two AE saves cannot both miss a trip, nor a dose slip past one
    being made. SQLite's IMMEDIATE transactions serialize writers already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SAFETY_LOCK_KEY])


def evaluate_stopping_rules(actor: Actor) -> list[StoppingRuleTrip]:
    """Evaluate every stopping rule now. A true rule trips when the events behind it
    include one no earlier trip of that rule was decided on (a new reaction, a new
    death), not merely when a number changes (a ratio moves with each randomization)."""
    protocol = current_protocol()
    if protocol.safety is None or not protocol.safety.stopping_rules:
        return []
    safety_lock()
    rules = {r.id: r for r in protocol.safety.stopping_rules}
    aes, subjects = safety_records()
    metrics = compute_metrics(protocol, aes, subjects)
    tripped = []
    for verdict in evaluate_rules(protocol, metrics, compute_evidence(protocol, aes, subjects)):
        if verdict.tripped is not True:
            continue
        earlier = list(StoppingRuleTrip.objects.filter(rule_id=verdict.rule_id))
        known = set().union(*(set(t.evidence) for t in earlier)) if earlier else None
        if known is not None and not set(verdict.evidence) - known:
            continue  # tripped on these very events already
        rule = rules[verdict.rule_id]
        trip = StoppingRuleTrip.objects.create(rule_id=rule.id, action=rule.action, tripped_at=timezone.now(),
                                               display=verdict.display, metrics=verdict.metrics,
                                               evidence=list(verdict.evidence))  # fmt: skip
        record(actor, "stopping_rule_tripped", trip, new={"rule": rule.id, "action": rule.action, "metrics": verdict.metrics,
                                                          "evidence": list(verdict.evidence)},
               reason=verdict.display)  # fmt: skip
        raise_alert(SafetyAlert.Kind.RULE_TRIPPED, f"rule:{trip.pk}",
                    _("Stopping rule %(id)s tripped: %(label)s (%(why)s). Dosing is %(what)s for all subjects until the "
                      "DSMB's decision is recorded.")
                    % {"id": rule.id, "label": rule.label, "why": verdict.display,
                       "what": _("paused") if rule.action == "pause_dosing" else _("stopped")}, actor=actor)  # fmt: skip
        tripped.append(trip)
    return tripped


def dosing_halt() -> StoppingRuleTrip | None:
    """The trip that blocks dosing now: one awaiting its DSMB decision, or one the DSMB decided to stop on."""
    trips = list(StoppingRuleTrip.objects.filter(Q(decision__isnull=True) | Q(decision__decision=DsmbDecision.Decision.STOP))
                 .select_related("decision").order_by("tripped_at", "pk"))  # fmt: skip
    waiting = next((trip for trip in trips if not hasattr(trip, "decision")), None)
    return waiting or next(iter(trips), None)


def halt_message(trip: StoppingRuleTrip) -> str:
    rule = next((r for r in current_protocol().safety.stopping_rules if r.id == trip.rule_id), None)
    when = trip.tripped_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
    label = rule.label if rule else trip.rule_id
    if hasattr(trip, "decision"):
        return _("Dosing is stopped for all subjects: the DSMB decided to stop after stopping rule %(id)s (%(label)s).") % {
            "id": trip.rule_id, "label": label}
    return _("Dosing is paused for all subjects: stopping rule %(id)s (%(label)s) tripped on %(when)s (%(why)s); "
             "awaiting the DSMB's decision.") % {"id": trip.rule_id, "label": label, "when": when, "why": trip.display}


@transaction.atomic
def do_record_dsmb_decision(actor: Actor, trip: StoppingRuleTrip, decision: str, decided_on: date | None, reason: str) -> DsmbDecision:
    require(actor, "record_dsmb_decision")
    trip = StoppingRuleTrip.objects.select_for_update(no_key=True).get(pk=trip.pk)
    if DsmbDecision.objects.filter(trip=trip).exists():
        raise ActionError(_("The DSMB's decision on this trip is already recorded."))
    if decision not in DsmbDecision.Decision.values:
        raise Invalid(_("The decision is continue, modify or stop."), field="decision")
    if decided_on is None or decided_on > timezone.now().date() + timedelta(days=1):
        raise Invalid(_("Give the date of the DSMB's decision (not in the future)."), field="decided_on")
    if decided_on < trip.tripped_at.date() - timedelta(days=1):
        raise Invalid(_("The decision cannot predate the trip."), field="decided_on")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_TEXT or "\x00" in reason:
        raise Invalid(_("Give the DSMB's reason (at most %(n)s characters).") % {"n": MAX_TEXT}, field="reason")
    made = DsmbDecision.objects.create(trip=trip, decision=decision, decided_on=decided_on, reason=reason,
                                       recorded_at=timezone.now(), recorded_by=actor.user)  # fmt: skip
    record(actor, "dsmb_decision", made, new={"rule": trip.rule_id, "decision": decision, "decided_on": decided_on}, reason=reason)
    return made


# --- the safety dashboard's aggregates ---------------------------------------------------

def sae_timeline_points(clocks) -> list[tuple[str, int, int | None, str, str]]:
    """(subject id, study day of onset, grade, term, report state) of each serious event with a clock."""
    spec = current_protocol().safety
    points = []
    for c in clocks:
        subject, d = c.entry.subject, c.entry.data
        onset = d.get(spec.onset_field)
        if subject.anchor_date is None or not onset:
            continue
        day = (date.fromisoformat(onset) - subject.anchor_date).days
        grade = d.get(spec.grade_field)
        points.append((subject.subject_id, day, int(grade) if grade else None, str(d.get(spec.term_field)), c.state))
    return points


def ae_counts_by_arm(sites, aes: list[AeRecord] | None = None) -> list[dict]:
    """Adverse events by arm (subjects of ``sites``): counts by grade, serious, related (possible or more).
    ``aes``: the AE records when the caller has them (safety_records)."""
    visible = set(Subject.objects.filter(site__in=sites).values_list("subject_id", flat=True))
    rows: dict[str, dict] = {}
    for ae in ae_records() if aes is None else aes:
        if ae.subject_id not in visible:
            continue
        row = rows.setdefault(ae.arm or "", {"arm": ae.arm, "events": 0, "serious": 0, "related": 0,
                                              "grades": {g: 0 for g in range(1, 6)}, "subjects": set()})  # fmt: skip
        row["events"] += 1
        row["subjects"].add(ae.subject_id)
        row["serious"] += 1 if ae.serious else 0
        row["related"] += 1 if ae.relationship in ("possible", "probable", "definite") else 0
        if ae.grade:
            row["grades"][ae.grade] += 1
    return [{**r, "subjects": len(r["subjects"]), "grades": [r["grades"][g] for g in range(1, 6)]} for r in rows.values()]


def check_ae(subject: Subject, cleaned: dict) -> None:
    """Before an adverse event form is saved: the time of awareness is not in the future."""
    spec = _spec()
    aware = cleaned.get(spec.awareness_field) if spec else None
    if isinstance(aware, datetime) and aware > timezone.now():
        raise Invalid(_("The time the site became aware is in the future."), field=spec.awareness_field)


def after_save(actor: Actor, entry: FormEntry) -> None:
    """Called by do_save_form in its transaction, after a form is saved."""
    spec = _spec()
    if spec is None:
        return
    dosing = current_protocol().dosing
    if entry.form_id == spec.ae_form and entry.data.get(spec.serious_field) is True:
        raise_alert(SafetyAlert.Kind.SAE_NEW, f"sae_new:{entry.pk}",
                    _("Serious adverse event of %(s)s at %(site)s: %(what)s. The initial report is due within %(h)s hours "
                      "of awareness.")
                    % {"s": entry.subject.subject_id, "site": entry.subject.site.code, "what": _ae_label(entry),
                       "h": spec.sae_report_hours},
                    subject=entry.subject)  # fmt: skip
    if entry.form_id == LAB_FORM:
        propose_from_labs(actor, entry)
    if entry.form_id in {spec.ae_form, OUTCOME_FORM} | ({dosing.form} if dosing else set()):
        evaluate_stopping_rules(actor)
