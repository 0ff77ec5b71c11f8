"""The trial's records as ADaM datasets (hepatrial.core.export.adam): read from
the database, written as CSV files for the statistician."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hepatrial.core.export.adam import (
    DATASETS,
    AdverseEvent,
    LabSample,
    SubjectData,
    adae,
    adlb,
    adsl,
    adtte,
    write_dataset,
)
from hepatrial.core.safety.ctcae_terms import ctcae_term
from hepatrial.services.lab_safety import LAB_FORM
from hepatrial.services.protocol import arm_label, current_protocol
from hepatrial.services.safety import OUTCOME_FORM
from hepatrial.web.trial.models import AllocationSlot, Deviation, ReferenceRange, Subject

#: Deviation types that take a subject out of the per-protocol population.
MAJOR_DEVIATIONS = {Deviation.Type.ELIGIBILITY, Deviation.Type.CONSENT, Deviation.Type.DOSE_WINDOW, Deviation.Type.MISSED_DOSE}


def _date(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _local_date(value, tz: ZoneInfo) -> date | None:
    try:
        return datetime.fromisoformat(value).astimezone(tz).date() if isinstance(value, str) and value else None
    except ValueError:
        return None


def subject_data() -> list[SubjectData]:
    """Every enrolled subject's records, as the ADaM builders take them."""
    protocol = current_protocol()
    visits = {v.id: (i, v) for i, v in enumerate(protocol.visits)}
    dosing, safety = protocol.dosing, protocol.safety
    arms = {s: a for s, a in AllocationSlot.objects.filter(subject__isnull=False).values_list("subject_id", "arm")}
    majors: dict[int, int] = {}
    for subject_pk in Deviation.objects.filter(type__in=MAJOR_DEVIATIONS).values_list("subject_id", flat=True):
        majors[subject_pk] = majors.get(subject_pk, 0) + 1
    out = []
    for subject in Subject.objects.select_related("site", "screening").prefetch_related("forms"):
        tz = ZoneInfo(subject.site.time_zone)
        candidate = subject.screening.candidate
        doses, labs, aes = [], [], []
        died = transplanted = last_alive = None
        for entry in subject.forms.all():
            d = entry.data
            # a visit's date shows the subject alive then; a log entry's date (when an AE was recorded) does not
            log = visits.get(entry.visit_id, (0, None))[1]
            seen = [entry.visit_date] if entry.visit_date and not (log is not None and log.kind == "log") else []
            if dosing and entry.form_id == dosing.form and d.get(dosing.given_field) is True:
                if (when := _local_date(d.get(dosing.start_field), tz)) is not None:
                    doses.append(when)
            elif entry.form_id == LAB_FORM:
                sampled = _local_date(d.get("sample_datetime"), tz) or entry.visit_date
                index, visit = visits.get(entry.visit_id, (99, None))
                num = float(visit.day) if visit is not None and visit.day is not None else (-1.0 if entry.visit_id == "screening" else 1000.0 + entry.sequence)
                values = {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                if sampled is not None and values:
                    labs.append(LabSample(entry.visit_id, visit.label if visit else entry.visit_id, num, sampled, values))
            elif safety and entry.form_id == safety.ae_form and d.get(safety.grade_field):
                term = d.get(safety.term_field) or ""
                try:
                    soc = ctcae_term(term).soc
                except (KeyError, ValueError):
                    soc = ""
                aes.append(AdverseEvent(entry.sequence, term, soc, int(d[safety.grade_field]), d.get(safety.serious_field),
                                        d.get(safety.relationship_field), _date(d.get(safety.onset_field)),
                                        _date(d.get("resolution_date")), d.get(safety.outcome_field), d.get("action_taken")))  # fmt: skip
                if d.get(safety.outcome_field) == safety.fatal_outcome and died is None:
                    died = _date(d.get(safety.onset_field))
            elif entry.form_id == OUTCOME_FORM:
                status = d.get("status")
                if status == "died" and (when := _date(d.get("death_date"))):
                    died = min(died, when) if died else when
                if (when := _date(d.get("transplant_date"))) and status in ("transplanted", "died"):
                    transplanted = min(transplanted, when) if transplanted else when
                if status == "alive" and (when := _date(d.get("status_date"))):
                    seen.append(when)
            for when in seen:
                last_alive = max(last_alive, when) if last_alive else when
        arm = arms.get(subject.pk)
        out.append(SubjectData(
            subject_id=subject.subject_id, site=subject.site.code, age=subject.screening.age, sex=subject.screening.sex or None,
            presentation=candidate.get("presentation"), arm=arm, arm_label=arm_label(arm) if arm else None,
            randomized_on=subject.anchor_date if arm else None, doses=sorted(doses),
            doses_planned=len([v for v in protocol.visits if v.dose]), major_deviations=majors.get(subject.pk, 0),
            died_on=died, transplanted_on=transplanted, last_known_alive=last_alive or (subject.anchor_date if arm else None),
            labs=labs, adverse_events=aes, dialysis=bool(candidate.get("dialysis_twice_past_week")),
        ))  # fmt: skip
    return out


def reference_ranges() -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
    return {(r.site.code, r.lab_test, r.sex): (r.lln, r.uln) for r in ReferenceRange.objects.select_related("site")}


def export_adam(out_dir: str | Path) -> dict[str, Path]:
    """Write ADSL, ADTTE, ADLB and ADAE as CSV into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subjects = subject_data()
    horizons = current_protocol().parameter("survival_horizons_days", [84, 168])
    rows = {"adsl": adsl(subjects), "adtte": adtte(subjects, list(horizons)), "adlb": adlb(subjects, reference_ranges()),
            "adae": adae(subjects)}  # fmt: skip
    return {name: write_dataset(rows[name], DATASETS[name], out / f"{name}.csv") for name in DATASETS}
