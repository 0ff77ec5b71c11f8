"""The analysis report from ADaM rows (and the screening log): sections in the
order a DSMB report or a journal's CONSORT-style report has them, and every
number also as JSON. Pure: rows in, :class:`~hepatrial.core.report.html.Report` and a dict out."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hepatrial.core.analysis.incidence import incidence_table
from hepatrial.core.analysis.mixed import MixedModelInputError, visit_by_arm_means
from hepatrial.core.analysis.survival import KaplanMeier, SurvivalInputError, compare_arms
from hepatrial.core.report.figures import km_svg, trajectory_svg
from hepatrial.core.report.html import Block, Report, Section, caveat, consort_svg, figure_block, heading, note, table_block
from hepatrial.core.report.tables import Table, ae_table, consort, table1

INFUSION_TERMS = {"Infusion related reaction", "Allergic reaction", "Anaphylaxis", "Cytokine release syndrome"}
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
                 reason_labels: dict[str, str] | None = None, reference_arm: str | None = None) -> tuple[Report, dict]:  # fmt: skip
    """``reference_arm``: the control arm (hazard ratios and risk differences read as the other arm vs it);
    ``adae`` None: not provided (the safety section says so instead of reporting no events)."""
    numbers: dict[str, Any] = {"protocol": protocol_id, "arms": arms, "generated": generated}
    randomized = [r for r in adsl if r.get("RANDFL") == "Y"]
    n_by_arm = {a: sum(1 for r in randomized if r.get("TRT01P") == a) for a in arms}
    caveats = []
    if any(n < 20 for n in n_by_arm.values()):
        caveats.append("Small arms (" + ", ".join(f"{a}: {n}" for a, n in n_by_arm.items()) + "): every estimate is imprecise; "
                       "read the confidence intervals, not the point estimates, and no p-value here is confirmatory.")  # fmt: skip
    report = Report(title, f"{protocol_id} · analysis report", generated, caveats)

    flow = consort(screenings, adsl, arms, reason_labels)
    numbers["consort"] = flow.__dict__
    report.sections.append(Section("Participant flow (CONSORT 2010)", [figure_block(consort_svg(flow), "CONSORT 2010 flow diagram.")]))

    report.sections.append(Section("Baseline characteristics", [table_block(table1(adsl, arms))]))

    safety_html: list[Block] = []
    if adae is None:
        safety_html.append(note("ADAE was not provided: no adverse event can be reported (this is not 'no adverse events')."))
    else:
        safety_html.append(table_block(ae_table(adae, adsl, arms)))
        safety_html.append(table_block(ae_table(adae, adsl, arms, serious_only=True, title="Serious adverse events by CTCAE v5.0 term")))
        safety_html.append(table_block(ae_table(adae, adsl, arms, terms=INFUSION_TERMS, title="Infusion-related and allergic reactions")))
        saf = [r for r in adsl if r.get("SAFFL") == "Y"]
        arm_of = {r["USUBJID"]: r.get("TRT01A") for r in saf}
        n_saf = {a: sum(1 for r in saf if r.get("TRT01A") == a) for a in arms}
        severe = {a: len({e["USUBJID"] for e in adae if e.get("TRTEMFL") == "Y" and int(e.get("AETOXGR") or 0) >= 3
                          and arm_of.get(e["USUBJID"]) == a}) for a in arms}  # fmt: skip
        if len(arms) == 2 and all(n_saf[a] > 0 for a in arms):
            order = arms if reference_arm not in arms else [x for x in arms if x != reference_arm] + [reference_arm]
            inc = incidence_table({a: severe[a] for a in order}, {a: n_saf[a] for a in order})
            numbers["grade3_incidence"] = _jsonable(inc.as_dict())
            safety_html.append(_incidence_html(inc, arms))
        else:
            safety_html.append(note("Incidence of grade >= 3 events by arm: not estimable until both arms have treated subjects."))
    report.sections.append(Section("Safety", safety_html))

    # time to event: the ITT population, arms as randomized (ADSL's TRT01P), never a row without an arm
    itt_arm = {r["USUBJID"]: r.get("TRT01P") for r in adsl if r.get("ITTFL") == "Y" and r.get("TRT01P")}
    efficacy_html: list[Block] = []
    numbers["time_to_event"] = {}
    params = sorted({r["PARAMCD"] for r in adtte}, key=lambda p: (not p.startswith("TFS"), p))  # transplant-free first
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
    report.sections.append(Section("MELD, bilirubin and INR over time", traj or [note("No lab values after randomization yet.")]))

    deaths = Table("Deaths", "All enrolled", ["Subject", "Arm", "Date of death", "Randomized"])
    deaths.rows = [[r["SUBJID"], r.get("TRT01P") or "-", r.get("DTHDT", ""), r.get("RANDDT", "")] for r in adsl if r.get("DTHFL") == "Y"]
    saes = Table("Serious adverse events", "All enrolled", ["Subject", "Arm", "Term", "Grade", "Onset (day)", "Relationship", "Outcome"])
    arm_of = {r["USUBJID"]: r.get("TRT01A") or r.get("TRT01P") or "-" for r in adsl}
    saes.rows = [[e["SUBJID"], arm_of.get(e["USUBJID"], "-"), e["AEDECOD"], str(e["AETOXGR"]), f'{e["ASTDT"]} ({e["ASTDY"]})',
                  e["AEREL"].lower(), e["AEOUT"].lower()] for e in (adae or []) if e.get("AESER") == "Y"]  # fmt: skip
    if adae is None:
        saes.notes.append("ADAE was not provided.")
    for t_ in (deaths, saes):
        if not t_.rows:
            t_.rows = [["None", *["" for _ in t_.columns[1:]]]]
    report.sections.append(Section("Listings", [table_block(deaths), table_block(saes)]))
    return report, numbers


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


def _incidence_html(inc: Any, arms: list[str]) -> Block:
    table = Table("Subjects with a grade >= 3 treatment-emergent adverse event", "Safety",
                  ["Arm", "n", "Subjects", "% (95% CI, Clopper-Pearson)"])  # fmt: skip
    for a in inc.arms:
        table.rows.append([a.arm, str(a.subjects), str(a.subjects_with_event),
                           f"{100 * a.proportion:.0f}% ({100 * a.lower:.0f}-{100 * a.upper:.0f})"])  # fmt: skip
    if inc.difference is not None and inc.compared:
        d = inc.difference
        table.notes.append(f"Risk difference {inc.compared[0]} minus {inc.compared[1]}: {d.difference:.3f} "
                           f"(95% CI {d.lower:.3f} to {d.upper:.3f}, Newcombe); Fisher exact p {_p(inc.fisher_p)}.")  # fmt: skip
    if inc.caveat:
        table.notes.append(inc.caveat)
    return table_block(table)


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
