"""Lab values graded by CTCAE v5.0 against the site's reference ranges and the
subject's baseline, and the adverse events they propose.

Every lab panel saved after day 0 is graded (hepatrial.core.safety.ctcae) with
the site laboratory's ULN/LLN for the subject's sex and, where v5 says so,
relative to the baseline: the last value on or before day 0. A grade worse
than the baseline's own (the baseline graded as v5 grades it: against the ULN
when normal, against itself when abnormal, so 0) proposes an adverse event.
The investigator confirms it (records the AE, prefilled) or dismisses it with
a reason; both audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.forms import stored_datetime
from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.safety.ctcae import LAB_TERMS, CtcaeInputError, LabGrade, grade_lab
from hepatrial.core.safety.reference_ranges import DEFAULT_RANGES
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import (
    AeProposal,
    AllocationSlot,
    FormEntry,
    ReferenceRange,
    Site,
    Subject,
)

LAB_FORM = "lab_panel"
GRADED = sorted({t.analyte for t in LAB_TERMS.values()})

def ensure_default_ranges(site: Site) -> int:
    """Give ``site`` the default ranges it has none of (the demo); returns how many were added."""
    added = 0
    for (test, sex), default in DEFAULT_RANGES.items():
        if default.lln is None and default.uln is None:
            continue  # (INR: CTCAE grades it on absolute values)
        lln, uln, source = default.lln, default.uln, f"demo default: {default.source}; enter the site laboratory's own"
        _obj, made = ReferenceRange.objects.get_or_create(
            site=site, lab_test=test, sex=sex, defaults={"lln": lln, "uln": uln, "source": source, "updated_at": timezone.now()}
        )
        added += made
    return added


def site_ranges(site: Site) -> dict[tuple[str, str], ReferenceRange]:
    """(lab test, sex) -> the site's range, every test in one query."""
    return {(r.lab_test, r.sex): r for r in ReferenceRange.objects.filter(site=site)}


def reference_range(site: Site, lab_test: str, sex: str | None,
                    ranges: dict[tuple[str, str], ReferenceRange] | None = None) -> ReferenceRange | None:  # fmt: skip
    """The site's range for the subject's sex, else its range for any sex (``ranges``: site_ranges, if read)."""
    ranges = site_ranges(site) if ranges is None else ranges
    return ranges.get((lab_test, sex or "")) or ranges.get((lab_test, "any"))


@transaction.atomic
def do_set_reference_range(actor: Actor, site: Site, lab_test: str, sex: str, lln: float | None, uln: float | None,
                           source: str) -> ReferenceRange:  # fmt: skip
    require(actor, "manage_reference_ranges", site)
    if lab_test not in LAB_TESTS:
        raise Invalid(_("Unknown lab test %(t)r.") % {"t": lab_test}, field="lab_test")
    if sex not in ReferenceRange.Sex.values:
        raise Invalid(_("Sex is any, male or female."), field="sex")
    for name, value in (("lln", lln), ("uln", uln)):
        if value is not None and not (0 < value < 1e6):
            raise Invalid(_("A limit is a positive number."), field=name)
    if lln is None and uln is None:
        raise Invalid(_("Give the lower or the upper limit (or both)."), field="uln")
    if lln is not None and uln is not None and lln >= uln:
        raise Invalid(_("The lower limit must be below the upper one."), field="lln")
    source = (source or "").strip()
    if not source:
        raise Invalid(_("Say where the range comes from."), field="source")
    found = ReferenceRange.objects.select_for_update(no_key=True).filter(site=site, lab_test=lab_test, sex=sex).first()
    old = {"lln": found.lln, "uln": found.uln, "source": found.source} if found else None
    made, _created = ReferenceRange.objects.update_or_create(
        site=site, lab_test=lab_test, sex=sex,
        defaults={"lln": lln, "uln": uln, "source": source, "updated_at": timezone.now(), "updated_by": actor.user},
    )  # fmt: skip
    record(actor, "set_reference_range", made, field=f"{lab_test}/{sex}", old=old, new={"lln": lln, "uln": uln, "source": source},
           site=site)  # fmt: skip
    return made


# --- grading ------------------------------------------------------------------------------

def _sampled_on(entry: FormEntry, tz: ZoneInfo) -> date:
    sampled = stored_datetime(entry.data.get("sample_datetime"))
    return sampled.astimezone(tz).date() if sampled else entry.visit_date


def baseline_values(subject: Subject, lab_tests) -> dict[str, float | None]:
    """Each of ``lab_tests``: its last value on or before day 0 (screening or day 0 samples of
    complete panels), reading the subject's panels once."""
    if subject.anchor_date is None:
        return dict.fromkeys(lab_tests)
    tz = ZoneInfo(subject.site.time_zone)
    before: dict[str, list] = {test: [] for test in lab_tests}
    for entry in subject.forms.filter(form_id=LAB_FORM, status=FormEntry.Status.COMPLETE):
        when = _sampled_on(entry, tz)
        if when is None or when > subject.anchor_date:
            continue
        for test in lab_tests:
            value = entry.data.get(test)
            if isinstance(value, (int, float)):
                before[test].append((when, entry.data.get("sample_datetime") or "", value))
    return {test: max(rows)[2] if rows else None for test, rows in before.items()}


def baseline_value(subject: Subject, lab_test: str) -> float | None:
    """The last value of ``lab_test`` on or before day 0 (screening or day 0 samples)."""
    return baseline_values(subject, [lab_test])[lab_test]


@dataclass(frozen=True)
class GradedValue:
    lab_test: str
    value: float
    grade: LabGrade
    baseline: float | None
    baseline_grade: int | None


def grade_entry(entry: FormEntry) -> list[GradedValue]:
    """Every CTCAE-graded value of a lab panel, with its baseline's grade."""
    subject = entry.subject
    sex = subject.screening.sex or None
    tests = [t for t in GRADED if isinstance(entry.data.get(t), (int, float))]
    ranges, baselines = site_ranges(subject.site), baseline_values(subject, tests)  # one query each
    out = []
    for test in tests:
        value = entry.data[test]
        ref = reference_range(subject.site, test, sex, ranges)
        lln, uln = (ref.lln, ref.uln) if ref else (None, None)
        baseline = baselines[test]
        try:
            grades = grade_lab(test, float(value), uln=uln, lln=lln, baseline=baseline)
            base_grades = {g.term: g.grade for g in grade_lab(test, baseline, uln=uln, lln=lln, baseline=baseline)} if baseline is not None else {}
        except CtcaeInputError:
            continue
        for g in grades:
            out.append(GradedValue(test, float(value), g, baseline, base_grades.get(g.term)))
    return out


def propose_from_labs(actor: Actor, entry: FormEntry) -> list[AeProposal]:
    """After a lab panel is saved: replace its undecided proposals by those its values now give."""
    subject = entry.subject
    if entry.form_id != LAB_FORM or subject.anchor_date is None or not AllocationSlot.objects.filter(subject=subject).exists():
        return []
    tz = ZoneInfo(subject.site.time_zone)
    sampled = _sampled_on(entry, tz)
    for stale in AeProposal.objects.filter(lab_entry=entry, state=AeProposal.State.PROPOSED):
        record(actor, "withdraw_ae_proposal", stale, field="state", old="proposed", new="withdrawn",
               reason=_("the lab panel was saved again"), site=subject.site, subject_id=subject.subject_id)  # fmt: skip
        stale.delete()
    if entry.status != FormEntry.Status.COMPLETE or sampled is None or sampled <= subject.anchor_date:
        return []  # baseline values propose nothing
    # the highest grade per term the investigator already decided on (any panel): not proposed again
    decided: dict[str, int] = {}
    for term, grade in subject.ae_proposals.exclude(state=AeProposal.State.PROPOSED).values_list("term", "grade"):
        decided[term] = max(grade, decided.get(term, 0))
    made = []
    for g in grade_entry(entry):
        grade = g.grade.grade
        if g.baseline is None:
            continue  # no baseline yet: graded against the ULN alone, an ACLF value would always look like an AE
        if grade is None or grade < 1 or (g.baseline_grade is not None and grade <= g.baseline_grade):
            continue
        if grade <= decided.get(g.grade.term, 0):
            continue  # the investigator already decided on this finding at this grade or higher
        proposal = AeProposal.objects.create(
            subject=subject, lab_entry=entry, lab_test=g.lab_test, term=g.grade.term, value=g.value, grade=grade,
            baseline_grade=g.baseline_grade, criterion=g.grade.criterion, sampled_on=sampled, created_at=timezone.now(),
        )  # fmt: skip
        record(actor, "propose_ae", proposal, new={"term": proposal.term, "grade": grade, "value": g.value,
                                                   "baseline_grade": g.baseline_grade, "criterion": proposal.criterion},
               site=subject.site, subject_id=subject.subject_id)  # fmt: skip
        made.append(proposal)
    return made


@transaction.atomic
def do_dismiss_proposal(actor: Actor, proposal: AeProposal, reason: str) -> AeProposal:
    require(actor, "decide_ae_proposal", proposal.subject.site)
    proposal = AeProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    if proposal.state != AeProposal.State.PROPOSED:
        raise ActionError(_("This proposal is already decided."))
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000 or "\x00" in reason:
        raise Invalid(_("Give the reason it is not an adverse event."), field="reason")
    proposal.state, proposal.reason = AeProposal.State.DISMISSED, reason
    proposal.decided_at, proposal.decided_by = timezone.now(), actor.user
    proposal.save()
    record(actor, "dismiss_ae_proposal", proposal, field="state", old="proposed", new="dismissed", reason=reason,
           site=proposal.subject.site, subject_id=proposal.subject.subject_id)  # fmt: skip
    return proposal


def confirm_proposal(actor: Actor, proposal: AeProposal, ae_entry: FormEntry) -> AeProposal:
    """Link the AE recorded from ``proposal`` (called inside the AE save's transaction)."""
    require(actor, "decide_ae_proposal", proposal.subject.site)
    proposal = AeProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    if proposal.state != AeProposal.State.PROPOSED or ae_entry.subject_id != proposal.subject_id:
        raise ActionError(_("This proposal is already decided."))
    proposal.state, proposal.ae_entry = AeProposal.State.CONFIRMED, ae_entry
    proposal.decided_at, proposal.decided_by = timezone.now(), actor.user
    proposal.save()
    record(actor, "confirm_ae_proposal", proposal, field="state", old="proposed", new="confirmed",
           reason=f"adverse event #{ae_entry.sequence} recorded", site=proposal.subject.site,
           subject_id=proposal.subject.subject_id)  # fmt: skip
    return proposal


@transaction.atomic
def proposal_initial(proposal: AeProposal) -> dict[str, str]:
    """The AE form filled in from a lab value's proposal: its CTCAE term, grade and onset (the sample's date)."""
    spec = current_protocol().safety
    return {spec.term_field: proposal.term, spec.grade_field: str(proposal.grade), spec.onset_field: proposal.sampled_on}


def do_record_ae_from_proposal(actor: Actor, proposal: AeProposal, **save: object):
    """Record the adverse event a lab value proposed (the AE form, saved as any
    form is, ``save`` being do_save_form's arguments) and confirm the proposal,
    in one transaction."""
    from hepatrial.services.forms import do_save_form

    require(actor, "decide_ae_proposal", proposal.subject.site)
    result = do_save_form(actor, proposal.subject, **save)
    confirm_proposal(actor, proposal, result.entry)
    return result
