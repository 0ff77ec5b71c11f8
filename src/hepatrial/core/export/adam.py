"""CDISC ADaM analysis datasets from the trial's records: ADSL, ADTTE, ADLB, ADAE, ADEX.

Pure: plain records in (see :class:`SubjectData`), rows out, in the ADaM
Implementation Guide's variable names (ADaM IG v1.3; ADTTE per the ADaM BDS for
time-to-event, CNSR 0 = event, 1 = censored). Dates are ISO 8601 text; study
days (ADY) count day 0 as the randomization date, so the day after is 1 and
the day before is -1 (hepatrial's day-0 convention, stated in every dataset's
ADY label). Values are in hepatrial's canonical units.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.safety.ctcae import LAB_TERMS, CtcaeInputError, grade_lab
from hepatrial.core.scores.meld import meld
from hepatrial.core.units import BILIRUBIN_UMOL_L_PER_MG_DL, CREATININE_UMOL_L_PER_MG_DL

#: The default study id (SubjectData.study: the protocol's id, set by services.adam_export).
STUDYID = "NCT05940610"

#: hepatrial lab test -> (ADaM PARAMCD, PARAM). PARAMCD is at most 8 characters (ADaM IG).
LAB_PARAMS: dict[str, tuple[str, str]] = {
    "total_bilirubin": ("BILI", "Total bilirubin (umol/L)"),
    "inr": ("INR", "INR"),
    "prothrombin_activity": ("PTA", "Prothrombin activity (%)"),
    "creatinine": ("CREAT", "Creatinine (umol/L)"),
    "sodium": ("SODIUM", "Sodium (mmol/L)"),
    "albumin": ("ALB", "Albumin (g/L)"),
    "alt": ("ALT", "Alanine aminotransferase (U/L)"),
    "ast": ("AST", "Aspartate aminotransferase (U/L)"),
    "alkaline_phosphatase": ("ALP", "Alkaline phosphatase (U/L)"),
    "platelets": ("PLAT", "Platelets (10^9/L)"),
    "wbc": ("WBC", "Leukocytes (10^9/L)"),
    "neutrophils": ("NEUT", "Neutrophils (10^9/L)"),
    "hemoglobin": ("HGB", "Hemoglobin (g/L)"),
    "urea": ("UREA", "Urea (mmol/L)"),
}
MELD_PARAM = ("MELD", "MELD score (OPTN, from the panel's bilirubin, creatinine, INR)")

#: CTCAE v5.0 terms of a reaction to an infusion (ADAE IRR24FL and the primary safety outcome).
INFUSION_TERMS = frozenset({"Infusion related reaction", "Allergic reaction", "Anaphylaxis", "Cytokine release syndrome"})
#: Investigator's causality that counts as related to the study product.
RELATED = frozenset({"possible", "probable", "definite"})
#: The AE form's choices as CDISC controlled terms: AEOUT (codelist OUT, C66768), AEACN (ACN, C66767;
#: "DOSE NOT GIVEN" is a sponsor extension: a dose skipped, not an infusion interrupted) and AEREL
#: (sponsor-defined, as the ADaM IG leaves it).
AE_OUTCOMES = {"recovered": "RECOVERED/RESOLVED", "recovering": "RECOVERING/RESOLVING",
               "not_recovered": "NOT RECOVERED/NOT RESOLVED", "sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
               "fatal": "FATAL", "unknown": "UNKNOWN"}  # fmt: skip
AE_ACTIONS = {"none": "DOSE NOT CHANGED", "interrupted": "DRUG INTERRUPTED", "not_given": "DOSE NOT GIVEN",
              "withdrawn": "DRUG WITHDRAWN", "not_applicable": "NOT APPLICABLE"}  # fmt: skip
AE_RELATIONSHIPS = {"unrelated": "NOT RELATED", "unlikely": "UNLIKELY RELATED", "possible": "POSSIBLY RELATED",
                    "probable": "PROBABLY RELATED", "definite": "RELATED"}  # fmt: skip


@dataclass(frozen=True)
class LabSample:
    visit_id: str
    visit_label: str
    visit_num: float
    sampled_on: date
    values: dict[str, float]  # hepatrial lab test -> value (canonical unit)


@dataclass(frozen=True)
class AdverseEvent:
    seq: int
    term: str
    soc: str
    grade: int | None
    serious: bool | None
    relationship: str | None
    onset: date | None
    resolved: date | None
    outcome: str | None
    action: str | None


@dataclass(frozen=True)
class Infusion:
    """One infusion given (the dosing form), times in the site's local time."""

    visit_id: str
    visit_label: str
    visit_num: float
    start: datetime | None
    stop: datetime | None
    volume_ml: float | None = None
    particles: float | None = None
    lot: str = ""
    interrupted: bool | None = None
    reaction: bool | None = None
    product: str = ""  # the dosing form's product (the arm it belongs to is the arm treated)


@dataclass(frozen=True)
class SubjectData:
    """What the datasets need of one enrolled subject."""

    subject_id: str
    site: str
    age: int | None
    sex: str | None
    presentation: str | None
    arm: str | None  # arm id, None when not randomized
    arm_label: str | None
    randomized_on: date | None
    doses: list[date] = field(default_factory=list)  # dates of infusions given
    doses_planned: int = 4
    major_deviations: int = 0
    died_on: date | None = None
    transplanted_on: date | None = None
    last_known_alive: date | None = None
    labs: list[LabSample] = field(default_factory=list)
    adverse_events: list[AdverseEvent] = field(default_factory=list)
    dialysis: bool = False
    death_cause: str = ""
    death_domain: str = ""  # "DS": the outcome form; "AE": a fatal adverse event (core.safety.death)
    withdrawn_on: date | None = None
    withdrawal_scope: str = ""  # "no_further_treatment" | "no_further_data"
    infusions: list[Infusion] = field(default_factory=list)
    dosing_ends_day: int | None = None  # the last study day a planned infusion may be given (last dose visit + window)
    follow_up_day: int | None = None  # the last scheduled visit's day
    follow_up_window: int = 0  # that visit's window, days on either side (the protocol's windows are symmetric)
    last_dose_window: tuple[int, int] | None = None  # the last dosing visit's window (first and last study day)
    study: str = STUDYID  # STUDYID: the protocol's id
    actual_arm: str | None = None  # the arm whose product was infused, when not the allocated one (its id) ...
    actual_arm_label: str | None = None  # ... and its label


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _ady(d: date | None, day0: date | None) -> int | str:
    """Study day with day 0 = randomization (hepatrial's convention)."""
    return (d - day0).days if d and day0 else ""


def _flag(b: bool) -> str:
    return "Y" if b else "N"


def meld_of(values: dict[str, float], dialysis: bool = False) -> int | None:
    """OPTN MELD of one panel (None unless bilirubin, creatinine and INR are all there)."""
    try:
        return meld(
            bilirubin_mg_dl=values["total_bilirubin"] / BILIRUBIN_UMOL_L_PER_MG_DL,
            creatinine_mg_dl=values["creatinine"] / CREATININE_UMOL_L_PER_MG_DL,
            inr=values["inr"], dialysis_twice_past_week=dialysis,
        ).value  # fmt: skip
    except KeyError:
        return None


def baseline_record(s: SubjectData, value_of) -> tuple[LabSample, float] | None:
    """The last sample on or before randomization with a value (``value_of(sample)``, None
    when it has none) and that value: ADaM's ABLFL record. None before randomization."""
    if s.randomized_on is None:
        return None
    before = [(lab, v) for lab in s.labs if lab.sampled_on <= s.randomized_on and (v := value_of(lab)) is not None]
    return max(before, key=lambda t: (t[0].sampled_on, t[0].visit_num), default=None)


def baseline_sample(s: SubjectData, test: str) -> tuple[LabSample, float] | None:
    """The baseline record of one lab test (:func:`baseline_record`)."""
    return baseline_record(s, lambda lab: lab.values.get(test))


def baseline_meld(s: SubjectData) -> tuple[LabSample, int] | None:
    """The baseline record of MELD: the last complete panel on or before randomization."""
    return baseline_record(s, lambda lab: meld_of(lab.values, s.dialysis))


# --- ADSL --------------------------------------------------------------------------------

ADSL_COLUMNS = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "STRAT1R", "ARM", "ARMCD", "ACTARM",
                "ACTARMCD", "TRT01P", "TRT01A", "RANDFL", "RANDDT", "TRTSDT", "TRTEDT", "TRTDURD", "NDOSE", "NDOSEPL",
                "ITTFL", "SAFFL", "PPROTFL", "BMELD", "BBILI", "BINR", "EOTSTT", "DCTREAS", "EOSSTT", "DCSREAS",
                "EOSDT", "DTHFL", "DTHDT", "DTHADY", "DTHCAUS", "DTHDOM", "TRANSDT", "LSTALVDT", "DCUTDT"]  # fmt: skip


@dataclass(frozen=True)
class Disposition:
    """End of treatment and end of study (ADSL EOTSTT/DCTREAS, EOSSTT/DCSREAS/EOSDT), as of a cut-off date."""

    treatment: str  # COMPLETED | DISCONTINUED | ONGOING ("" when not randomized)
    treatment_reason: str
    study: str
    study_reason: str
    study_end: date | None


def disposition(s: SubjectData, cutoff: date) -> Disposition:
    """Treatment is completed with every planned infusion, or with an infusion in the last
    dosing visit's window (an earlier dose missed: the treatment period was completed; NDOSE
    says how many were given); it is discontinued by death, liver transplantation, withdrawal
    of consent, or by the last dosing window closing without an infusion; otherwise ongoing.
    The study is completed when the subject is known alive within the last scheduled visit's
    window (or later); discontinued by death, by withdrawal of consent to further data, or
    lost to follow-up when that window closed (before the cut-off) with no news; otherwise
    ongoing. A liver transplantation ends treatment, not follow-up (overall survival is
    still followed). An enrolled subject never randomized has no treatment status; their
    study ends with a withdrawal or a death."""
    if s.arm is None or s.randomized_on is None:
        if s.withdrawn_on is not None:
            return Disposition("", "", "DISCONTINUED", "WITHDRAWAL BY SUBJECT", s.withdrawn_on)
        if s.died_on is not None:
            return Disposition("", "", "DISCONTINUED", "DEATH", s.died_on)
        return Disposition("", "", "", "", None)
    day0 = s.randomized_on
    stops = [(d, r) for d, r in ((s.died_on, "DEATH"), (s.transplanted_on, "LIVER TRANSPLANTATION"),
                                 (s.withdrawn_on, "WITHDRAWAL BY SUBJECT")) if d is not None]  # fmt: skip
    if s.dosing_ends_day is not None and cutoff > (closed := day0 + timedelta(days=s.dosing_ends_day)):
        stops.append((closed, "INFUSIONS NOT GIVEN"))
    last_window = s.last_dose_window
    dosed_last = last_window is not None and any(last_window[0] <= (d - day0).days <= last_window[1] for d in s.doses)
    if len(s.doses) >= s.doses_planned or dosed_last:
        treatment, t_reason = "COMPLETED", ""
    elif stops:  # what came first stopped the infusions
        treatment, t_reason = "DISCONTINUED", min(stops)[1]
    else:
        treatment, t_reason = "ONGOING", ""
    last = s.last_known_alive
    if s.died_on is not None:
        study, s_reason, end = "DISCONTINUED", "DEATH", s.died_on
    elif s.withdrawn_on is not None and s.withdrawal_scope == "no_further_data":
        study, s_reason, end = "DISCONTINUED", "WITHDRAWAL BY SUBJECT", s.withdrawn_on
    elif s.follow_up_day is not None and last is not None and (last - day0).days >= s.follow_up_day - s.follow_up_window:
        study, s_reason, end = "COMPLETED", "", last
    elif s.follow_up_day is not None and cutoff > day0 + timedelta(days=s.follow_up_day + s.follow_up_window):
        study, s_reason, end = "DISCONTINUED", "LOST TO FOLLOW-UP", last
    else:
        study, s_reason, end = "ONGOING", "", None
    return Disposition(treatment, t_reason, study, s_reason, end)


def adsl(subjects: list[SubjectData], cutoff: date | None = None) -> list[dict[str, Any]]:
    """One row per enrolled subject. ITTFL: randomized (analysed as randomized);
    SAFFL: at least one infusion given (analysed as treated); PPROTFL: every planned
    infusion given and no major protocol deviation. ``cutoff``: the data cut-off date
    the disposition is judged at (default: the latest date in the records)."""
    if cutoff is None:
        cutoff = max((d for s in subjects for d in (s.last_known_alive, s.died_on, s.withdrawn_on, *s.doses) if d),
                     default=date.today())  # fmt: skip
    rows = []
    for s in sorted(subjects, key=lambda s: s.subject_id):
        randomized = s.arm is not None
        bili = baseline_sample(s, "total_bilirubin")
        inr = baseline_sample(s, "inr")
        bmeld = (baseline_meld(s) or (None, None))[1]
        disp = disposition(s, cutoff)
        actual = s.actual_arm_label or s.arm_label
        actual_code = s.actual_arm or s.arm
        rows.append({
            "STUDYID": s.study, "USUBJID": f"{s.study}-{s.subject_id}", "SUBJID": s.subject_id, "SITEID": s.site,
            "AGE": s.age if s.age is not None else "", "AGEU": "YEARS" if s.age is not None else "",
            "SEX": {"male": "M", "female": "F"}.get(s.sex or "", "U"), "STRAT1R": s.presentation or "",
            # SDTMIG 3.2 values for the unassigned and the untreated
            "ARM": s.arm_label or "Not Assigned", "ARMCD": (s.arm or "NOTASSGN").upper(),
            "ACTARM": (actual if s.doses else "Not Treated") if randomized else "Not Assigned",
            "ACTARMCD": ((actual_code or "").upper() if s.doses else "NOTTRT") if randomized else "NOTASSGN",
            "TRT01P": s.arm_label or "", "TRT01A": actual if s.doses else "",
            "RANDFL": _flag(randomized), "RANDDT": _iso(s.randomized_on),
            "TRTSDT": _iso(min(s.doses)) if s.doses else "", "TRTEDT": _iso(max(s.doses)) if s.doses else "",
            "TRTDURD": (max(s.doses) - min(s.doses)).days + 1 if s.doses else "",
            "NDOSE": len(s.doses), "NDOSEPL": s.doses_planned if randomized else "",
            "ITTFL": _flag(randomized), "SAFFL": _flag(randomized and bool(s.doses)),
            "PPROTFL": _flag(randomized and len(s.doses) >= s.doses_planned and s.major_deviations == 0),
            "BMELD": bmeld if bmeld is not None else "",
            "BBILI": bili[1] if bili else "", "BINR": inr[1] if inr else "",
            "EOTSTT": disp.treatment, "DCTREAS": disp.treatment_reason, "EOSSTT": disp.study,
            "DCSREAS": disp.study_reason, "EOSDT": _iso(disp.study_end),
            "DTHFL": "Y" if s.died_on is not None else "", "DTHDT": _iso(s.died_on),
            "DTHADY": _ady(s.died_on, s.randomized_on), "DTHCAUS": s.death_cause if s.died_on else "",
            "DTHDOM": s.death_domain if s.died_on else "", "TRANSDT": _iso(s.transplanted_on),
            "LSTALVDT": _iso(s.last_known_alive), "DCUTDT": _iso(cutoff),
        })  # fmt: skip
    return rows


# --- ADTTE -------------------------------------------------------------------------------

ADTTE_COLUMNS = ["STUDYID", "USUBJID", "SUBJID", "TRTP", "TRT01P", "STRAT1R", "PARAMCD", "PARAM", "PARAMN", "STARTDT", "ADT",
                 "AVAL", "AVALU", "CNSR", "EVNTDESC", "CNSRDESC"]  # fmt: skip


def adtte(subjects: list[SubjectData], horizons: list[int]) -> list[dict[str, Any]]:
    """Transplant-free survival (death or liver transplantation) and overall survival,
    each to every horizon day (e.g. 84 and 168): AVAL days from randomization to the
    event, or to the last date known alive (capped at the horizon) when censored."""
    rows = []
    for s in sorted(subjects, key=lambda s: s.subject_id):
        if s.arm is None or s.randomized_on is None:
            continue
        for h, horizon in enumerate(horizons):
            for k, (code, label, events) in enumerate((
                (f"TFS{horizon}", f"Transplant-free survival to day {horizon}", ("death", "transplant")),
                (f"OS{horizon}", f"Overall survival to day {horizon}", ("death",)),
            )):
                candidates = []
                if "death" in events and s.died_on:
                    candidates.append((s.died_on, "Death"))
                if "transplant" in events and s.transplanted_on:
                    candidates.append((s.transplanted_on, "Liver transplantation"))
                first = min(candidates) if candidates else None
                day0 = s.randomized_on
                if first is not None and (first[0] - day0).days <= horizon:
                    adt, cnsr, evnt, cdesc = first[0], 0, first[1], ""
                else:
                    last = s.last_known_alive or day0
                    if first is not None:  # the event came after the horizon: alive and event-free at the horizon
                        last = max(last, first[0])
                    capped = min((last - day0).days, horizon)
                    adt, cnsr, evnt = date.fromordinal(day0.toordinal() + capped), 1, ""
                    cdesc = f"Event-free at day {horizon}" if capped == horizon else "Last known alive"
                rows.append({
                    "STUDYID": s.study, "USUBJID": f"{s.study}-{s.subject_id}", "SUBJID": s.subject_id,
                    "TRTP": s.arm_label, "TRT01P": s.arm_label, "STRAT1R": s.presentation or "", "PARAMCD": code,
                    "PARAM": label, "PARAMN": 2 * h + k + 1, "STARTDT": _iso(day0), "ADT": _iso(adt), "AVAL": (adt - day0).days, "AVALU": "DAYS",
                    "CNSR": cnsr, "EVNTDESC": evnt, "CNSRDESC": cdesc,
                })  # fmt: skip
    return rows


# --- ADLB --------------------------------------------------------------------------------

ADLB_COLUMNS = ["STUDYID", "USUBJID", "SUBJID", "TRTP", "PARAMCD", "PARAM", "PARAMN", "AVISIT", "AVISITN", "ADT", "ADY",
                "AVAL", "AVALU", "BASE", "CHG", "PCHG", "ABLFL", "ANL01FL", "ANRLO", "ANRHI", "ATOXGR", "BTOXGR",
                "ATOXDSCH", "ATOXGRL", "ATOXGRH", "BTOXGRL", "BTOXGRH"]  # fmt: skip


def adlb(subjects: list[SubjectData], ranges: dict[tuple[str, str, str], tuple[float | None, float | None]] | None = None) -> list[dict[str, Any]]:
    """Lab values by visit with their baseline (last value on or before randomization),
    change from baseline and CTCAE v5.0 grade (``ranges``: (site, test, sex) ->
    (LLN, ULN); sex "any" is the fallback), plus a derived MELD parameter.
    ATOXGR is the worst grade over the test's CTCAE terms (ATOXDSCH names it);
    ATOXGRL / ATOXGRH the grade of its low / high direction (white cells and haemoglobin
    are graded both ways). ANL01FL marks the record analysed for a visit: the first
    sample of each subject, parameter and visit (AVISITN)."""
    ranges = ranges or {}
    rows = []
    for s in sorted(subjects, key=lambda s: s.subject_id):
        day0 = s.randomized_on
        for paramn, (test, (code, label)) in enumerate([*LAB_PARAMS.items(), ("__meld__", MELD_PARAM)], start=1):
            if test == "__meld__":
                series = [(lab, meld_of(lab.values, s.dialysis)) for lab in s.labs]
                base_lab, base = baseline_meld(s) or (None, None)
                unit = ""
            else:
                series = [(lab, lab.values.get(test)) for lab in s.labs]
                base_lab, base = baseline_sample(s, test) or (None, None)
                unit = LAB_TESTS[test].canonical_unit if test in LAB_TESTS else ""
            lln, uln = ranges.get((s.site, test, s.sex or ""), ranges.get((s.site, test, "any"), (None, None)))
            # the baseline record's own grade, by the same rule as every record (so ATOXGR = BTOXGR there)
            base_grades = _grades(test, base, lln, uln, base) if base is not None else {}
            seen_visits: set[float] = set()
            for lab, value in sorted(series, key=lambda t: (t[0].sampled_on, t[0].visit_num)):
                if value is None:
                    continue
                grades = _grades(test, value, lln, uln, base)
                worst = max(grades.values(), key=lambda g: g[0]) if grades else None
                post = base is not None and base_lab is not None and lab.sampled_on > base_lab.sampled_on
                first_of_visit = lab.visit_num not in seen_visits
                seen_visits.add(lab.visit_num)
                rows.append({
                    "STUDYID": s.study, "USUBJID": f"{s.study}-{s.subject_id}", "SUBJID": s.subject_id,
                    "TRTP": s.arm_label or "", "PARAMCD": code, "PARAM": label, "PARAMN": paramn,
                    "AVISIT": lab.visit_label, "AVISITN": lab.visit_num, "ADT": _iso(lab.sampled_on),
                    "ADY": _ady(lab.sampled_on, day0), "AVAL": value, "AVALU": "ratio" if unit == "ratio" else unit,
                    "BASE": base if base is not None else "",
                    # change from baseline on post-baseline records only (ADaM BDS)
                    "CHG": round(value - base, 10) if post else "",
                    "PCHG": round(100 * (value - base) / base, 6) if post and base != 0 else "",
                    "ABLFL": "Y" if lab is base_lab else "", "ANL01FL": "Y" if first_of_visit else "",
                    "ANRLO": lln if lln is not None else "", "ANRHI": uln if uln is not None else "",
                    "ATOXGR": worst[0] if worst else "",
                    "BTOXGR": max(g[0] for g in base_grades.values()) if base_grades else "",
                    "ATOXDSCH": worst[1] if worst else "",
                    "ATOXGRL": grades["L"][0] if "L" in grades else "", "ATOXGRH": grades["H"][0] if "H" in grades else "",
                    "BTOXGRL": base_grades["L"][0] if "L" in base_grades else "",
                    "BTOXGRH": base_grades["H"][0] if "H" in base_grades else "",
                })  # fmt: skip
    return rows


def _direction(term: str) -> str:
    """"L" for a CTCAE term graded below a limit (a decrease), "H" above one."""
    return "L" if all(c.op == "<" for c in LAB_TERMS[term].criteria) else "H"


def _grades(test: str, value: float, lln, uln, base) -> dict[str, tuple[int, str]]:
    """Direction ("L" / "H") -> (the worst CTCAE grade over the test's terms that way, its term);
    empty if the test is not graded (no term, or a reference range it needs is missing)."""
    if test not in LAB_TESTS:
        return {}
    try:
        graded = [g for g in grade_lab(test, float(value), uln=uln, lln=lln, baseline=base) if g.grade is not None]
    except CtcaeInputError:
        return {}
    out: dict[str, tuple[int, str]] = {}
    for g in graded:
        way = _direction(g.term)
        if way not in out or g.grade > out[way][0]:
            out[way] = (g.grade, g.term)
    return out


# --- ADAE --------------------------------------------------------------------------------

ADAE_COLUMNS = ["STUDYID", "USUBJID", "SUBJID", "TRTA", "AESEQ", "AEDECOD", "AEBODSYS", "AETOXGR", "AESER", "AEREL",
                "ASTDT", "ASTDY", "AENDT", "AEOUT", "AEACN", "TRTEMFL", "IRR24FL"]  # fmt: skip


def _term(terms: dict[str, str], value: str | None) -> str:
    """The controlled term of a form value; a value the map lacks is kept, in upper case (never dropped)."""
    return terms.get(value or "", (value or "").upper())


def follows_dose(days_after_dose: int) -> bool:
    """An onset this many days after an infusion's day is "within 24 h" of it: that day or the next."""
    return 0 <= days_after_dose <= 1


def infusion_related_within_24h(ae: AdverseEvent, doses: list[date]) -> bool:
    """An infusion-related toxicity within 24 hours of a dose: an infusion-reaction term
    (:data:`INFUSION_TERMS`), or any event the investigator judged related to the study
    product, with onset on the day of an infusion or the day after. The AE form records
    the onset date only, so "within 24 h" is read as "that day or the next": it counts
    every event within 24 h, and a few up to 48 h (conservative for a safety outcome)."""
    if ae.onset is None or not (ae.term in INFUSION_TERMS or (ae.relationship or "") in RELATED):
        return False
    return any(follows_dose((ae.onset - d).days) for d in doses)


def adae(subjects: list[SubjectData]) -> list[dict[str, Any]]:
    """Adverse events with CTCAE v5.0 term (AEDECOD) and SOC; TRTEMFL: onset on or
    after the first infusion; IRR24FL: :func:`infusion_related_within_24h`."""
    rows = []
    for s in sorted(subjects, key=lambda s: s.subject_id):
        first = min(s.doses) if s.doses else None
        for ae in sorted(s.adverse_events, key=lambda a: a.seq):
            rows.append({
                "STUDYID": s.study, "USUBJID": f"{s.study}-{s.subject_id}", "SUBJID": s.subject_id,
                "TRTA": (s.actual_arm_label or s.arm_label) if s.doses else "", "AESEQ": ae.seq, "AEDECOD": ae.term, "AEBODSYS": ae.soc,
                "AETOXGR": ae.grade if ae.grade is not None else "", "AESER": {True: "Y", False: "N"}.get(ae.serious, ""),
                "AEREL": _term(AE_RELATIONSHIPS, ae.relationship), "ASTDT": _iso(ae.onset),
                "ASTDY": _ady(ae.onset, s.randomized_on), "AENDT": _iso(ae.resolved), "AEOUT": _term(AE_OUTCOMES, ae.outcome),
                "AEACN": _term(AE_ACTIONS, ae.action),
                # conservative: an AE with no onset date after dosing began counts as treatment-emergent
                "TRTEMFL": "Y" if first and (ae.onset is None or ae.onset >= first) else "",
                "IRR24FL": "Y" if infusion_related_within_24h(ae, s.doses) else "",
            })  # fmt: skip
    return rows


# --- ADEX --------------------------------------------------------------------------------

ADEX_COLUMNS = ["STUDYID", "USUBJID", "SUBJID", "TRTP", "TRTA", "ASEQ", "PARAMCD", "PARAM", "AVISIT", "AVISITN",
                "ASTDTM", "AENDTM", "ASTDT", "ASTDY", "AVAL", "AVALU", "EXDOSE", "EXDOSU", "EXTRT", "EXLOT", "INTRPFL",
                "IRRFL"]  # fmt: skip


def _dtm(d: datetime | None) -> str:
    return d.replace(tzinfo=None).isoformat(timespec="minutes") if d else ""


def adex(subjects: list[SubjectData]) -> list[dict[str, Any]]:
    """One record per infusion given: the volume infused (PARAMCD VOLUME, mL), particles
    (EXDOSE), lot, start and stop in the site's local time, whether it was interrupted
    and whether the dosing form recorded an infusion reaction (IRRFL)."""
    rows = []
    for s in sorted(subjects, key=lambda s: s.subject_id):
        infusions = sorted(s.infusions, key=lambda i: (i.start or datetime.min, i.visit_num))
        for seq, inf in enumerate(infusions, start=1):
            start = inf.start.date() if inf.start else None
            rows.append({
                "STUDYID": s.study, "USUBJID": f"{s.study}-{s.subject_id}", "SUBJID": s.subject_id,
                "TRTP": s.arm_label or "", "TRTA": s.actual_arm_label or s.arm_label or "", "ASEQ": seq, "PARAMCD": "VOLUME",
                "PARAM": "Volume infused (mL)", "AVISIT": inf.visit_label, "AVISITN": inf.visit_num,
                "ASTDTM": _dtm(inf.start), "AENDTM": _dtm(inf.stop), "ASTDT": _iso(start),
                "ASTDY": _ady(start, s.randomized_on), "AVAL": inf.volume_ml if inf.volume_ml is not None else "",
                "AVALU": "mL", "EXDOSE": inf.particles if inf.particles is not None else "",
                "EXDOSU": "PARTICLES" if inf.particles is not None else "", "EXTRT": inf.product.upper(), "EXLOT": inf.lot,
                "INTRPFL": {True: "Y", False: "N"}.get(inf.interrupted, ""),
                "IRRFL": {True: "Y", False: "N"}.get(inf.reaction, ""),
            })  # fmt: skip
    return rows


DATASETS = {"adsl": ADSL_COLUMNS, "adtte": ADTTE_COLUMNS, "adlb": ADLB_COLUMNS, "adae": ADAE_COLUMNS, "adex": ADEX_COLUMNS}


def write_dataset(rows: list[dict[str, Any]], columns: list[str], path: Path) -> Path:
    """One dataset as CSV (UTF-8, header of ADaM variable names, one row per record)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
    return path
