"""The analysis report from ADaM rows (and the screening log): sections in the
order a DSMB report or a journal's CONSORT-style report has them, and every
number also as JSON. Pure: rows in, :class:`~hepatrial.core.report.html.Report` and a dict out."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
from scipy import stats

from hepatrial.core.analysis.ancova import ancova_by_visit
from hepatrial.core.analysis.caveats import SMALL_ARM_SUBJECTS
from hepatrial.core.analysis.incidence import incidence_table
from hepatrial.core.analysis.mixed import (
    MixedModelInputError,
    arm_differences_by_visit,
    visit_by_arm_means,
)
from hepatrial.core.analysis.survival import (
    KaplanMeier,
    SurvivalInputError,
    compare_arms,
)
from hepatrial.core.export.adam import INFUSION_TERMS, follows_dose
from hepatrial.core.report.figures import km_svg, trajectory_svg
from hepatrial.core.report.html import (
    Block,
    Report,
    Section,
    caveat,
    consort_svg,
    figure_block,
    heading,
    note,
    table_block,
)
from hepatrial.core.report.tables import Table, ae_table, consort, table1
from hepatrial.core.safety.ctcae_terms import INFECTIONS

SAFETY_DAYS = 28  # the primary outcome's horizon for adverse and serious adverse events
INFECTION_DAYS = 84  # severe infections are an efficacy outcome to day 84
INFECTIONS_SOC = INFECTIONS  # the CTCAE v5.0 SOC of the severe-infection outcome
MULTIPLICITY = ("Multiplicity: the primary outcome is safety, described by its three components without a combined "
                "test. No p-value in this report is adjusted for multiplicity; none is confirmatory. The efficacy outcomes "
                "(survival, change in MELD, bilirubin and INR, severe infections) are secondary and exploratory.")  # fmt: skip
TRAJECTORIES = [("MELD", "MELD score", "points", False), ("BILI", "Total bilirubin", "umol/L", True), ("INR", "INR", "ratio", False)]


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _hr(x: Any) -> str:
    """A hazard ratio with two decimals."""
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _pct1(x: Any) -> str:
    """A probability as a percentage with one decimal (NA when not estimable)."""
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _days(x: Any) -> str:
    """A median in whole days; NR when the curve never reaches 0.5."""
    return "NR" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}"


def _p(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def build_report(*, title: str, protocol_id: str, arms: list[str], adsl: list[dict], adtte: list[dict], adlb: list[dict],
                 adae: list[dict] | None, screenings: list[dict], generated: str, at_days: list[float],
                 reason_labels: dict[str, str] | None = None, reference_arm: str | None = None,
                 adex: list[dict] | None = None, cutoff: str | None = None,
                 change_days: list[float] | None = None, protocol_outcomes: bool = True) -> tuple[Report, dict]:  # fmt: skip
    """``reference_arm``: the control arm (hazard ratios and risk differences read as the other arm vs it);
    ``adae`` None: not provided (the safety section says so instead of reporting no events); ``adex``:
    the infusions (per-infusion reaction counts; None: not provided); ``cutoff``: the data cut-off
    (ISO date) that decides which visits are due; ``change_days``: the visits at which change from
    baseline is compared between arms (a trial's protocol; None: no such comparison, e.g. PBC);
    ``protocol_outcomes`` False: another trial's data (e.g. the PBC replay), without NCT05940610's
    primary safety outcome and severe-infection sections."""
    numbers: dict[str, Any] = {"protocol": protocol_id, "arms": arms, "generated": generated}
    flow = consort(screenings, adsl, arms, reason_labels)
    n_by_arm = flow.allocated  # randomized, by arm
    caveats = []
    if any(n < SMALL_ARM_SUBJECTS for n in n_by_arm.values()):
        caveats.append("Small arms (" + ", ".join(f"{a}: {n}" for a, n in n_by_arm.items()) + "): every estimate is imprecise; "
                       "read the confidence intervals, not the point estimates, and no p-value here is confirmatory.")  # fmt: skip
    report = Report(title, f"{protocol_id} · analysis report", generated, caveats)

    numbers["consort"] = flow.__dict__
    report.sections.append(Section("Participant flow (CONSORT 2010)", [figure_block(consort_svg(flow), "CONSORT 2010 flow diagram.")]))

    report.sections.append(Section("Baseline characteristics", [table_block(table1(adsl, arms))]))
    follow_html, numbers["follow_up"] = _follow_up(adsl, adtte, adlb, arms, cutoff)
    report.sections.append(Section("Follow-up and data completeness", follow_html))

    if protocol_outcomes:
        primary_html, numbers["primary"] = _primary_outcome(adsl, adae, adex, arms, reference_arm, cutoff)
        report.sections.append(Section("Primary outcome: safety", primary_html))

    safety_html: list[Block] = []
    if adae is None:
        safety_html.append(note("ADAE was not provided: no adverse event can be reported (this is not 'no adverse events')."))
    else:
        safety_html.append(table_block(ae_table(adae, adsl, arms)))
        safety_html.append(table_block(ae_table(adae, adsl, arms, serious_only=True, title="Serious adverse events by CTCAE v5.0 term")))
        safety_html.append(table_block(ae_table(adae, adsl, arms, terms=set(INFUSION_TERMS), title="Infusion-related and allergic reactions")))
        severe = {e["USUBJID"] for e in adae if e.get("TRTEMFL") == "Y" and int(e.get("AETOXGR") or 0) >= 3}
        block, numbers["grade3_incidence"] = _incidence(
            "Subjects with a grade >= 3 treatment-emergent adverse event", "Safety", severe, _population(adsl, "SAFFL", "TRT01A"),
            arms, reference_arm)  # fmt: skip
        safety_html.append(block)
    report.sections.append(Section("Safety", safety_html))

    # time to event: the ITT population, arms as randomized (ADSL's TRT01P), never a row without an arm
    itt_arm = _population(adsl, "ITTFL", "TRT01P")
    efficacy_html: list[Block] = []
    numbers["time_to_event"] = {}
    # ADTTE's own order (PARAMN) when it has one, else transplant-free first
    paramn = {r["PARAMCD"]: _day(r.get("PARAMN")) for r in adtte}
    params = sorted(paramn, key=lambda p: (paramn[p] is None, paramn[p] or 0, not p.startswith("TFS"), p))
    for param in params:
        rows = [r for r in adtte if r["PARAMCD"] == param and itt_arm.get(r.get("USUBJID"))]
        dropped = sum(1 for r in adtte if r["PARAMCD"] == param) - len(rows)
        label = (rows[0] if rows else {}).get("PARAM", param)
        if not rows:
            efficacy_html.append(note(f"{label}: no ITT subject with an arm."))
            continue
        t = np.array([float(r["AVAL"]) for r in rows])
        e = np.array([1 - int(r["CNSR"]) for r in rows])
        g = [itt_arm[r["USUBJID"]] for r in rows]
        horizon = max(float(t.max()), 1.0)
        # ticks: every 28 days up to 24 weeks; beyond, every year (a long trial, e.g. the PBC replay)
        step = 28 if horizon <= 180 else 365.25
        ticks = [round(k * step, 2) for k in range(int(horizon // step) + 1)]
        curves = []
        order = sorted(set(g)) if reference_arm not in g else [x for x in sorted(set(g)) if x != reference_arm] + [reference_arm]
        for arm in order:
            m = np.array([x == arm for x in g])
            km = KaplanMeier().fit(t[m], e[m])
            s = km.summary
            curves.append({"arm": arm, "times": list(s["time"]), "survival": list(s["survival"]), "end": float(t[m].max()),
                           "censored": [float(x) for x, ev in zip(t[m], e[m]) if ev == 0],
                           "at_risk": [int(n) for n in km.n_at_risk(ticks)]})  # fmt: skip
        html = [heading(label), figure_block(km_svg(curves, horizon, label, ticks),
                                             "Kaplan-Meier estimates; ticks mark censoring; each curve ends at its arm's last follow-up.")]  # fmt: skip
        if dropped:
            html.append(note(f"{dropped} record(s) without an ITT subject and arm left out."))
        try:
            # survival at the protocol's days; a long follow-up (e.g. PBC) at 1, 2, 5 and 10 years
            days = at_days if horizon <= 400 else [365.25 * y for y in (1, 2, 5, 10)]
            result = compare_arms(t, e, g, at=[d for d in days if d <= horizon], reference=reference_arm)
        except SurvivalInputError as err:
            html.append(note(f"{label}: no comparison ({err.reason})."))
            efficacy_html.extend(html)
            continue
        numbers["time_to_event"][param] = result
        html.append(table_block(_tte_table(label, result)))
        html.extend(caveat(c) for c in result.get("caveats", []))
        efficacy_html.extend(html)
    if numbers["time_to_event"]:
        efficacy_html.append(table_block(_hr_summary(numbers["time_to_event"], adtte)))
    report.sections.append(Section("Time to event", efficacy_html or [note("No time-to-event data (ADTTE) yet.")]))
    if adae is not None and protocol_outcomes:
        infections = {e["USUBJID"] for e in adae if e.get("AEBODSYS") == INFECTIONS_SOC and int(e.get("AETOXGR") or 0) >= 3
                      and (_day(e.get("ASTDY")) is None or 0 <= _day(e.get("ASTDY")) <= INFECTION_DAYS)}  # fmt: skip
        block, numbers["severe_infections"] = _incidence(
            f"Subjects with a severe (grade >= 3) infection to day {INFECTION_DAYS}", "ITT", infections,
            itt_arm, arms, reference_arm)  # fmt: skip
        report.sections.append(Section("Severe infections", [block, note(
            f"CTCAE v5.0 terms of the SOC '{INFECTIONS_SOC}', grade 3 or higher, onset from randomization to day "
            f"{INFECTION_DAYS} (an event without an onset date counts); by the arm randomized.")]))  # fmt: skip

    traj: list[Block] = []
    for code, label, unit, log in TRAJECTORIES:
        series: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for r in adlb:
            if r.get("PARAMCD") != code or r.get("ADY") in ("", None) or not r.get("TRTP"):
                continue
            series.setdefault(r["TRTP"], {}).setdefault(r["SUBJID"], []).append((float(r["ADY"]), float(r["AVAL"])))
        svg = trajectory_svg(series, f"{label} over time", unit, log=log)
        if svg:
            traj += [heading(label), figure_block(svg, "Thin lines: each subject; thick: the arm's mean "
                                                  f"{'of log values (geometric mean) ' if log else ''}with its 95% CI in each week "
                                                  "(a long trial: each year) of follow-up, where at least 3 values.")]  # fmt: skip
    numbers["mixed_models"] = {}
    for code, label, log in (("MELD", "MELD score", False), ("BILI", "log total bilirubin", True)):
        blocks, result = _mixed_model_html(adlb, code, label, log)
        traj.extend(blocks)
        if result is not None:
            numbers["mixed_models"][code] = result
    numbers["change_from_baseline"] = {}
    if change_days:
        for code, label, log in (("MELD", "MELD score", False), ("BILI", "total bilirubin", True), ("INR", "INR", False)):
            blocks, result = _change_html(adlb, code, label, log, change_days, arms, reference_arm)
            traj.extend(blocks)
            if result is not None:
                numbers["change_from_baseline"][code] = result
    short = {"MELD": "MELD", "BILI": "bilirubin", "INR": "INR"}
    shown = [short[code] for code, _label, _unit, _log in TRAJECTORIES if any(r.get("PARAMCD") == code for r in adlb)]
    over_time = (", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0].capitalize()) if shown else "Lab values"
    report.sections.append(Section(f"{over_time} over time", traj or [note("No lab values after randomization yet.")]))

    dosed = any(r.get("NDOSEPL") not in ("", None) for r in adsl)  # the trial's own ADSL: infusions are counted
    deaths = Table("Deaths", "All enrolled", ["Subject", "Arm", "Date of death (study day)", "Cause", "Recorded by",
                                              *(["Infusions"] if dosed else [])])  # fmt: skip
    source = {"DS": "outcome form", "AE": "fatal AE (onset date)"}
    deaths.rows = [[r["SUBJID"], r.get("TRT01P") or "-", _dated(r.get("DTHDT"), r.get("DTHADY")), r.get("DTHCAUS") or "not recorded",
                    source.get(r.get("DTHDOM") or "", "-"), *([str(r.get("NDOSE", "-"))] if dosed else [])]
                   for r in adsl if r.get("DTHFL") == "Y"]  # fmt: skip
    deaths.notes.append("Study day 0 is the day of randomization. A death known only from a fatal adverse event is dated by "
                        "the event's onset until the outcome form records the date of death.")  # fmt: skip
    transplants = Table("Liver transplantations", "All enrolled", ["Subject", "Arm", "Date (study day)", "Then died"])
    transplants.rows = [[r["SUBJID"], r.get("TRT01P") or "-", _dated(r["TRANSDT"], _study_day(r.get("RANDDT"), r["TRANSDT"])),
                         _dated(r.get("DTHDT"), r.get("DTHADY")) if r.get("DTHFL") == "Y" else "no"]
                        for r in adsl if r.get("TRANSDT")]  # fmt: skip
    transplants.notes.append("A transplantation is an event of transplant-free survival and ends the study infusions; "
                             "overall survival is still followed.")  # fmt: skip
    saes = Table("Serious adverse events", "All enrolled", ["Subject", "Arm", "Term", "Grade", "Onset (day)", "Relationship", "Outcome"])
    arm_of = {r["USUBJID"]: r.get("TRT01A") or r.get("TRT01P") or "-" for r in adsl}
    saes.rows = [[e["SUBJID"], arm_of.get(e["USUBJID"], "-"), e["AEDECOD"], str(e["AETOXGR"]), f'{e["ASTDT"]} ({e["ASTDY"]})',
                  e["AEREL"].lower(), e["AEOUT"].lower()] for e in (adae or []) if e.get("AESER") == "Y"]  # fmt: skip
    for t_ in (deaths, transplants, saes):
        if not t_.rows:
            t_.rows = [["None", *["" for _ in t_.columns[1:]]]]
    if adae is None:  # not provided is not "none"
        saes.rows = [["Not available: ADAE was not provided.", *["" for _ in saes.columns[1:]]]]
    listings = [table_block(deaths), *([table_block(transplants)] if any(r.get("TRANSDT") for r in adsl) or dosed else []),
                table_block(saes)]  # fmt: skip
    report.sections.append(Section("Listings", listings))
    return report, numbers


def _study_day(day0: str | None, on: str | None) -> int | None:
    try:
        return (date.fromisoformat(on) - date.fromisoformat(day0)).days if day0 and on else None
    except ValueError:
        return None


def _dated(on: Any, study_day: Any) -> str:
    """'2026-05-01 (40)': a date with its study day, or what is known of it."""
    if not on:
        return "date not recorded"
    return f"{on} ({study_day})" if study_day not in ("", None) else str(on)


def _mixed_model_html(adlb: list[dict], code: str, label: str, log: bool) -> tuple[list[Block], dict | None]:
    """A random-intercept model ``y ~ visit * arm + (1 | subject)`` (REML, as nlme::lme) of the
    parameter's values by visit (study day binned to the week, or the year in a long trial)."""
    rows = [r for r in adlb if r.get("PARAMCD") == code and r.get("ADY") not in ("", None) and r.get("TRTP")]
    rows = [r for r in rows if not log or float(r["AVAL"]) > 0]
    if not rows:
        return [], None
    span = max(float(r["ADY"]) for r in rows) - min(float(r["ADY"]) for r in rows)
    width = 7.0 if span <= 200 else 365.25
    unit = "week" if width == 7.0 else "year"
    if all(r.get("AVISITN") not in ("", None) for r in rows):  # the protocol's visits (AVISITN: the visit's day; screening -1)
        visit_of = {id(r): float(r["AVISITN"]) for r in rows}
        unit = "visit day"
    else:  # irregular sampling (e.g. PBC): days binned to the week, or the year in a long trial
        visit_of = {id(r): float(round(float(r["ADY"]) / width)) for r in rows}
    # one value per subject and visit (the first sample), so each cell counts subjects
    seen: set[tuple[str, float]] = set()
    firsts = []
    for r in sorted(rows, key=lambda r: (r["USUBJID"], float(r["ADY"]))):
        key = (r["USUBJID"], visit_of[id(r)])
        if key not in seen:
            seen.add(key)
            firsts.append(r)
    rows = firsts
    # model the visits every arm has values at (a cell without data has no estimable mean)
    # model the visits where every arm has at least 3 subjects (fewer give no usable mean)
    counts: dict[tuple[float, str], int] = {}
    for r in rows:
        counts[(visit_of[id(r)], r["TRTP"])] = counts.get((visit_of[id(r)], r["TRTP"]), 0) + 1
    all_arms = {r["TRTP"] for r in rows}
    usable = {v for v in {visit_of[id(r)] for r in rows} if all(counts.get((v, a), 0) >= 3 for a in all_arms)}
    rows = [r for r in rows if visit_of[id(r)] in usable]
    if not rows:
        return [note(f"Mixed model of {label}: no visit with at least 3 subjects in every arm yet.")], None
    y = [math.log(float(r["AVAL"])) if log else float(r["AVAL"]) for r in rows]
    visit = [visit_of[id(r)] for r in rows]
    arm = [r["TRTP"] for r in rows]
    subject = [r["USUBJID"] for r in rows]
    title = f"Mixed model of {label}: {label} ~ {unit} x arm + (1 | subject), REML"
    try:
        fit = visit_by_arm_means(y, visit, arm, subject)
    except (MixedModelInputError, ValueError, np.linalg.LinAlgError) as err:
        return [note(f"{title}: not estimable here ({str(err)[:200]}).")], None
    table = Table(title, f"ITT; the {unit}s with at least 3 subjects in every arm; one value per subject and {unit}",
                  ["Arm", unit.capitalize(), "Model mean (95% CI)", "Subjects"])  # fmt: skip
    for r in fit.rows:
        mean, lo, hi = (math.exp(r.mean), math.exp(r.lower), math.exp(r.upper)) if log else (r.mean, r.lower, r.upper)
        table.rows.append([r.arm, f"{r.visit:g}", f"{mean:.3g} ({lo:.3g}-{hi:.3g})", str(r.n_obs)])
    if log:
        table.notes.append("Means of the log values back-transformed: geometric means.")
    table.notes.append(f"Random-intercept SD {fit.fit.sd_intercept:.3g}, residual SD {fit.fit.sd_residual:.3g}. The fit equals "
                       "nlme::lme (tests/core/test_mixed_vs_r.py); each mean's CI uses t with the between-subject df "
                       f"({fit.rows[0].df if fit.rows else 'NA'}) for every cell, so both arms' intervals are comparable "
                       "(nlme would give the reference arm the larger within-subject df). Later visits describe the subjects "
                       "still alive and without a transplant.")  # fmt: skip
    if fit.caveat:
        table.notes.append(fit.caveat)
    return [table_block(table)], _jsonable(fit.as_dict())


def _change_html(adlb: list[dict], code: str, label: str, log: bool, days: list[float], arms: list[str],
                 reference_arm: str | None) -> tuple[list[Block], dict | None]:  # fmt: skip
    """The protocol's efficacy comparison: change from baseline at each of ``days`` (ADLB AVISITN),
    other arm minus the reference arm at equal baseline. Primary: ANCOVA at each visit on its own
    (core.analysis.ancova, equal to R's lm: tests/core/test_ancova_vs_r.py), which lets the spread
    grow over time as it does in liver failure; sensitivity: one random-intercept model over the
    visits (core.analysis.mixed.arm_differences_by_visit, equal to nlme::lme). Bilirubin on the log
    scale: differences are ratios of geometric means."""
    title = f"Change from baseline in {label}" + (" (log scale)" if log else "") + ", adjusted for baseline"
    if len(arms) != 2:
        return [note(f"{title}: not computed: the comparison is between two arms, and the report has {len(arms)} "
                     f"({', '.join(arms) or 'none'}).")], None  # fmt: skip
    reference = reference_arm if reference_arm in arms else arms[0]
    other = next(a for a in arms if a != reference)
    rows = [r for r in adlb if r.get("PARAMCD") == code and r.get("ANL01FL", "Y") == "Y" and r.get("TRTP") in arms
            and _day(r.get("AVISITN")) in days and r.get("BASE") not in ("", None) and r.get("CHG") not in ("", None)]  # fmt: skip
    if log:
        rows = [r for r in rows if float(r["AVAL"]) > 0 and float(r["BASE"]) > 0]
    base = [math.log(float(r["BASE"])) if log else float(r["BASE"]) for r in rows]
    change = [math.log(float(r["AVAL"])) - b if log else float(r["AVAL"]) - b for r, b in zip(rows, base)]
    visit = [_day(r["AVISITN"]) for r in rows]
    arm = [r["TRTP"] for r in rows]
    try:
        if not rows or len(set(arm)) < 2:
            raise MixedModelInputError("arm", "no values in one of the arms yet")
        primary = ancova_by_visit(change, visit, arm, base, reference=reference)
    except (MixedModelInputError, ValueError, np.linalg.LinAlgError) as err:
        return [note(f"{title}: not estimable yet ({str(err)[:200]}).")], None
    if not primary.visits:
        return [note(f"{title}: not estimable yet (a visit needs at least 2 subjects with a value in each arm and 5 in all).")], None
    usable = {v.visit for v in primary.visits}
    sensitivity = None
    try:
        keep = [i for i, x in enumerate(visit) if x in usable]
        sensitivity = arm_differences_by_visit([change[i] for i in keep], [visit[i] for i in keep], [arm[i] for i in keep],
                                               [rows[i]["USUBJID"] for i in keep], [base[i] for i in keep], reference=reference)  # fmt: skip
    except (MixedModelInputError, ValueError, np.linalg.LinAlgError):
        pass
    mixed = {d.visit: d for d in sensitivity.differences} if sensitivity else {}

    def show(x: float) -> str:
        text = f"{math.exp(x):.2f}" if log else f"{x:.2f}"
        return "0.00" if text == "-0.00" else text

    table = Table(title, "ITT; one value per subject and visit (ADLB ANL01FL); the subjects alive and in follow-up at each visit",
                  ["Day", *[f"{a}: n, " + ("adjusted geometric mean ratio to baseline" if log else "adjusted mean change")
                            + " (95% CI)" for a in (other, reference)],
                   f"{other} vs {reference}: " + ("ratio" if log else "difference") + " (95% CI), ANCOVA", "p", "df",
                   "Mixed model (sensitivity)"])  # fmt: skip
    for v in primary.visits:
        cells = []
        for mean, se, n in ((v.mean_other, v.se_mean_other, v.n_other), (v.mean_reference, v.se_mean_reference, v.n_reference)):
            q = float(stats.t.ppf(1 - (1 - primary.level) / 2, v.df))
            cells.append(f"{n}, {show(mean)} ({show(mean - q * se)} to {show(mean + q * se)})")
        m = mixed.get(v.visit)
        table.rows.append([f"{v.visit:g}", *cells, f"{show(v.difference)} ({show(v.lower)} to {show(v.upper)})", _p(v.p),
                           str(v.df), f"{show(m.difference)} ({show(m.lower)} to {show(m.upper)})" if m else "-"])  # fmt: skip
    better = "below 1" if log else "below 0"
    table.notes.append(f"ANCOVA at each visit: change ~ arm + baseline over the subjects with a value at that visit (n - 3 df), "
                       f"each visit with its own residual variance (the spread of the change grows with time); adjusted means at "
                       f"that visit's mean baseline. A {'ratio' if log else 'difference'} {better} means a greater fall in "
                       f"{other}, which for {label} is the better direction.")  # fmt: skip
    if log:
        table.notes.append("Bilirubin: changes of log values, shown back-transformed: 0.80 is a fall to 80% of baseline; the arm "
                           "comparison is a ratio of geometric means.")  # fmt: skip
    table.notes.append("Sensitivity: one random-intercept model over the visits (change ~ visit * arm + visit:baseline + (1 | "
                       "subject), REML; t with the between-subject df), which assumes the same residual variance at every visit. "
                       "Later visits describe the survivors; no imputation.")  # fmt: skip
    if primary.not_estimable:
        table.notes.append("Not estimable yet at day(s) " + ", ".join(f"{d:g}" for d in primary.not_estimable)
                           + " (fewer than 2 subjects with a value in an arm, fewer than 5 in all, or every baseline equal).")  # fmt: skip
    missing = [d for d in days if d not in usable and d not in primary.not_estimable]
    if missing:
        table.notes.append("No values yet at day(s) " + ", ".join(f"{d:g}" for d in missing) + ".")
    if primary.caveat:
        table.notes.append(primary.caveat)
    result = _jsonable(primary.as_dict())
    result["sensitivity_mixed_model"] = _jsonable(sensitivity.as_dict()) if sensitivity else None
    return [table_block(table)], result


def _usable_cox(result: dict) -> dict | None:
    """The Cox result, unless it did not converge or an arm has no events (monotone likelihood)."""
    cox = result.get("cox")
    if not cox or not cox.get("converged", True) or any(a["events"] == 0 for a in result["arms"]):
        return None
    return cox


def _hr_summary(results: dict[str, dict], adtte: list[dict]) -> Table:
    """One row per time-to-event parameter: events per arm and the Cox hazard ratio."""
    labels = {r["PARAMCD"]: r.get("PARAM", r["PARAMCD"]) for r in adtte}
    table = Table("Summary of hazard ratios", "ITT", ["Outcome", "Events / n by arm", "Comparison", "HR (95% CI)", "Wald p", "LR p"])
    for param, result in results.items():
        events = ", ".join(f'{a["arm"]}: {a["events"]}/{a["n"]}' for a in result["arms"])
        cox = _usable_cox(result)
        if not cox:
            table.rows.append([labels.get(param, param), events, "-", "not estimable", "NA", "NA"])
            continue
        for c in cox["comparisons"]:
            table.rows.append([labels.get(param, param), events, c["label"],
                               f'{_hr(c["hazard_ratio"])} ({_hr(c["lower"])}-{_hr(c["upper"])})', _p(c["p"]),
                               _p((cox.get("likelihood_ratio") or {}).get("p"))])  # fmt: skip
    table.notes.append("Cox proportional hazards, Efron ties; a hazard ratio below 1 favours the first-named arm of the "
                       "comparison. With few events these are descriptive, not confirmatory.")  # fmt: skip
    return table


def _tte_table(label: str, result: dict) -> Table:
    days = [s["day"] for s in result["arms"][0]["survival_at"]] if result["arms"] else []
    heads = [f"Year {d / 365.25:g} (95% CI)" if d >= 365 else f"Day {d:g} (95% CI)" for d in days]
    table = Table(label, "ITT", ["Arm", "n", "Events", "Median (95% CI), days", *heads])
    for a in result["arms"]:
        med = a["median"]
        cells = [f'{_pct1(s["survival"])} ({_pct1(s["lower"])}-{_pct1(s["upper"])})' for s in a["survival_at"]]
        table.rows.append([a["arm"], str(a["n"]), str(a["events"]), f'{_days(med["estimate"])} ({_days(med["lower"])}-{_days(med["upper"])})', *cells])
    lr = result.get("logrank") or {}
    if not result.get("events"):
        table.notes.append("Log-rank and Cox: not estimable (no events).")
        return table
    table.notes.append(f'Log-rank chi-square {_fmt(lr.get("chisq"))}, df {lr.get("df")}, p {_p(lr.get("p"))}.')
    cox = _usable_cox(result)
    if cox is None and result.get("cox"):
        table.notes.append("Cox hazard ratio: not estimable (an arm without events: the likelihood is monotone).")
    if cox:
        for c in cox.get("comparisons", []):
            table.notes.append(f'Cox ({cox.get("ties")} ties) hazard ratio, {c.get("label")}: {_hr(c.get("hazard_ratio"))} '
                               f'(95% CI {_hr(c.get("lower"))}-{_hr(c.get("upper"))}); Wald p {_p(c.get("p"))}.')  # fmt: skip
        table.notes.append("Likelihood-ratio p " + _p((cox.get("likelihood_ratio") or {}).get("p")) + ", score p "
                           + _p((cox.get("score") or {}).get("p")) + ".")  # fmt: skip
    return table


def _population(adsl: list[dict], flag: str, arm_key: str) -> dict[str, str]:
    """USUBJID -> arm of the subjects in a population (``flag`` = Y), read from ``arm_key``."""
    return {r["USUBJID"]: r[arm_key] for r in adsl if r.get(flag) == "Y" and r.get(arm_key)}


def _day(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _incidence(title: str, population: str, with_event: set[str], arm_of: dict[str, str], arms: list[str],
               reference_arm: str | None) -> tuple[Block, dict | None]:  # fmt: skip
    """Subjects with an event by arm: n (%) with a Clopper-Pearson CI; with two arms, the risk
    difference (the other arm minus ``reference_arm``) with Newcombe's CI and Fisher's exact p."""
    n = {a: sum(1 for x in arm_of.values() if x == a) for a in arms}
    k = {a: len({u for u in with_event if arm_of.get(u) == a}) for a in arms}
    present = [a for a in arms if n[a] > 0]
    if not present:
        return note(f"{title}: no subject in the {population.lower()} population yet."), None
    order = present if reference_arm not in present else [a for a in present if a != reference_arm] + [reference_arm]
    inc = incidence_table({a: k[a] for a in order}, {a: n[a] for a in order})
    table = Table(title, population, ["Arm", "n", "Subjects with the event", "% (95% CI, Clopper-Pearson)"])
    for a in inc.arms:
        table.rows.append([a.arm, str(a.subjects), str(a.subjects_with_event),
                           f"{100 * a.proportion:.0f}% ({100 * a.lower:.0f}-{100 * a.upper:.0f})"])  # fmt: skip
    if inc.difference is not None and inc.compared:
        d = inc.difference
        table.notes.append(f"Risk difference {inc.compared[0]} minus {inc.compared[1]}: {100 * d.difference:.1f} percentage points "
                           f"(95% CI {100 * d.lower:.1f} to {100 * d.upper:.1f}, Newcombe); Fisher exact p {_p(inc.fisher_p)}.")  # fmt: skip
    elif len(present) < len(arms):
        table.notes.append("No comparison: an arm has no subject in this population yet.")
    if inc.caveat:
        table.notes.append(inc.caveat)
    return table_block(table), _jsonable(inc.as_dict())


def _follow_up(adsl: list[dict], adtte: list[dict], adlb: list[dict], arms: list[str],
               cutoff: str | None) -> tuple[list[Block], dict]:  # fmt: skip
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith, Control Clin Trials
    1996;17:343-346: censoring is the event, deaths are censored), each arm's status at the
    cut-off, and how many of the lab values due at each scheduled visit were recorded."""
    blocks: list[Block] = []
    numbers: dict[str, Any] = {}
    itt = _population(adsl, "ITTFL", "TRT01P")
    os_params = sorted({r["PARAMCD"] for r in adtte if str(r["PARAMCD"]).startswith("OS")},
                       key=lambda p: float("".join(ch for ch in p if ch.isdigit()) or 0))  # fmt: skip
    param = os_params[-1] if os_params else (sorted({r["PARAMCD"] for r in adtte})[:1] or [None])[0]
    table = Table("Follow-up", "ITT", ["Arm", "n", "Median follow-up, days (95% CI)", "Completed", "Ended early", "Ongoing"])
    for a in arms:
        rows = [r for r in adtte if r["PARAMCD"] == param and itt.get(r.get("USUBJID")) == a]
        median = "-"
        if rows:
            km = KaplanMeier().fit([float(r["AVAL"]) for r in rows], [1 if int(r["CNSR"]) != 0 else 0 for r in rows])
            m = km.median
            median = f"{_days(m.median)} ({_days(m.lower)}-{_days(m.upper)})"
            numbers.setdefault("median_follow_up_days", {})[a] = _jsonable({"estimate": m.median, "lower": m.lower, "upper": m.upper})
        status = [r.get("EOSSTT") for r in adsl if r.get("ITTFL") == "Y" and r.get("TRT01P") == a]
        table.rows.append([a, str(len(status)), median, *[str(status.count(x)) if any(status) else "-" for x in ("COMPLETED", "DISCONTINUED", "ONGOING")]])
    if param is not None:
        label = next((r.get("PARAM") for r in adtte if r["PARAMCD"] == param), param)
        table.notes.append(f"Reverse Kaplan-Meier on '{label}' (Schemper & Smith 1996): a subject's follow-up ends at the "
                           "horizon, at the last contact, or is cut short by death (censored). NR: more than half still in "
                           "follow-up.")  # fmt: skip
    table.notes.append("Completed: known alive within the last scheduled visit's window or later; ended early: death (at any "
                       "time), withdrawal of consent to further data, or lost to follow-up (ADSL EOSSTT/DCSREAS).")  # fmt: skip
    blocks.append(table_block(table))
    numbers["lab_completeness"] = completeness = _lab_completeness(adsl, adlb, arms, cutoff)
    if completeness:
        visits = sorted({c["visit_day"] for c in completeness})
        t = Table("Lab values recorded at each scheduled visit", "ITT; due: randomized, the visit's day reached by the cut-off, "
                  "alive, without a transplant and still in follow-up", ["Visit", *[f"{a}: MELD / bilirubin / INR of due" for a in arms]])  # fmt: skip
        for v in visits:
            cells = []
            for a in arms:
                c = next((c for c in completeness if c["visit_day"] == v and c["arm"] == a), None)
                cells.append(f'{c["MELD"]} / {c["BILI"]} / {c["INR"]} of {c["due"]}' if c else "-")
            label = next((c["visit"] for c in completeness if c["visit_day"] == v), "")
            t.rows.append([label if f"{v:g}" in label else f"{label} (day {v:g})", *cells])
        t.notes.append("MELD needs bilirubin, creatinine and INR of one panel. A value counts at its visit (ADLB ANL01FL).")
        blocks.append(table_block(t))
    return blocks, numbers


def _lab_completeness(adsl: list[dict], adlb: list[dict], arms: list[str], cutoff: str | None) -> list[dict]:
    """Per scheduled visit (ADLB AVISITN >= 0; screening and unscheduled visits are left out) and arm:
    the subjects due a value and those with MELD, bilirubin and INR recorded."""
    visits: dict[float, str] = {}
    have: dict[tuple[float, str], set[str]] = {}
    for r in adlb:
        n = _day(r.get("AVISITN"))
        if n is None or n < 0 or n >= 1000 or r.get("ANL01FL", "Y") != "Y":
            continue
        visits.setdefault(n, r.get("AVISIT", ""))
        have.setdefault((n, r["PARAMCD"]), set()).add(r["USUBJID"])
    if not visits or not any(r.get("RANDDT") for r in adsl):
        return []
    cut = date.fromisoformat(cutoff) if cutoff else None
    out = []
    for v in sorted(visits):
        for a in arms:
            due = set()
            for r in adsl:
                if r.get("ITTFL") != "Y" or r.get("TRT01P") != a or not r.get("RANDDT"):
                    continue
                day0 = date.fromisoformat(r["RANDDT"])
                reached = cut is None or day0 + timedelta(days=v) <= cut
                dead = _day(r.get("DTHADY")) is not None and _day(r.get("DTHADY")) < v
                # after a liver transplantation the trial's labs stop (follow-up is for survival)
                transplanted = bool(r.get("TRANSDT")) and date.fromisoformat(r["TRANSDT"]) < day0 + timedelta(days=v)
                left = r.get("EOSSTT") == "DISCONTINUED" and r.get("EOSDT") and date.fromisoformat(r["EOSDT"]) < day0 + timedelta(days=v)
                if reached and not dead and not left and not transplanted:
                    due.add(r["USUBJID"])
            out.append({"visit": visits[v], "visit_day": v, "arm": a, "due": len(due),
                        **{p: len(have.get((v, p), set()) & due) for p in ("MELD", "BILI", "INR")}})  # fmt: skip
    return out


def _primary_outcome(adsl: list[dict], adae: list[dict] | None, adex: list[dict] | None, arms: list[str],
                     reference_arm: str | None, cutoff: str | None = None) -> tuple[list[Block], dict]:  # fmt: skip
    """The protocol's primary outcome: infusion-related toxicity within 24 h of each dose, and adverse
    and serious adverse events to day 28, in the safety population (as treated)."""
    arm_of = _population(adsl, "SAFFL", "TRT01A")
    blocks: list[Block] = [note("Safety population: randomized subjects given at least one infusion, by the arm received. "
                                "Events are treatment-emergent (onset on or after the first infusion).")]  # fmt: skip
    numbers: dict[str, Any] = {}
    if adae is None:
        return [note("ADAE was not provided: the primary outcome cannot be reported (this is not 'no events').")], numbers
    te = [e for e in adae if e.get("TRTEMFL") == "Y" and e.get("USUBJID") in arm_of]
    reaction_forms = {r["USUBJID"] for r in adex or [] if r.get("IRRFL") == "Y"}
    irr = {e["USUBJID"] for e in te if e.get("IRR24FL") == "Y"} | (reaction_forms & set(arm_of))
    # an event without an onset date cannot be placed before day 28: counted (conservative)
    early = [e for e in te if (_day(e.get("ASTDY")) is None or _day(e.get("ASTDY")) <= SAFETY_DAYS)]
    for key, title, subjects in (
        ("infusion_toxicity_24h", "Primary 1. Subjects with an infusion-related toxicity within 24 h of a dose", irr),
        ("ae_to_day_28", f"Primary 2. Subjects with an adverse event to day {SAFETY_DAYS}", {e["USUBJID"] for e in early}),
        ("sae_to_day_28", f"Primary 3. Subjects with a serious adverse event to day {SAFETY_DAYS}",
         {e["USUBJID"] for e in early if e.get("AESER") == "Y"}),
    ):  # fmt: skip
        block, numbers[key] = _incidence(title, "Safety", subjects, arm_of, arms, reference_arm)
        blocks.append(block)
    blocks.append(note("Infusion-related toxicity: an adverse event with an infusion-reaction term (infusion related reaction, "
                       "allergic reaction, anaphylaxis, cytokine release syndrome), or any event judged possibly, probably or "
                       "definitely related to the study product, with onset on the day of an infusion or the next day (the AE "
                       "form records a date, not a time: this counts every event within 24 h and some up to 48 h), or a reaction "
                       "recorded on the dosing form (ADEX IRRFL)."))  # fmt: skip
    if adex is not None:
        per_infusion = Table("Infusions followed by an infusion-related toxicity", "Safety; one row per arm, every infusion given",
                             ["Arm", "Infusions given", "With a reaction (dosing form or AE within 24 h)", "%"])  # fmt: skip
        onsets: dict[str, list[float]] = {}
        for e in te:
            if e.get("IRR24FL") == "Y" and (onset := _day(e.get("ASTDY"))) is not None:
                onsets.setdefault(e["USUBJID"], []).append(onset)

        def followed(r: dict) -> bool:  # the dosing form says so, or an IRR24FL event began within 24 h of it
            day = _day(r.get("ASTDY"))
            return r.get("IRRFL") == "Y" or (day is not None and any(follows_dose(o - day) for o in onsets.get(r["USUBJID"], [])))

        for a in arms:
            given = [r for r in adex if arm_of.get(r.get("USUBJID")) == a]
            hit = [r for r in given if followed(r)]
            per_infusion.rows.append([a, str(len(given)), str(len(hit)), f"{100 * len(hit) / len(given):.0f}%" if given else "-"])
        numbers["infusions"] = {row[0]: {"given": int(row[1]), "with_reaction": int(row[2])} for row in per_infusion.rows}
        blocks.append(table_block(per_infusion))
    if cutoff:
        open_window = sorted(r["SUBJID"] for r in adsl if r.get("USUBJID") in arm_of and r.get("RANDDT")
                             and date.fromisoformat(r["RANDDT"]) + timedelta(days=SAFETY_DAYS) > date.fromisoformat(cutoff))  # fmt: skip
        numbers["day_28_window_open"] = open_window
        if open_window:
            blocks.append(note(f"Day {SAFETY_DAYS} counts from randomization (day 0). {len(open_window)} subject(s) randomized less "
                               f"than {SAFETY_DAYS} days before the cut-off ({', '.join(open_window)}): their window is still "
                               "open, and they are counted with the events known so far."))  # fmt: skip
    blocks.append(note(MULTIPLICITY))
    return blocks, numbers


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
