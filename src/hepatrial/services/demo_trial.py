"""A simulated trial in the demo database, so that a newcomer can see every page and
the analysis report with data in them (``hepatrial demo-trial``).

Every record is made by the same named actions a site uses (screen, decide, consent,
enroll, randomize, save forms, report SAEs, record the DSMB's decision), as the demo
users, every subject's events in one queue run in the order of time with the clock
moved to each moment (time-machine): the audit trail, the visit windows, the SAE
clocks and the stopping rules all see a trial that ran over the past months. It
refuses any database but a fresh demo one (the demo site only, nothing screened yet,
the demo's own allocation list), and it is one transaction: simulated subjects never
mix with real ones, and a failure writes nothing.

The data are invented: candidates drawn around the protocol's entry windows (so some
fail screening), and courses of bilirubin, INR and creatinine that improve or worsen
by chance, with deaths, a transplantation, missed doses, infusion reactions,
infections and SAEs at rates chosen to look like an ACLF trial of 20, not taken from
any trial. The arms differ a little by design (MSC-EV subjects recover slightly
faster); nothing about MSC-EVs can be learnt from them.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from hepatrial.services.access import Actor
from hepatrial.services.accounts import DEMO_SITE, SYSTEM
from hepatrial.services.audit import record
from hepatrial.services.enrollment import (
    do_enroll,
    do_record_consent,
    do_withdraw_consent,
)
from hepatrial.services.errors import ActionError
from hepatrial.services.forms import do_save_form
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import do_randomize
from hepatrial.services.safety import (
    do_record_dsmb_decision,
    do_submit_sae_report,
    dosing_halt,
)
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import (
    AllocationList,
    FormEntry,
    Screening,
    Site,
    Subject,
)

#: Days from the first randomization to today: the early subjects finish their 24 weeks.
SPAN_DAYS = 240
#: The audit action that marks a database as holding the simulated trial (the report says so).
SIMULATED_ACTION = "simulate_demo_trial"
#: The file name of the demo's own allocation list (hepatrial serve / demo-trial make it).
DEMO_LIST_FILE = "demo-allocation-list.csv"
#: The demo users the simulation acts as.
DEMO_USERS_NEEDED = ("coordinator", "investigator", "dsmb")
#: Hard limits of the lab form the simulated values stay inside.
LAB_LIMITS = {"total_bilirubin": (5.0, 1500.0), "creatinine": (30.0, 900.0), "inr": (0.8, 6.0)}


def is_simulated() -> bool:
    """Does this database hold the simulated demo trial?"""
    from hepatrial.web.trial.models import AuditEvent

    return AuditEvent.objects.filter(action=SIMULATED_ACTION).exists()


@dataclass
class DemoSummary:
    screened: int = 0
    enrolled: int = 0
    randomized: int = 0
    forms: int = 0
    adverse_events: int = 0
    deaths: int = 0


class NotADemoDatabase(ActionError):
    """The database is not a fresh demo one: nothing is simulated into it."""


def check_demo_database() -> Site:
    """The demo site, if the database is a fresh demo one; NotADemoDatabase otherwise.

    A fresh demo database: the demo site only, nothing screened yet, the demo users, and the
    allocation list ``serve`` or ``demo-trial`` made for the demo (DEMO_LIST_FILE). The real
    trial's database has the same site code (SYSU3) but the statistician's list: refused."""
    sites = list(Site.objects.all())
    if [s.code for s in sites] != [DEMO_SITE["code"]]:
        raise NotADemoDatabase(f"The simulated trial goes only into the demo database (the demo site {DEMO_SITE['code']} and "
                               f"no other); this one has sites {[s.code for s in sites]}.")  # fmt: skip
    if Screening.objects.exists():
        raise NotADemoDatabase("The simulated trial goes only into a fresh demo database: this one has screenings already.")
    lists = list(AllocationList.objects.values_list("file_name", flat=True))
    if lists != [DEMO_LIST_FILE]:
        raise NotADemoDatabase(f"The simulated trial goes only into a fresh demo database, whose allocation list is the demo's "
                               f"({DEMO_LIST_FILE}); this one has {lists or 'none'}: a real trial's list is never used.")  # fmt: skip
    missing = sorted(set(DEMO_USERS_NEEDED) - set(get_user_model().objects.filter(username__in=DEMO_USERS_NEEDED)
                                                  .values_list("username", flat=True)))  # fmt: skip
    if missing:
        raise NotADemoDatabase(f"The simulated trial needs the demo users; missing: {', '.join(missing)}.")
    return sites[0]


def _candidate(rng: np.random.Generator, k: int, assessed: datetime) -> dict[str, Any]:
    """A candidate around the entry windows: most eligible, some not (age, MELD > 30, labs)."""
    acute = rng.random() < 0.2
    bili = float(rng.uniform(175, 420)) if rng.random() < 0.9 else float(rng.uniform(120, 170))
    inr = round(float(rng.uniform(1.55, 2.55)), 2) if rng.random() < 0.9 else round(float(rng.uniform(2.7, 3.2)), 2)
    pta = round(max(21.0, min(39.0, 55 - 11 * inr + rng.normal(0, 2))), 0)
    at = (assessed - timedelta(hours=2)).isoformat(timespec="minutes")
    before = (assessed - timedelta(hours=26)).isoformat(timespec="minutes")
    sex = "male" if rng.random() < 0.7 else "female"
    return {
        "id": f"DEMO-{k:03d}", "assessed_at": assessed.isoformat(timespec="minutes"),
        "age": int(rng.integers(18, 66)) if rng.random() < 0.9 else int(rng.integers(66, 75)), "sex": sex,
        "presentation": "ALF" if acute else "ACLF", "chronic_liver_disease": not acute,
        "weeks_insult_to_complication": None if acute else int(rng.integers(1, 4)),
        "weeks_symptoms_to_encephalopathy": int(rng.integers(1, 4)) if acute else None,
        "encephalopathy_grade": int(rng.integers(1, 3)) if acute else int(rng.integers(0, 2)),
        "ascites": "none" if acute else str(rng.choice(["none", "mild", "moderate"], p=[0.1, 0.5, 0.4])), "dialysis_twice_past_week": False,
        "labs": [
            {"test": "total_bilirubin", "value": round(bili * 0.85, 0), "unit": "umol/L", "at": before},
            {"test": "total_bilirubin", "value": round(bili, 0), "unit": "umol/L", "at": at},
            {"test": "inr", "value": inr, "at": at},
            {"test": "prothrombin_activity", "value": pta, "unit": "%", "at": at},
            {"test": "creatinine", "value": round(float(rng.uniform(55, 150)), 0), "unit": "umol/L", "at": at},
            {"test": "sodium", "value": round(float(rng.uniform(128, 142)), 0), "unit": "mmol/L", "at": at},
            {"test": "albumin", "value": round(float(rng.uniform(24, 34)), 0), "unit": "g/L", "at": at},
            {"test": "wbc", "value": round(float(rng.uniform(4, 11)), 1), "unit": "10^9/L", "at": at},
            {"test": "neutrophils", "value": round(float(rng.uniform(2.5, 3.8)), 1), "unit": "10^9/L", "at": at},
            {"test": "urea", "value": round(float(rng.uniform(3, 9)), 1), "unit": "mmol/L", "at": at},
            {"test": "lactate", "value": round(float(rng.uniform(1, 2.5)), 1), "unit": "mmol/L", "at": at},
        ],
        "history": {"liver_cancer": False, "active_bleeding": False, "dic": False, "allergy_plasma_heparin_protamine": False,
                    "heart_disease": False, "lung_disease": False, "blood_disease": False, "autoimmune_disease": False,
                    "diabetes": False, "uncontrolled_infection": False},
    }  # fmt: skip


def _lab(candidate: dict, test: str) -> float:
    return float([x for x in candidate["labs"] if x["test"] == test][-1]["value"])


def _clamp(test: str, value: float) -> float:
    lo, hi = LAB_LIMITS[test]
    return min(max(value, lo), hi)


@dataclass
class _Course:
    """One subject's invented course: daily rates of change and the events."""

    bili0: float
    inr0: float
    creat0: float
    rate: float  # per 28 days, on the log scale: > 0 recovers
    death_day: int | None
    transplant_day: int | None
    noise: np.random.Generator

    def labs(self, day: int) -> dict[str, float]:
        worsening = self.death_day is not None and day > self.death_day / 2
        rate = -0.4 if worsening else self.rate
        f = math.exp(-rate * day / 28 + self.noise.normal(0, 0.08))
        inr = 1.05 + (self.inr0 - 1.05) * math.exp(-rate * day / 28 + self.noise.normal(0, 0.06))
        return {"total_bilirubin": round(_clamp("total_bilirubin", self.bili0 * f), 0), "inr": round(_clamp("inr", inr), 2),
                "prothrombin_activity": round(max(10.0, min(100.0, 100 / inr ** 1.6)), 0),
                "creatinine": round(_clamp("creatinine", self.creat0 * math.exp(self.noise.normal(0, 0.12) + (0.4 if worsening else 0))), 0),
                "sodium": round(float(self.noise.uniform(129, 141)), 0), "albumin": round(float(self.noise.uniform(25, 36)), 0),
                "platelets": round(float(self.noise.uniform(45, 160)), 0), "wbc": round(float(self.noise.uniform(3.5, 12)), 1),
                "hemoglobin": round(float(self.noise.uniform(85, 135)), 0)}  # fmt: skip


def simulate_demo_trial(subjects: int = 20, seed: int = 1, progress: Callable[[str], None] | None = None) -> DemoSummary:
    """Screen candidates until ``subjects`` are randomized, and run every subject's visits up to
    today, all in the order of time (one queue of events), in one transaction: a failure leaves
    the database as it was."""
    site = check_demo_database()
    with transaction.atomic():
        # the audit trail says, for good, that this database holds simulated data
        record(SYSTEM, SIMULATED_ACTION, site, new={"subjects": subjects, "seed": seed}, site=site,
               reason="hepatrial demo-trial: simulated subjects for the demo")  # fmt: skip
        trial = _Trial(site, subjects, seed, progress or (lambda _text: None))
        trial.run()
    return trial.summary


class _Trial:
    """The simulation: a queue of (moment, action) run in time order with the clock at each moment."""

    def __init__(self, site: Site, subjects: int, seed: int, progress: Callable[[str], None]):
        self.site, self.subjects, self.progress = site, subjects, progress
        self.protocol = current_protocol()
        self.users = {name: Actor(get_user_model().objects.get(username=name), route="system") for name in DEMO_USERS_NEEDED}
        self.tz = ZoneInfo(site.time_zone)
        self.rng = np.random.default_rng(seed)
        self.now = datetime.now(self.tz)
        self.first = self.now.date() - timedelta(days=SPAN_DAYS)
        self.summary = DemoSummary()
        self.queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.candidates = 0
        self.withdrew_one = False

    # --- the queue --------------------------------------------------------------------------

    def at(self, day: date, hour: int, minute: int, action: Callable[[], None]) -> None:
        """Queue ``action`` for that moment (site time); a moment after now never comes."""
        moment = datetime.combine(day, time(hour, minute), self.tz)
        if moment <= self.now:
            heapq.heappush(self.queue, (moment, next(self.order), action))

    def run(self) -> None:
        import time_machine

        self.next_candidate(self.first - timedelta(days=1))
        while self.queue:
            moment, _order, action = heapq.heappop(self.queue)
            with time_machine.travel(moment, tick=False):
                action()

    def iso(self, day: date, hour: int, minute: int = 0) -> str:
        return datetime.combine(day, time(hour, minute), self.tz).isoformat(timespec="minutes")

    # --- screening to randomization ----------------------------------------------------------

    def next_candidate(self, after: date) -> None:
        """The next candidate, screened the day before their randomization day: randomizations are
        spread over the span, the last about two weeks ago."""
        if self.summary.randomized >= self.subjects:
            return
        spread = int(round((SPAN_DAYS - 14) * self.summary.randomized / max(self.subjects - 1, 1)))
        day = max(self.first + timedelta(days=spread + int(self.rng.integers(0, 3))) - timedelta(days=1), after)
        self.candidates += 1
        k = self.candidates
        self.at(day, 9, 0, lambda: self.screen(k, day))

    def screen(self, k: int, day: date) -> None:
        coordinator = self.users["coordinator"]
        screening = do_screen(coordinator, self.site, _candidate(self.rng, k, datetime.combine(day, time(8, 30), self.tz)))
        self.summary.screened += 1
        self.at(day, 11, 0, lambda: self.decide(screening, day))

    def decide(self, screening: Screening, day: date) -> None:
        investigator = self.users["investigator"]
        if screening.verdict != "eligible":
            do_decide_eligibility(investigator, screening, "not_eligible", "Screening criteria not met.")
            self.next_candidate(day + timedelta(days=1))
            return
        do_decide_eligibility(investigator, screening, "confirmed")
        if self.rng.random() < 0.12:  # eligible, declined consent: not enrolled
            self.next_candidate(day + timedelta(days=1))
            return
        self.at(day, 15, 0, lambda: self.enroll(screening, day))

    def enroll(self, screening: Screening, day: date) -> None:
        coordinator = self.users["coordinator"]
        version = max(self.protocol.consent_documents, key=lambda d: d.effective).version
        consent = do_record_consent(coordinator, screening, version, datetime.combine(day, time(14, 30), self.tz))
        subject = do_enroll(coordinator, screening)
        self.summary.enrolled += 1
        if not self.withdrew_one and self.summary.randomized >= self.subjects // 2:  # one withdraws before randomization
            self.withdrew_one = True
            self.at(day, 18, 0, lambda: self.withdraw(consent, day))
            return
        self.at(day + timedelta(days=1), 8, 0, lambda: self.randomize(subject, screening.candidate))

    def withdraw(self, consent, day: date) -> None:
        do_withdraw_consent(self.users["coordinator"], consent, datetime.combine(day, time(17, 45), self.tz),
                            "no_further_data", "Family decided against the trial before randomization.")  # fmt: skip
        self.next_candidate(day + timedelta(days=1))

    def randomize(self, subject: Subject, candidate: dict) -> None:
        slot = do_randomize(self.users["coordinator"], subject)
        subject.refresh_from_db()
        day0 = subject.anchor_date  # day 0: the randomization date
        self.summary.randomized += 1
        self.progress(f"{subject.subject_id} randomized on {day0} ({self.summary.randomized}/{self.subjects})")
        _follow(self, subject, slot.arm, day0, candidate)
        self.next_candidate(day0)

    # --- forms ------------------------------------------------------------------------------

    def save(self, subject: Subject, visit_id: str, form_id: str, values: dict, on: date, sequence: int = 1) -> FormEntry:
        actor = self.users["investigator" if form_id == "adverse_event" else "coordinator"]
        saved = do_save_form(actor, subject, visit_id, form_id, values, expected_version=None, visit_date=on, sequence=sequence)
        self.summary.forms += 1
        return saved.entry


def _follow(trial: _Trial, subject: Subject, arm: str, day0: date, candidate: dict) -> None:
    """Queue one subject's course: the visits, doses, adverse events and outcome forms."""
    rng, protocol = trial.rng, trial.protocol
    msc = arm == protocol.randomization.arms[0] if protocol.randomization else False
    dies = rng.random() < (0.20 if msc else 0.28)
    transplanted = not dies and rng.random() < 0.06
    course = _Course(_lab(candidate, "total_bilirubin"), _lab(candidate, "inr"), _lab(candidate, "creatinine"),
                     float(rng.normal(0.55 if msc else 0.40, 0.3)), int(rng.integers(6, 80)) if dies else None,
                     int(rng.integers(10, 60)) if transplanted else None, rng)  # fmt: skip
    stop = min(d for d in (course.death_day, course.transplant_day, 10_000) if d is not None)
    product = protocol.dosing.products[arm] if protocol.dosing else ""
    ae_count = itertools.count(1)

    def adverse_event(term: str, onset: date, grade: int, *, serious: bool = False, related: str = "unrelated",
                      outcome: str = "recovered", resolved: date | None = None, criterion: str = "sae_hospitalization") -> None:  # fmt: skip
        recorded = onset + timedelta(days=1)

        def record_it() -> None:
            sequence = next(ae_count)
            values = {"term": term, "onset_date": onset.isoformat(), "grade": str(grade), "serious": serious,
                      "relationship": related, "outcome": outcome, "expectedness": "expected",
                      "action_taken": "not_applicable" if related == "unrelated" else "none"}  # fmt: skip
            if resolved is not None and resolved <= recorded:
                values["resolution_date"] = resolved.isoformat()
            if serious:
                values.update({criterion: True, "awareness_datetime": trial.iso(recorded, 8)})
            entry = trial.save(subject, "adverse_events", "adverse_event", values, recorded, sequence=sequence)
            trial.summary.adverse_events += 1
            if serious:
                trial.at(recorded, 14, 0, lambda: report_sae(entry))

        def report_sae(entry) -> None:
            investigator = trial.users["investigator"]
            do_submit_sae_report(investigator, entry, "initial", f"{term} (grade {grade}) on {onset}; see the AE form.")
            if outcome == "fatal":
                do_submit_sae_report(investigator, entry, "death", f"Death from {term.lower()} on {onset}.")

        trial.at(recorded, 10, 0, record_it)

    for visit in protocol.visits:
        if visit.kind != "scheduled" or visit.day is None:
            continue
        jitter = int(rng.integers(-min(visit.window_before_days, 1), min(visit.window_after_days, 1) + 1)) if visit.day else 0
        on = day0 + timedelta(days=visit.day + jitter)
        if visit.day >= stop:  # after a death or a transplantation: the outcome visits only
            if "outcome_status" in visit.forms:
                event_day = day0 + timedelta(days=stop)
                values = ({"status": "died", "death_date": event_day.isoformat(), "death_cause": "Progressive liver failure"}
                          if course.death_day is not None else {"status": "transplanted", "transplant_date": event_day.isoformat()})
                # a death is known as of its date; a transplanted subject is known alive at this visit
                status_date = event_day if course.death_day is not None else on
                trial.at(on, 11, 0, lambda visit=visit, on=on, values={**values, "status_date": status_date.isoformat()}:
                         trial.save(subject, visit.id, "outcome_status", values, on))  # fmt: skip
            continue
        forms = {"sample_datetime": trial.iso(on, 7), **course.labs(visit.day)}
        clinical = {"west_haven_grade": int(rng.integers(0, 2)), "ascites": "mild", "systolic_bp": 118, "diastolic_bp": 72,
                    "heart_rate": 84, "temperature_c": 36.8}  # fmt: skip

        def visit_forms(visit=visit, on=on, labs=forms, clinical=clinical) -> None:
            if "lab_panel" in visit.forms:
                trial.save(subject, visit.id, "lab_panel", labs, on)
            if "clinical_status" in visit.forms:
                trial.save(subject, visit.id, "clinical_status", clinical, on)
            if "smt_given" in visit.forms:
                trial.save(subject, visit.id, "smt_given", {"albumin_infusion": True, "albumin_g": 20, "antiviral": "entecavir",
                                                            "nutrition_support": True, "liver_protective": False}, on)  # fmt: skip
            if "outcome_status" in visit.forms:
                trial.save(subject, visit.id, "outcome_status", {"status": "alive", "status_date": on.isoformat()}, on)

        trial.at(on, 9, 30, visit_forms)
        if visit.dose and "dosing" in visit.forms:
            reaction = rng.random() < (0.10 if msc else 0.04)
            values = _dose_values(trial, on, product, msc, reaction)
            trial.at(on, 10, 30, lambda visit=visit, on=on, values=values: _dose(trial, subject, visit.id, on, values))
            if reaction and values["administered"]:
                adverse_event("Infusion related reaction", on, int(rng.integers(1, 3)), related="probable",
                              resolved=on + timedelta(days=1))  # fmt: skip
    # events between the visits
    for term, p, grade, serious in (("Fever", 0.3, 1, False), ("Ascites", 0.2, 2, False),
                                    ("Sepsis", 0.12, 3, True), ("Lung infection", 0.15, 3, True)):  # fmt: skip
        if rng.random() < p:
            onset = int(rng.integers(2, 84))
            if onset < stop:
                adverse_event(term, day0 + timedelta(days=onset), grade, serious=serious,
                              resolved=day0 + timedelta(days=onset + int(rng.integers(3, 12))))  # fmt: skip
    if course.death_day is not None:
        adverse_event("Hepatic failure", day0 + timedelta(days=course.death_day), 5, serious=True, outcome="fatal",
                      criterion="sae_death")  # fmt: skip
        if day0 + timedelta(days=course.death_day + 1) <= trial.now.date():
            trial.summary.deaths += 1


def _dose_values(trial: _Trial, on: date, product: str, msc: bool, reaction: bool) -> dict:
    """One dosing form: usually given (09:00-10:05, 100 mL), sometimes not."""
    rng = trial.rng
    if rng.random() < 0.06:
        return {"administered": False, "not_given_reason": "Haemodynamically unstable on the day; the dose was not rescheduled."}
    values = {"administered": True, "product": product, "lot_number": f"{'EV' if msc else 'NS'}-2026-{int(rng.integers(1, 9)):02d}",
              "volume_ml": 100, "start_datetime": trial.iso(on, 9), "stop_datetime": trial.iso(on, 10, 5), "rate_ml_h": 92,
              "interrupted": False, "reaction": reaction}  # fmt: skip
    if msc:
        values["particle_count"] = 1e10
    if reaction:
        values["reaction_details"] = "Chills and a rise in temperature during the infusion; settled with the infusion slowed."
    return values


def _dose(trial: _Trial, subject: Subject, visit_id: str, on: date, values: dict) -> None:
    """Save a dose; a dosing pause is first put to the DSMB, who lets the trial continue (a real board
    would meet; the demo's decides the same day)."""
    halt = dosing_halt()
    if halt is not None and not hasattr(halt, "decision"):
        do_record_dsmb_decision(trial.users["dsmb"], halt, "continue", on, "Reviewed the events: not related to the study "
                                "product; dosing continues (simulated DSMB decision of the demo).")  # fmt: skip
    trial.save(subject, visit_id, "dosing", values, on)
