"""The trial's records as ADaM datasets (hepatrial.core.export.adam): read from
the database, written as CSV files for the statistician."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.utils import timezone

from hepatrial.core.export.adam import (
    DATASETS,
    AdverseEvent,
    Infusion,
    LabSample,
    SubjectData,
    adae,
    adex,
    adlb,
    adsl,
    adtte,
    write_dataset,
)
from hepatrial.core.export.adam_spec import param_values
from hepatrial.core.export.define_xml import define_xml, observed_lengths
from hepatrial.core.forms import stored_date, stored_datetime
from hepatrial.core.report.settings import SIMULATED_FILE, SIMULATED_NOTICE
from hepatrial.core.safety.ctcae_terms import ctcae_term
from hepatrial.services.demo_trial import is_simulated
from hepatrial.services.lab_safety import LAB_FORM
from hepatrial.services.protocol import arm_label, current_protocol
from hepatrial.services.safety import (
    OUTCOME_DIED,
    OUTCOME_FORM,
    OUTCOME_STATUS,
    arms_by_subject,
    death_records,
)
from hepatrial.web.trial.models import (
    Consent,
    Deviation,
    ReferenceRange,
    Subject,
)

#: Deviation types that take a subject out of the per-protocol population.
MAJOR_DEVIATIONS = {Deviation.Type.ELIGIBILITY, Deviation.Type.CONSENT, Deviation.Type.DOSE_WINDOW, Deviation.Type.MISSED_DOSE}


def _local(value, tz: ZoneInfo) -> datetime | None:
    """An aware ISO date-time as the site's local (naive) time; None if absent or unreadable."""
    when = stored_datetime(value)
    return when.astimezone(tz).replace(tzinfo=None) if when else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _withdrawals() -> dict[int, tuple[date, str]]:
    """Screening pk -> (date consent was withdrawn, scope), the earliest withdrawal."""
    out: dict[int, tuple[date, str]] = {}
    for c in Consent.objects.filter(withdrawn_at__isnull=False).select_related("screening__site"):
        when = c.withdrawn_at.astimezone(ZoneInfo(c.screening.site.time_zone)).date()
        if c.screening_id not in out or when < out[c.screening_id][0]:
            out[c.screening_id] = (when, c.withdrawal_scope)
    return out


def subject_data() -> list[SubjectData]:
    """Every enrolled subject's records, as the ADaM builders take them."""
    protocol = current_protocol()
    visits = {v.id: (i, v) for i, v in enumerate(protocol.visits)}
    dose_visits = [v for v in protocol.visits if v.dose]
    scheduled = [v for v in protocol.visits if v.kind == "scheduled"]
    last_visit = max(scheduled, key=lambda v: v.day) if scheduled else None
    dosing_ends = max((v.day + v.window_after_days for v in dose_visits), default=None)
    last_dose = max(dose_visits, key=lambda v: v.day) if dose_visits else None
    last_dose_window = (last_dose.day - last_dose.window_before_days, last_dose.day + last_dose.window_after_days) if last_dose else None
    dosing, safety = protocol.dosing, protocol.safety
    arm_of_product = {product: arm for arm, product in (dosing.products.items() if dosing else ())}
    arms = arms_by_subject()
    majors: dict[int, int] = {}
    for subject_pk in Deviation.objects.filter(type__in=MAJOR_DEVIATIONS).values_list("subject_id", flat=True):
        majors[subject_pk] = majors.get(subject_pk, 0) + 1
    withdrawals = _withdrawals()
    deaths = death_records()  # the one rule for a death, as the safety metrics use it
    out = []
    for subject in Subject.objects.select_related("site", "screening").prefetch_related("forms"):
        tz = ZoneInfo(subject.site.time_zone)
        candidate = subject.screening.candidate
        doses, infusions, labs, aes = [], [], [], []
        transplanted = last_alive = None
        for entry in subject.forms.all():
            d = entry.data
            index, visit = visits.get(entry.visit_id, (99, None))
            # a visit's date shows the subject alive then; a log entry's date (when an AE was recorded) does not,
            # nor does an outcome form's (it may record a death): that one counts only its "alive" status date
            seen = ([entry.visit_date] if entry.visit_date and entry.form_id != OUTCOME_FORM
                    and not (visit is not None and visit.kind == "log") else [])  # fmt: skip
            num = float(visit.day) if visit is not None and visit.day is not None else (-1.0 if entry.visit_id == "screening" else 1000.0 + entry.sequence)
            label = visit.label if visit else entry.visit_id
            if dosing and entry.form_id == dosing.form and d.get(dosing.given_field) is True:
                start = _local(d.get(dosing.start_field), tz)
                given_on = start.date() if start is not None else entry.visit_date  # no start time: the visit's date
                if given_on is not None:
                    doses.append(given_on)
                infusions.append(Infusion(entry.visit_id, label, num, start, _local(d.get("stop_datetime"), tz),
                                          _number(d.get("volume_ml")), _number(d.get("particle_count")),
                                          d.get("lot_number") or "", d.get("interrupted"), d.get("reaction"),
                                          str(d.get(dosing.product_field) or "")))  # fmt: skip
            elif entry.form_id == LAB_FORM:
                sampled = _local(d.get("sample_datetime"), tz)
                sampled_on = sampled.date() if sampled else entry.visit_date
                values = {k: float(v) for k, v in d.items() if _number(v) is not None}
                if sampled_on is not None and values:
                    labs.append(LabSample(entry.visit_id, label, num, sampled_on, values))
            elif safety and entry.form_id == safety.ae_form and d.get(safety.grade_field):
                term = d.get(safety.term_field) or ""
                try:
                    soc = ctcae_term(term).soc
                except (KeyError, ValueError):
                    soc = ""
                onset = stored_date(d.get(safety.onset_field))
                aes.append(AdverseEvent(entry.sequence, term, soc, int(d[safety.grade_field]), d.get(safety.serious_field),
                                        d.get(safety.relationship_field), onset,
                                        stored_date(d.get("resolution_date")), d.get(safety.outcome_field), d.get("action_taken")))  # fmt: skip
            elif entry.form_id == OUTCOME_FORM:
                status = d.get(OUTCOME_STATUS)
                if (when := stored_date(d.get("transplant_date"))) and status in ("transplanted", OUTCOME_DIED):
                    transplanted = min(transplanted, when) if transplanted else when
                # alive, or alive after a transplantation: both show the subject alive on the status date
                if status in ("alive", "transplanted") and (when := stored_date(d.get("status_date"))):
                    seen.append(when)
                if status == "transplanted" and (when := stored_date(d.get("transplant_date"))):
                    seen.append(when)
            for when in seen:
                last_alive = max(last_alive, when) if last_alive else when
        arm = arms.get(subject.pk)
        death = deaths.get(subject.pk)
        given = Counter(arm_of_product.get(i.product) for i in infusions if arm_of_product.get(i.product))
        treated = given.most_common(1)[0][0] if given else arm
        withdrawn = withdrawals.get(subject.screening_id)
        out.append(SubjectData(
            subject_id=subject.subject_id, study=protocol.id, site=subject.site.code, age=subject.screening.age, sex=subject.screening.sex or None,
            presentation=candidate.get("presentation"), arm=arm, arm_label=arm_label(arm) if arm else None,
            randomized_on=subject.anchor_date if arm else None, doses=sorted(doses),
            doses_planned=len(dose_visits), major_deviations=majors.get(subject.pk, 0),
            died_on=death.on if death else None, transplanted_on=transplanted,
            last_known_alive=last_alive or (subject.anchor_date if arm else None),
            labs=labs, adverse_events=aes, dialysis=bool(candidate.get("dialysis_twice_past_week")),
            death_cause=death.cause if death else "", death_domain=death.domain if death else "",
            withdrawn_on=withdrawn[0] if withdrawn else None, withdrawal_scope=withdrawn[1] if withdrawn else "",
            infusions=infusions, dosing_ends_day=dosing_ends,
            follow_up_day=last_visit.day if last_visit else None,
            follow_up_window=last_visit.window_after_days if last_visit else 0,
            last_dose_window=last_dose_window, actual_arm=treated if treated and treated != arm else None,
            actual_arm_label=arm_label(treated) if treated and treated != arm else None,
        ))  # fmt: skip
    return out


def reference_ranges() -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
    return {(r.site.code, r.lab_test, r.sex): (r.lln, r.uln) for r in ReferenceRange.objects.select_related("site")}


def adam_rows(subjects: list[SubjectData] | None = None, cutoff: date | None = None) -> dict[str, list[dict]]:
    """Every ADaM dataset's rows (name -> rows), from ``subjects`` (default: :func:`subject_data`),
    the disposition judged at ``cutoff`` (default: today, UTC)."""
    subjects = subject_data() if subjects is None else subjects
    horizons = list(current_protocol().parameter("survival_horizons_days", [84, 168]))
    return {"adsl": adsl(subjects, cutoff or timezone.now().date()), "adtte": adtte(subjects, horizons),
            "adlb": adlb(subjects, reference_ranges()), "adae": adae(subjects), "adex": adex(subjects)}  # fmt: skip


def export_adam(out_dir: str | Path, rows: dict[str, list[dict]] | None = None) -> dict[str, Path]:
    """Write every ADaM dataset as CSV into ``out_dir`` (created if needed), with its
    Define-XML 2.0 metadata (define.xml: datasets, variables, codelists, derivations)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = adam_rows() if rows is None else rows
    paths = {name: write_dataset(rows[name], DATASETS[name], out / f"{name}.csv") for name in DATASETS}
    protocol = current_protocol()
    arm_ids = protocol.randomization.arms if protocol.randomization else [a.id for a in protocol.arms]
    document = define_xml(
        DATASETS, study_oid=protocol.id, study_name=protocol.id, protocol_name=protocol.brief_title or protocol.title,
        description=f"ADaM datasets of {protocol.id}, exported by hepatrial" + (" - SIMULATED DATA (the demo trial)" if is_simulated() else ""),
        created=timezone.now().isoformat(timespec="seconds"),
        params=param_values(list(protocol.parameter("survival_horizons_days", [84, 168]))),
        arms=[(a, arm_label(a)) for a in arm_ids],
        lengths={name: observed_lengths(rows[name], DATASETS[name]) for name in DATASETS},
    )  # fmt: skip
    (out / "define.xml").write_text(document, encoding="utf-8")
    paths["define"] = out / "define.xml"
    if is_simulated():  # the mark travels with the files (analyze --adam reads it back)
        (out / SIMULATED_FILE).write_text(SIMULATED_NOTICE + "\n", encoding="utf-8")
        paths["simulated"] = out / SIMULATED_FILE
    return paths
